"""A student's settings: ``StudentConfig``, one settings class per student kind told apart by ``kind``.

Each kind's class lives beside its student (``taskdistil.students.<kind>_config``) over the keys every student
shares (``taskdistil.student_base``); a key of another kind fails naming the key. A new kind is its settings module
(whose ``MODEL`` names its model class), its model module (whose ``build(settings, context)`` builds it from the
teacher) and one line in ``STUDENT_CONFIGS``.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter

from taskdistil.recipes import apply_recipe
from taskdistil.student_base import (
    DEFAULT_KIND,
    OBJECTIVES,
    XTREMEDISTIL_LAYER,
    LossConfig,
    Ramp,
    StageConfig,
    StudentBase,
    representation_stages,
    scheduled,
)
from taskdistil.students.bilstm_config import BiLSTMStudentConfig
from taskdistil.students.cnn_config import CNNStudentConfig
from taskdistil.students.hf_config import HF_DEFAULTS, HF_SETTINGS, HF_TRAIN, HFStudentConfig
from taskdistil.students.static_config import StaticStudentConfig
from taskdistil.students.transformer_config import TRANSFORMER_DEFAULTS, TRANSFORMER_TRAIN, TransformerStudentConfig

STUDENT_CONFIGS: dict[str, type[StudentBase]] = {
    "bilstm": BiLSTMStudentConfig, "cnn": CNNStudentConfig, "transformer": TransformerStudentConfig,
    "hf": HFStudentConfig, "static": StaticStudentConfig,
}


def student_kind(value: Any) -> Any:
    """The kind of raw student settings (``kind``, else its recipe's, else bilstm) or of a validated student."""
    if isinstance(value, dict):
        return apply_recipe(value).get("kind", DEFAULT_KIND)
    return getattr(value, "kind", None)


# The union of STUDENT_CONFIGS' classes, each tagged with its kind.
StudentConfig = Annotated[Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in STUDENT_CONFIGS.items())],
                          Discriminator(student_kind)]
_STUDENT = TypeAdapter(StudentConfig)


def student_config(**settings: Any) -> StudentBase:
    """The validated settings of one student, of the class of its kind (``student_config(kind="cnn")``)."""
    return _STUDENT.validate_python(settings)


def default_student() -> StudentBase:
    """The student of a config without ``students``."""
    return STUDENT_CONFIGS[DEFAULT_KIND]()


def unknown_student_key(kind: str, key: str) -> str:
    """Why ``key`` is no setting of a ``kind`` student: which kinds take it, if any."""
    kinds = [name for name, cls in STUDENT_CONFIGS.items() if key in cls.model_fields]
    hint = STUDENT_CONFIGS[kind].KEY_HINTS.get(key) if kind in STUDENT_CONFIGS else None
    if not kinds:
        return "unknown key"
    names = [repr(k) for k in kinds]
    owners = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    owned = f"{key} is a setting of kind {owners} students (this one is {kind!r})"
    return f"unknown key: {hint}; {owned}" if hint else f"unknown key: {owned}"


__all__ = [
    "DEFAULT_KIND", "HF_DEFAULTS", "HF_SETTINGS", "HF_TRAIN", "OBJECTIVES", "STUDENT_CONFIGS", "TRANSFORMER_DEFAULTS",
    "TRANSFORMER_TRAIN", "XTREMEDISTIL_LAYER",
    "BiLSTMStudentConfig", "CNNStudentConfig", "HFStudentConfig", "LossConfig", "Ramp", "StageConfig",
    "StaticStudentConfig", "StudentBase", "StudentConfig", "TransformerStudentConfig",
    "default_student", "representation_stages", "scheduled", "student_config", "student_kind", "unknown_student_key",
]
