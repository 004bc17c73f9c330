"""Building a student before training: its tokenizer and its model from the teacher (a bilstm or cnn with an
initialised embedding table, a transformer from the teacher's layers, an hf encoder from its checkpoint), and the
Patient KD term that trains beside transformer and hf students (``taskdistil.distill`` trains them)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from taskdistil.config import StudentConfig
from taskdistil.data.pairs import Example
from taskdistil.errors import ArtifactError, ConfigError, StageError
from taskdistil.io import sha256_file
from taskdistil.progress import log
from taskdistil.students.embeddings import model2vec_table, svd_reduce, teacher_input_embeddings
from taskdistil.students.registry import build_student, check_head, reads_windows
from taskdistil.students.vectors import read_vectors
from taskdistil.tasks import student_head, task_kind
from taskdistil.teacher.model import Teacher

# run: the pipeline's Run (its config and paths; not imported, the pipeline sits above this module)


def build_tokenizer(student: StudentConfig, teacher: Teacher, transfer_texts: list[Example], task: str):
    """The student's tokenizer (its kind builds it); for sentence pairs, encoding each text alone (siamese
    bilstm/cnn) or a pair as one sequence (transformer, hf): the kind's ``PAIRS``."""
    tokenizer = student.build_tokenizer(teacher.tokenizer, transfer_texts, student.max_length or teacher.max_length)
    if task_kind(task).pairs:
        tokenizer.pairs = student.PAIRS
    tokenizer.windows = reads_windows(student.kind) and task_kind(task).unit == "word"
    return tokenizer


class PatientKD(nn.Module):
    """The Patient KD term of a student (Sun et al. 2019): forward(ids, mask, teacher_cls) -> (the student's
    output, pkd_weight * PatientLoss(its layers 1..k-1, teacher_cls)), and ``targets(idx)`` the teacher [CLS] states
    of ``layers`` cached in the annotations. When the loss has parameters (the projection of an hf student whose
    hidden size differs from the teacher's) this module is what the logits stage trains, so that the projection
    learns with the student (data-parallel: through DDP too); the projection is not part of the saved student."""

    def __init__(self, student: nn.Module, loss: nn.Module, weight: float, hidden, layers: list[int]):
        super().__init__()
        self.student = student
        self.loss = loss
        self.weight = weight
        self.hidden = hidden  # HiddenStore
        self.layers = layers

    @property
    def has_parameters(self) -> bool:
        return any(True for _ in self.loss.parameters())

    def targets(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.hidden.read(idx, self.layers))  # (B, k-1, H_t) float16

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, teacher_cls: torch.Tensor):
        out = self.student(ids, mask)
        # student layers 1..k-1; the top one has the logits
        return out, self.weight * self.loss(out.layer_cls[:, :-1], teacher_cls)


def hidden_store(run, student: StudentConfig, layers: list):
    """The cached teacher states (checksums verified), checked to hold the states named ``layers``."""
    from taskdistil.teacher.annotate import HiddenStore, sorted_states

    hidden = HiddenStore(run.annotate_dir, verify=True)
    missing = sorted_states(set(layers) - set(hidden.layers))
    if missing:
        raise StageError(f"{run.annotate_dir}: the annotations hold teacher layers {hidden.layers}, student "
                         f"{student.name!r} needs {missing}; rerun `taskdistil annotate`")
    return hidden


def embedding_student(run, student: StudentConfig, teacher: Teacher, tokenizer, seed: int):
    """A bilstm, cnn or static student with its embedding table initialised (SVD of the teacher's, model2vec-style
    from the teacher's encoding of each vocabulary entry, word vectors or random)."""
    head = student_head(task_kind(run.config.data.task))
    question = {}
    if getattr(student, "question", None) == "pooled":  # bilstm, cnn: the head finds the question up to the separator
        sep_id = tokenizer.pair_separator()
        if sep_id is None:
            raise ConfigError(f"students.{student.name}.question: 'pooled' needs a tokenizer whose pair template "
                              "marks the question's end with token types (BERT's [SEP]); this one has none")
        question = {"question": "pooled", "sep_id": sep_id}
    model = build_student(student.kind, vocab_size=tokenizer.vocab_size, num_labels=len(teacher.labels),
                          pad_id=tokenizer.pad_id, head=head, **question,
                          pair=tokenizer.pairs == "separate" and head == "sequence",  # siamese: a pooled head's
                          # (question tagging: a token head reading the concatenated [CLS] q [SEP] p [SEP])
                          **student.model_dump(exclude={"kind", "question"}))
    if student.embeddings == "svd":
        model.embedding.initialize(svd_reduce(teacher_input_embeddings(teacher.model), student.embedding_dim))
    elif student.embeddings == "model2vec":
        weights = sha256_file(run.teacher_model_dir / "model.safetensors")[:16]  # the cache names the teacher
        cache = run.dir / "cache" / f"model2vec-states-{weights}.safetensors"
        model.embedding.initialize(model2vec_table(teacher.model, tokenizer, student.embedding_dim, cache))
    elif student.embeddings == "vectors":
        table = read_vectors(run.config.data_file(student.vectors), tokenizer.vocabulary(), student.embedding_dim,
                             tokenizer.pad_id, seed)
        model.embedding.initialize(torch.from_numpy(table.matrix))
        log(f"[distill:{student.name}] word vectors for {table.found:,} of {tokenizer.vocab_size:,} vocabulary "
            f"entries ({table.lowercase_matches:,} by their lowercased form)")
    return model


