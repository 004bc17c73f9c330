"""What a student kind is built from (``BuildContext``), and the construction shared by the kinds that read an
embedding table (bilstm, cnn, static): the table initialised from the teacher (SVD of its input embeddings,
model2vec-style from its encoding of each vocabulary entry), from word vectors, or random.

Each student class builds itself: ``cls.build(settings, context) -> model`` (``taskdistil.student_build`` calls it
and adds the Patient KD term the settings ask for), so a new student kind needs no branch in shared code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from taskdistil.errors import ConfigError
from taskdistil.progress import log
from taskdistil.students.embeddings import model2vec_table, svd_reduce, teacher_input_embeddings
from taskdistil.students.vectors import read_vectors


@dataclass
class BuildContext:
    """A student's surroundings at construction: the fine-tuned ``teacher`` (its ``model``, ``labels``,
    ``sep_id``; the teacher package sits above the students, so it is not imported here) and its directory, the
    student's ``tokenizer``, the task kind's student ``head`` ("sequence" or "token"), the ``seed``, the run's
    ``cache_dir`` and ``data_file`` (a config path -> its file), and ``vocabulary_encoder``: () -> (the encoder
    that reads each vocabulary entry for a model2vec-style table, a name for its weights), called only then."""

    teacher: Any
    teacher_dir: Path
    tokenizer: Any
    head: str
    seed: int
    cache_dir: Path
    data_file: Callable[[str], Path]
    vocabulary_encoder: Callable[[], tuple[Any, str]]

    def teacher_config(self) -> dict:
        return self.teacher.model.config.to_dict()


def construct(cls: type[nn.Module], **settings: Any) -> nn.Module:
    """A ``cls`` student from keyword settings: those that are fields of its ``config_class`` (others ignored)."""
    names = {f.name for f in fields(cls.config_class)}
    return cls(cls.config_class(**{k: v for k, v in settings.items() if k in names}))


def table_student(cls: type[nn.Module], settings: Any, context: BuildContext) -> nn.Module:
    """A ``cls`` student (bilstm, cnn, static: ``cls.config_class`` holds its model settings) over an embedding
    table of ``settings.embeddings``: svd, model2vec, vectors or random."""
    tokenizer, teacher = context.tokenizer, context.teacher
    question = {}
    if getattr(settings, "question", None) == "pooled":  # the head finds the question up to the separator
        sep_id = tokenizer.pair_separator()
        if sep_id is None:
            raise ConfigError(f"students.{settings.name}.question: 'pooled' needs a tokenizer whose pair template "
                              "marks the question's end with token types (BERT's [SEP]); this one has none")
        question = {"question": "pooled", "sep_id": sep_id}
    values = dict(vocab_size=tokenizer.vocab_size, num_labels=len(teacher.labels), pad_id=tokenizer.pad_id,
                  head=context.head, **question,
                  pair=tokenizer.pairs == "separate" and context.head == "sequence",  # siamese: a pooled head's
                  # (question tagging: a token head reading the concatenated [CLS] q [SEP] p [SEP])
                  **settings.model_dump(exclude={"kind", "question"}))
    model = construct(cls, **values)
    if settings.embeddings == "svd":
        model.embedding.initialize(svd_reduce(teacher_input_embeddings(teacher.model), settings.embedding_dim))
    elif settings.embeddings == "model2vec":
        encoder, weights = context.vocabulary_encoder()
        cache = context.cache_dir / f"model2vec-states-{weights}.safetensors"  # the cache names the encoder
        model.embedding.initialize(model2vec_table(encoder, tokenizer, settings.embedding_dim, cache))
    elif settings.embeddings == "vectors":
        table = read_vectors(context.data_file(settings.vectors), tokenizer.vocabulary(), settings.embedding_dim,
                             tokenizer.pad_id, context.seed)
        model.embedding.initialize(torch.from_numpy(table.matrix))
        log(f"[distill:{settings.name}] word vectors for {table.found:,} of {tokenizer.vocab_size:,} vocabulary "
            f"entries ({table.lowercase_matches:,} by their lowercased form)")
    return model
