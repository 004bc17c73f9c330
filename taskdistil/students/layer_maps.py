"""Which teacher layers a transformer-like student copies and learns from (Sun et al. 2019, Patient KD): the
initial layers (``init_layers``) and the layer map (``layer_map``: PKD-Skip, PKD-Last or a list) of transformer
students, and the Patient KD layer map of hf students. Settings-level logic: no model is built here, so the
settings classes and the pipeline check layers before any work (errors name the student's keys)."""

from __future__ import annotations

from typing import Any

from taskdistil.errors import ConfigError
from taskdistil.students.hf_files import checkpoint_config


def bert_depth(config, what: str) -> int:
    """Number of layers of a BERT-architecture model's config (HF config object or dict); else ConfigError."""
    get = config.get if isinstance(config, dict) else lambda name, default=None: getattr(config, name, default)
    model_type = get("model_type")
    if model_type != "bert":
        raise ConfigError(f"transformer students are built from a BERT-architecture teacher (model_type 'bert'); "
                          f"the {what} has model_type {model_type!r}")
    return int(get("num_hidden_layers"))


def initial_layers(spec: str | list[int], k: int, depth: int, key: str = "init_layers") -> list[int]:
    """Teacher layers (1-based) copied into student layers 1..k: ``"first"`` = 1..k, or an explicit list."""
    _check_depth(k, depth, key)
    if spec == "first":
        return list(range(1, k + 1))
    return _checked_list(spec, k, depth, key)


def layer_map(spec: str | list[int], k: int, depth: int, key: str = "layer_map") -> list[int]:
    """Teacher layers (1-based) that student layers 1..k-1 learn from: ``"skip"``, ``"last"`` or a list."""
    _check_depth(k, depth, key)
    if spec == "skip":
        return [j * depth // k for j in range(1, k)]
    if spec == "last":
        return list(range(depth - k + 1, depth))
    return _checked_list(spec, k - 1, depth, key)


def student_layers(student: Any, depth: int) -> tuple[list[int], list[int]]:
    """(initial layers, Patient KD layer map) of a transformer student for a teacher of ``depth`` layers;
    errors name the student's keys."""
    prefix = f"students.{student.name}"
    _check_depth(student.layers, depth, f"{prefix}.layers")
    return (initial_layers(student.init_layers, student.layers, depth, f"{prefix}.init_layers"),
            layer_map(student.layer_map, student.layers, depth, f"{prefix}.layer_map"))


def _check_depth(k: int, depth: int, key: str) -> None:
    if not 1 <= k <= depth:
        raise ConfigError(f"{key}: a student of {k} layers cannot be built from a teacher of {depth} layers "
                          f"(layers must be 1..{depth})")


def _checked_list(layers: list[int], length: int, depth: int, key: str) -> list[int]:
    layers = list(layers)
    if len(layers) != length:
        raise ConfigError(f"{key}: expected {length} teacher layers, got {len(layers)}: {layers}")
    outside = [layer for layer in layers if not 1 <= layer <= depth]
    if outside:
        raise ConfigError(f"{key}: teacher layers {outside} out of range: the teacher has layers 1..{depth}")
    return layers


def pkd_layer_map(student: Any, student_depth: int, teacher_depth: int) -> list[int]:
    """Teacher layers (1-based) that the hf student's layers 1..k-1 learn from under Patient KD, by the transformer
    student's ``layer_map`` rules; errors name the student's keys."""
    prefix = f"students.{student.name}"
    if student_depth < 2:
        raise ConfigError(f"{prefix}.loss.pkd_weight: Patient KD needs a student of >= 2 layers (layers 1..k-1 learn "
                          f"teacher layers, the top one the logits); {student.checkpoint!r} has {student_depth}")
    if student_depth > teacher_depth:
        raise ConfigError(f"{prefix}.layer_map: a {student_depth}-layer student matches {student_depth - 1} layers "
                          f"to teacher layers, but the teacher has {teacher_depth}; use loss.pkd_weight: 0")
    return layer_map(student.layer_map, student_depth, teacher_depth, f"{prefix}.layer_map")


def student_pkd_layers(student: Any, teacher_depth: int) -> list[int]:
    """The Patient KD layer map of an hf student (its depth: ``layers``, else read from its checkpoint's config)."""
    depth = student.layers or checkpoint_config(student.checkpoint, f"students.{student.name}.checkpoint"
                                                ).num_hidden_layers
    return pkd_layer_map(student, int(depth), teacher_depth)
