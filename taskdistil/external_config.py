"""The rules ``taskdistil.config`` checks for an external teacher (``teacher.outputs`` or ``teacher.command``).

Kept beside ``taskdistil.config`` (which calls these checks) so that the config module does not grow; it imports
nothing of taskdistil.
"""

from __future__ import annotations

from typing import Any

EMBEDDED = "embedded:minilm-l6"  # the default of teacher.model and teacher.tokenizer_from (config.EMBEDDED_TEACHER)
# Teacher settings of external teachers only: left out of a built-in teacher's stage key (runs before them keep it).
EXTERNAL_TEACHER_SETTINGS = ("outputs", "command", "tokenizer_from", "latency_ms")


def check_external_teacher(teacher: Any) -> None:
    """ValueError: both sources given, an external-only setting on a built-in teacher, or a model on an external."""
    if teacher.outputs and teacher.command:
        raise ValueError("give teacher.outputs (a file) or teacher.command, not both")
    if not (teacher.outputs or teacher.command):
        if teacher.latency_ms is not None or teacher.tokenizer_from != EMBEDDED:
            raise ValueError("latency_ms and tokenizer_from are settings of external teachers (teacher.outputs or "
                             "teacher.command)")
    elif teacher.finetuned or teacher.model != EMBEDDED:
        raise ValueError("an external teacher (teacher.outputs or teacher.command) has no model to fine-tune or adopt: "
                         "leave teacher.model and finetuned unset; students' vocabulary and embeddings come from "
                         "teacher.tokenizer_from")


def check_external_students(students: list, external: bool, task: str) -> None:
    """ValueError naming the student that needs a teacher model (its layers or states) an external teacher lacks,
    or for a task whose outputs are per word (token tagging: not supported for external teachers yet)."""
    if external and task in ("token_tagging", "question_tagging", "multi_aspect"):
        what = "a label set per aspect" if task == "multi_aspect" else "per-word outputs"
        raise ValueError("an external teacher (teacher.outputs or teacher.command) gives one output per text: task "
                         f"{task!r} ({what}) is not supported for external teachers yet")
    for s in students if external else []:
        needs = s.teacher_model_need() or (
            "loss.pkd_weight (Patient KD on the teacher's states)" if s.loss.pkd_weight else
            "a representation stage (the teacher's states)" if any(
                stage.objective == "representation" for stage in s.stages or []) else None)
        if needs:
            raise ValueError(f"students.{s.name}: {needs} needs a teacher model, and an external teacher "
                             "(teacher.outputs or teacher.command) gives outputs only: use kind bilstm, cnn or hf "
                             "without Patient KD or representation stages")
