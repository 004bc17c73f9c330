"""Reading a run's YAML configuration: CLI overrides, validation errors naming the key, input files checked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from taskdistil.errors import ConfigError
from taskdistil.hf_checkpoint import looks_like_path
from taskdistil.run_config import RunConfig
from taskdistil.student_config import STUDENT_CONFIGS, default_student, unknown_student_key
from taskdistil.teacher_config import EMBEDDED_TEACHER

DATA_DIR_ENV = "TASKDISTIL_DATA"


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for e in err.errors():
        loc, student_kind = _without_kind_tag(e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        kind = e["type"]
        if kind == "extra_forbidden" and student_kind and len(loc) == 3:
            msg = unknown_student_key(student_kind, str(loc[2]))
        elif kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "union_tag_invalid" and loc[:1] == ("students",):
            key, msg = f"{key}.kind", f"got {e['ctx']['tag']!r}, allowed: {_choices(STUDENT_CONFIGS)}"
        elif kind == "union_tag_not_found" and loc[:1] == ("students",):
            msg = f"expected a mapping of student settings (got {e.get('input')!r})"
        elif kind == "missing":
            msg = "required key is missing"
        elif kind == "literal_error":
            allowed = e.get("ctx", {}).get("expected", "")
            msg = f"got {e.get('input')!r}, allowed: {allowed}"
        elif isinstance(e.get("input"), (dict, BaseModel)):  # a whole section: its repr would bury the message
            msg = e["msg"]
        else:
            msg = f"{e['msg']} (got {e.get('input')!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def _without_kind_tag(loc: tuple) -> tuple[tuple, str | None]:
    """(the location without the student kind pydantic puts after ``students.N``, that kind or None)."""
    if len(loc) > 2 and loc[0] == "students" and loc[2] in STUDENT_CONFIGS:
        return loc[:2] + loc[3:], loc[2]
    return loc, None


def _choices(names) -> str:
    quoted = [repr(n) for n in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (['a','b','c'], yaml-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    if not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    return key.split("."), yaml.safe_load(raw) if raw != "" else ""


def apply_override(tree: dict, path: list[str], value: Any) -> None:
    node: Any = tree
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            node = node[_list_index(node, part, path[: i + 1])]
        else:
            node = node.setdefault(part, {})
            if node is None:
                node = {}
    last = path[-1]
    if isinstance(node, list):
        node[_list_index(node, last, path)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, path: list[str]) -> int:
    if part.isdigit() and int(part) < len(node):
        return int(part)
    for i, item in enumerate(node):  # students.<name>.key addresses a student by name
        if isinstance(item, dict) and item.get("name") == part:
            return i
    raise ConfigError(f"--set {'.'.join(path)}: no list item {part!r} (use an index or a student name)")


def load_config(path: str | Path, overrides: list[str] | None = None, data_dir: str | None = None) -> RunConfig:
    """Read, override and validate a YAML config; check that every input file exists."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    # A student given by name only in overrides: students.<name>.x -> matched by name.
    for text in overrides or []:
        key_path, value = parse_override(text)
        if key_path[0] == "students" and "students" not in tree:
            tree["students"] = [{"name": default_student().name}]
        apply_override(tree, key_path, value)
    data = tree.setdefault("data", {}) if isinstance(tree.get("data", {}), dict) else tree.get("data")
    if isinstance(data, dict):
        chosen = data_dir or os.environ.get(DATA_DIR_ENV) or data.get("dir")
        if chosen:
            data["dir"] = str(Path(os.path.expanduser(chosen)).resolve())
    try:
        config = RunConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, str(path))) from None
    check_inputs_exist(config)
    return config


def check_inputs_exist(config: RunConfig) -> None:
    missing = []
    for split in ("train", "dev", "test"):
        source = config.data_path(split)
        if source.startswith("hf:"):
            continue
        if not Path(source).is_file():
            missing.append(f"  data.{split}: file not found: {source}")
    for i, unlabeled in enumerate(config.transfer.unlabeled):
        source = config.data_source(unlabeled.path)
        if not source.startswith("hf:") and not Path(source).is_file():
            missing.append(f"  transfer.unlabeled.{i}.path: file not found: {source}")
    fidelity = config.exam.fidelity.path
    if fidelity and not fidelity.startswith("hf:") and not Path(config.data_file(fidelity)).is_file():
        missing.append(f"  exam.fidelity.path: file not found: {config.data_file(fidelity)}")
    augment = config.transfer.augment
    if augment is not None and augment.pos_lexicon and not Path(config.data_file(augment.pos_lexicon)).is_file():
        missing.append(f"  transfer.augment.pos_lexicon: file not found: {config.data_file(augment.pos_lexicon)}")
    if missing:
        hint = "" if config.data.dir else f" (relative paths need --data-dir or ${DATA_DIR_ENV})"
        raise ConfigError("missing input files" + hint + ":\n" + "\n".join(missing))
    outputs = config.teacher.outputs
    if outputs and not Path(config.data_file(outputs)).is_file():
        raise ConfigError(f"teacher.outputs: file not found: {config.data_file(outputs)}")
    teacher = config.teacher.tokenizer_from if config.teacher.external else config.teacher.model
    if not teacher.startswith("embedded:") and looks_like_path(teacher) and not Path(teacher).exists():
        raise ConfigError(f"{_teacher_key(config)}: no such directory: {teacher}")
    if teacher.startswith("embedded:") and teacher != EMBEDDED_TEACHER:
        raise ConfigError(f"{_teacher_key(config)}: unknown embedded model {teacher!r}, allowed: {EMBEDDED_TEACHER!r}")
    for student in config.students:  # e.g. an hf student's checkpoint
        student.check_files()


def _teacher_key(config: RunConfig) -> str:
    return "teacher.tokenizer_from" if config.teacher.external else "teacher.model"


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