def transformer_student(run, student: StudentConfig, teacher: Teacher, tokenizer):
    """(the student built from the teacher's layers, its Patient KD term or None when pkd_weight is 0)."""
    from taskdistil.losses import PatientLoss
    from taskdistil.students.transformer import TransformerStudent, bert_depth, student_layers

    depth = bert_depth(teacher.model.config, f"teacher ({run.teacher_model_dir})")
    init, matched = student_layers(student, depth)
    model = TransformerStudent.from_teacher(teacher.model, init, pad_id=tokenizer.pad_id,
                                            hidden_dropout=student.dropout, sep_id=teacher.sep_id,
                                            head=student_head(task_kind(run.config.data.task)))
    positions = model.config.bert["max_position_embeddings"]
    if tokenizer.max_length > positions:
        raise ConfigError(f"students.{student.name}.max_length: {tokenizer.max_length} tokens, but the teacher's "
                          f"position embeddings cover {positions}")
    weight = student.loss.pkd_weight
    log(f"[distill:{student.name}] {len(init)}-layer transformer from teacher layers {init} (of {depth})"
        + (f"; Patient KD (weight {weight:g}) to teacher layers {matched}" if weight else ""))
    if not weight:
        return model, None
    return model, PatientKD(model, PatientLoss(), weight, hidden_store(run, student, matched), matched)


def hf_student(run, student: StudentConfig, teacher: Teacher, tokenizer):
    """(the student from its Hugging Face checkpoint under a fresh head, its Patient KD term or None when
    pkd_weight is 0)."""
    from taskdistil.losses import PatientLoss
    from taskdistil.students.hf_encoder import HFEncoderStudent, pkd_layer_map

    key = f"students.{student.name}.checkpoint"
    model = HFEncoderStudent.from_checkpoint(student.checkpoint, len(teacher.labels), tokenizer.pad_id,
                                             student.dropout, key, layers=student.layers, pooling=student.pooling,
                                             head=student_head(task_kind(run.config.data.task)))
    if tokenizer.pairs and getattr(model.encoder.config, "type_vocab_size", 0) > 1:  # pairs with token types
        try:
            model.config.sep_id = tokenizer.pair_separator()
        except ArtifactError as err:
            raise ConfigError(f"{key}: {err}") from None
    positions = getattr(model.encoder.config, "max_position_embeddings", None)
    if positions is not None and tokenizer.max_length > positions:
        raise ConfigError(f"students.{student.name}.max_length: {tokenizer.max_length} tokens, but the checkpoint's "
                          f"position embeddings cover {positions}")
    what = (f"[distill:{student.name}] {model.num_layers}-layer {model.encoder.config.model_type} encoder (hidden "
            f"{model.hidden_size}) from {student.checkpoint}")
    weight = student.loss.pkd_weight
    if not weight:
        log(what)
        return model, None
    teacher_config = teacher.model.config
    matched = pkd_layer_map(student, model.num_layers, teacher_config.num_hidden_layers)
    loss = PatientLoss(model.hidden_size, teacher_config.hidden_size)
    log(f"{what}; Patient KD (weight {weight:g}) to teacher layers {matched}" + (
        f" through a learned {model.hidden_size} -> {teacher_config.hidden_size} projection"
        if loss.projection is not None else ""))
    return model, PatientKD(model, loss, weight, hidden_store(run, student, matched), matched)


BUILDERS = {  # by student kind: (model, its Patient KD term or None)
    "bilstm": lambda run, student, teacher, tokenizer, seed: (embedding_student(run, student, teacher, tokenizer,
                                                                                 seed), None),
    "cnn": lambda run, student, teacher, tokenizer, seed: (embedding_student(run, student, teacher, tokenizer,
                                                                              seed), None),
    "static": lambda run, student, teacher, tokenizer, seed: (embedding_student(run, student, teacher, tokenizer,
                                                                                 seed), None),
    "transformer": lambda run, student, teacher, tokenizer, seed: transformer_student(run, student, teacher,
                                                                                       tokenizer),
    "hf": lambda run, student, teacher, tokenizer, seed: hf_student(run, student, teacher, tokenizer),
}


def build_student_model(run, student: StudentConfig, teacher: Teacher, tokenizer, seed: int):
    """(the student of ``student.kind`` for the run's task kind, its Patient KD term or None)."""
    check_head(student.kind, student_head(task_kind(run.config.data.task)), f"students.{student.name}.kind")
    return BUILDERS[student.kind](run, student, teacher, tokenizer, seed)
