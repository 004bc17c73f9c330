"""No-skill baselines of the exam: the majority class, and students trained without a teacher.

The majority baseline is each task kind's (``TaskKind.majority``): the most frequent label of the training split
(ties: the label first in the label map), per aspect for multi-aspect tasks, per word for tagging, answered
everywhere. A student trained without a teacher learns from gold labels only: every
training stage is ``hard_labels``, or its one logits stage has ``hard_weight`` 1 throughout and no Patient KD.
"""

from __future__ import annotations

from taskdistil.config import Ramp, StudentConfig

MAJORITY_NAME = "majority-class"
NO_TEACHER = "no-teacher"


def trained_without_teacher(student: StudentConfig) -> bool:
    """True when the student's recipe never uses the teacher's outputs (gold labels only)."""
    if student.stages:
        return all(stage.objective == "hard_labels" for stage in student.stages)
    weight = student.loss.hard_weight
    ends = (weight.start, weight.end) if isinstance(weight, Ramp) else (weight, weight)
    return min(ends) >= 1.0 and student.loss.pkd_weight == 0
