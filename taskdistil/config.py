"""Typed run configuration: YAML <-> validated pydantic models, CLI overrides.

Every section forbids unknown keys, so a typo fails before any work starts with an
error naming the key (``teacher.learning_rat``) and, for choices, the allowed values.

This module is the configuration's face: each concern lives in its own module (``train_config``,
``teacher_config``, ``transfer_config``, ``student_config`` (each student kind's settings beside its student:
``taskdistil.students.<kind>_config``), ``exam_config``, ``data_config``, ``run_config``, ``config_load``), and every
name is importable from here.
"""

from __future__ import annotations

from taskdistil.config_load import (
    DATA_DIR_ENV,
    apply_override,
    check_inputs_exist,
    dump_config,
    load_config,
    parse_override,
)
from taskdistil.data_config import DataConfig
from taskdistil.errors import ConfigError
from taskdistil.exam_config import ExamConfig, FidelityConfig
from taskdistil.run_config import RunConfig
from taskdistil.student_config import (
    HF_DEFAULTS,
    HF_SETTINGS,
    HF_TRAIN,
    OBJECTIVES,
    STUDENT_CONFIGS,
    TRANSFORMER_DEFAULTS,
    TRANSFORMER_TRAIN,
    XTREMEDISTIL_LAYER,
    BiLSTMStudentConfig,
    CNNStudentConfig,
    HFStudentConfig,
    LossConfig,
    Ramp,
    StageConfig,
    StaticStudentConfig,
    StudentBase,
    StudentConfig,
    TransformerStudentConfig,
    representation_stages,
    scheduled,
    student_config,
)
from taskdistil.teacher_config import EMBEDDED_TEACHER, AnnotateConfig, TeacherConfig
from taskdistil.train_config import STAGE_DEVICE, STAGE_PRECISION, Device, Precision, TrainConfig
from taskdistil.transfer_config import AugmentConfig, TransferConfig, UnlabeledSource

__all__ = [
    "DATA_DIR_ENV", "EMBEDDED_TEACHER", "HF_DEFAULTS", "HF_SETTINGS", "HF_TRAIN", "OBJECTIVES", "STAGE_DEVICE",
    "STAGE_PRECISION", "STUDENT_CONFIGS", "TRANSFORMER_DEFAULTS", "TRANSFORMER_TRAIN", "XTREMEDISTIL_LAYER",
    "AnnotateConfig", "AugmentConfig", "BiLSTMStudentConfig", "CNNStudentConfig", "ConfigError", "DataConfig",
    "Device", "ExamConfig", "FidelityConfig", "HFStudentConfig", "LossConfig", "Precision", "Ramp", "RunConfig",
    "StageConfig", "StaticStudentConfig", "StudentBase", "StudentConfig", "TeacherConfig", "TrainConfig",
    "TransferConfig", "TransformerStudentConfig", "UnlabeledSource",
    "apply_override", "check_inputs_exist", "dump_config", "load_config", "parse_override", "representation_stages",
    "scheduled", "student_config",
]
