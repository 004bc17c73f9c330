"""The student kinds by name, and construction from settings."""

from __future__ import annotations

from dataclasses import fields

from torch import nn

from taskdistil.errors import ArtifactError, ConfigError
from taskdistil.students.bilstm import BiLSTMStudent
from taskdistil.students.cnn import CNNStudent
from taskdistil.students.hf_encoder import HFEncoderStudent
from taskdistil.students.static import StaticStudent
from taskdistil.students.transformer import TransformerStudent

STUDENT_KINDS: dict[str, type[nn.Module]] = {"bilstm": BiLSTMStudent, "cnn": CNNStudent,
                                             "transformer": TransformerStudent, "hf": HFEncoderStudent,
                                             "static": StaticStudent}


def reads_windows(kind: str) -> bool:
    """Whether a student kind reads at most its tokenizer's max_length tokens (position embeddings), so that word
    units read a longer sentence in overlapping windows (``taskdistil.tasks.words``); else whole sentences."""
    return bool(getattr(STUDENT_KINDS[kind], "windowed", False))


def check_head(kind: str, head: str, key: str) -> None:
    """ConfigError naming ``key`` unless student ``kind`` has ``head`` (its class's ``heads``)."""
    heads = STUDENT_KINDS[kind].heads
    if head not in heads:
        able = sorted(k for k, cls in STUDENT_KINDS.items() if head in cls.heads)
        raise ConfigError(f"{key}: a {kind!r} student has no {head!r} head (it has {list(heads)}); this task "
                          f"takes students of kind {' or '.join(able)}")


def build_student(kind: str, **settings) -> nn.Module:
    """Construct a student of ``kind`` from keyword settings (its config dataclass fields).

    (A transformer student is built from its teacher: ``TransformerStudent.from_teacher``; an hf student from
    its checkpoint: ``HFEncoderStudent.from_checkpoint``.)
    """
    if kind not in STUDENT_KINDS:
        raise ArtifactError(f"unknown student kind {kind!r}; known: {sorted(STUDENT_KINDS)}")
    cls = STUDENT_KINDS[kind]
    names = {f.name for f in fields(cls.config_class)}
    return cls(cls.config_class(**{k: v for k, v in settings.items() if k in names}))
