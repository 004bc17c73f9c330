"""The teacher: any Hugging Face encoder checkpoint with its task kind's head (``TaskKind.hf_head``: sequence
classification, or token classification for word-level kinds).

A saved teacher directory is self-contained: ``save_pretrained`` files (config,
``model.safetensors``, tokenizer) plus ``taskdistil.json`` (task, labels, max length, origin).
A sentence-pair teacher reads ``[CLS] a [SEP] b [SEP]`` with token types (``taskdistil.data.pairs``):
``Teacher.forward_model`` derives them from the ids in its forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from taskdistil import __version__
from taskdistil.data.length import TooLong, too_long_at
from taskdistil.data.pairs import SINGLE_SENTENCE, Example, is_pair, segment_ids, segments_of
from taskdistil.errors import ArtifactError, DataError
from taskdistil.hf_checkpoint import quiet_transformers as _quiet_transformers
from taskdistil.hf_checkpoint import resolve_checkpoint
from taskdistil.inference import batched_logits
from taskdistil.io import read_json, write_json
from taskdistil.model_files import TEACHER_META
from taskdistil.tasks import task_kind


def _head_class(head: str):
    """The transformers Auto class named ``head`` (a task kind's ``hf_head``)."""
    import transformers

    return getattr(transformers, head)


def load_pretrained(name: str, labels: Sequence[str], trust_remote_code: bool = False,
                    head: str = "AutoModelForSequenceClassification"):
    """(model, tokenizer) for fine-tuning: a fresh ``head`` (a transformers Auto class name) sized to ``labels``."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    path = resolve_checkpoint(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = _head_class(head).from_pretrained(
            path, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)}, trust_remote_code=trust_remote_code,
        )
    except OSError as err:
        raise ArtifactError(f"teacher.model: cannot load {name!r} ({path}): {err}") from None
    return model.float(), tokenizer  # float32 master weights, also from a checkpoint stored in fp16


def load_finetuned(name: str, labels: Sequence[str], trust_remote_code: bool = False,
                   head: str = "AutoModelForSequenceClassification"):
    """An already fine-tuned checkpoint, used as is. Returns (model, tokenizer, label order).

    If the checkpoint's ``id2label`` names are exactly the task's labels, its order is kept;
    otherwise ids are taken to follow the task's label order (sorted training labels).
    """
    from transformers import AutoTokenizer

    _quiet_transformers()
    path = resolve_checkpoint(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = _head_class(head).from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as err:
        raise ArtifactError(f"teacher.model: cannot load {name!r} ({path}): {err}") from None
    if model.config.num_labels != len(labels):
        raise ArtifactError(f"teacher.model: {name!r} has {model.config.num_labels} labels, "
                            f"the task has {len(labels)}: {list(labels)}")
    names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
    order = names if set(names) == set(labels) else list(labels)
    return model, tokenizer, order


def save_teacher(model, tokenizer, out_dir: Path, labels: Sequence[str], max_length: int, origin: str,
                 task: str = SINGLE_SENTENCE, label_meta: dict | None = None) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    write_json(out_dir / TEACHER_META, {
        "kind": "teacher", "task": task, "labels": list(labels), "max_length": max_length,
        "origin": origin, "taskdistil_version": __version__, **({"label_meta": label_meta} if label_meta else {}),
    })


@dataclass
class Teacher:
    """A loaded fine-tuned teacher with its tokenizer and label order."""

    model: torch.nn.Module
    tokenizer: object
    labels: list[str]
    max_length: int
    path: Path
    task: str = SINGLE_SENTENCE

    @classmethod
    def load(cls, path: Path) -> "Teacher":
        from transformers import AutoTokenizer

        _quiet_transformers()
        path = Path(path)
        if not (path / TEACHER_META).is_file():
            raise ArtifactError(f"{path}: not a taskdistil teacher directory (no {TEACHER_META})")
        meta = read_json(path / TEACHER_META)
        model = _head_class(task_kind(meta.get("task", SINGLE_SENTENCE)).hf_head).from_pretrained(path)
        model.eval()
        return cls(model, AutoTokenizer.from_pretrained(path), meta["labels"], meta["max_length"], path,
                   meta.get("task", SINGLE_SENTENCE))

    def encode(self, texts: Sequence[Example], too_long: str = "truncate", where=None) -> list[list[int]]:
        return encode_texts(self.tokenizer, texts, self.max_length, too_long, where)

    @property
    def sep_id(self) -> int | None:
        return pair_separator(self.model, self.tokenizer, self.task)

    @property
    def forward_model(self) -> torch.nn.Module:
        """The model as inference calls it: ``(input_ids, attention_mask, ...)``, token types derived for pairs."""
        return pair_aware(self.model, self.sep_id)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def logits(self, encoded: Sequence[Sequence[int]], batch_size: int = 128, desc: str | None = None) -> np.ndarray:
        return batched_logits(hf_forward(self.forward_model), encoded, self.pad_id, batch_size, desc)


def encode_texts(tokenizer, texts: Sequence[Example], max_length: int, too_long: TooLong = "error",
                 where=None) -> list[list[int]]:
    """Token ids with special tokens; a pair ``(a, b)`` as ``[CLS] a [SEP] b [SEP]``. Over-long examples raise
    (naming ``where(i)``) or are truncated, as ``too_long`` says (one policy, or one per example): a text keeps
    its final [SEP]; a pair loses tokens from its longer text first (Hugging Face's 'longest_first')."""
    texts = list(texts)
    pairs = bool(texts) and is_pair(texts[0])
    what = "pair" if pairs else "text"
    encoded = tokenizer(*_sides(texts, pairs), add_special_tokens=True, truncation=False, verbose=False)
    ids = encoded["input_ids"]
    types = encoded.get("token_type_ids") if pairs else None
    for i, seq in enumerate(ids):
        if len(seq) > max_length:
            if too_long_at(too_long, i) == "error":
                raise DataError(f"{_place(where, i)}: {what} has {len(seq)} tokens, more than max_length "
                                f"{max_length}; raise teacher.max_length or set data.too_long: truncate")
            if not pairs:
                ids[i] = seq[: max_length - 1] + seq[-1:]  # keep [SEP]
                continue
            cut = tokenizer(*texts[i], truncation="longest_first", max_length=max_length)
            ids[i] = cut["input_ids"]
            if types is not None:
                types[i] = cut["token_type_ids"]
    for i in range(len(ids) if types is not None else 0):
        if segments_of(ids[i], tokenizer.sep_token_id) != types[i]:
            raise DataError(f"{_place(where, i)}: a text of the pair holds the separator token "
                            f"{tokenizer.sep_token!r}, which would move the boundary between the two texts")
    return ids


def _sides(texts: list[Example], pairs: bool) -> tuple[list[str], ...]:
    """The tokenizer's positional text arguments: (texts,) or (first texts, second texts)."""
    return ([a for a, _ in texts], [b for _, b in texts]) if pairs else (texts,)


def _place(where, i: int) -> str:
    return where(i) if where else f"example {i}"


class WithSegments(torch.nn.Module):
    """A Hugging Face classifier reading sentence pairs ``[CLS] a [SEP] b [SEP]``: its forward derives the token
    types from the ids (``segment_ids``), so callers and its ONNX graph pass ``(input_ids, attention_mask)`` only.
    It holds no weights of its own: training or saving the inner model is unchanged."""

    def __init__(self, model: torch.nn.Module, sep_id: int):
        super().__init__()
        self.model = model
        self.sep_id = sep_id

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
        return self.model(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=segment_ids(input_ids, self.sep_id), **kwargs)


def pair_separator(model, tokenizer, task: str) -> int | None:
    """The separator after which token type 1 starts, for a sentence-pair model that reads token types (BERT);
    None for single sentences, or a model without token types (RoBERTa: pairs told apart by separators alone)."""
    uses_types = ("token_type_ids" in tokenizer.model_input_names
                  and getattr(model.config, "type_vocab_size", 0) > 1)
    return tokenizer.sep_token_id if task_kind(task).pairs and uses_types else None


def pair_aware(model: torch.nn.Module, sep_id: int | None) -> torch.nn.Module:
    """``model`` itself for single sentences (sep_id None), else ``WithSegments(model, sep_id)``."""
    return model if sep_id is None else WithSegments(model, sep_id)


def hf_forward(model):
    """Adapter: a HF sequence classifier as an inference ``Forward``."""
    model.eval()
    return lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits
