"""The student kinds by name, and construction from settings."""

from __future__ import annotations

from dataclasses import fields

from torch import nn

from taskdistil.errors import ArtifactError
from taskdistil.students.bilstm import BiLSTMStudent
from taskdistil.students.cnn import CNNStudent
from taskdistil.students.hf_encoder import HFEncoderStudent
from taskdistil.students.static import StaticStudent
from taskdistil.students.transformer import TransformerStudent

STUDENT_KINDS: dict[str, type[nn.Module]] = {"bilstm": BiLSTMStudent, "cnn": CNNStudent,
                                             "transformer": TransformerStudent, "hf": HFEncoderStudent,
                                             "static": StaticStudent}


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
