"""The student kinds by name (their model classes), and construction from settings."""

from __future__ import annotations

import importlib

from torch import nn

from taskdistil.errors import ArtifactError, ConfigError
from taskdistil.student_config import STUDENT_CONFIGS
from taskdistil.students.build import construct


def _model_class(kind: str, path: str) -> type[nn.Module]:
    """The model class a kind's settings class names as ``MODEL`` ("module:Class")."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# The model class of each kind: the one STUDENT_CONFIGS line per kind names it (its settings class's MODEL).
STUDENT_KINDS: dict[str, type[nn.Module]] = {kind: _model_class(kind, cls.MODEL)
                                             for kind, cls in STUDENT_CONFIGS.items()}


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
    return construct(STUDENT_KINDS[kind], **settings)
