"""No-skill baselines of the exam: the majority class, and students trained without a teacher.

The majority class is the most frequent label of the training split (ties: the label first in the label map),
predicted for every test example. A student trained without a teacher learns from gold labels only: every
training stage is ``hard_labels``, or its one logits stage has ``hard_weight`` 1 throughout and no Patient KD.
"""

from __future__ import annotations

import numpy as np

from taskdistil.config import Ramp, StudentConfig

MAJORITY_NAME = "majority-class"
NO_TEACHER = "no-teacher"


def majority_class(train_label_ids: np.ndarray, num_labels: int) -> int:
    """The most frequent training label id (the smallest id among ties)."""
    counts = np.bincount(np.asarray(train_label_ids, dtype=np.int64), minlength=num_labels)
    return int(np.argmax(counts))


def majority_logits(label_id: int, examples: int, num_labels: int) -> np.ndarray:
    """(N, C) logits that predict ``label_id`` for every example."""
    logits = np.zeros((examples, num_labels), dtype=np.float32)
    logits[:, label_id] = 1.0
    return logits


def trained_without_teacher(student: StudentConfig) -> bool:
    """True when the student's recipe never uses the teacher's outputs (gold labels only)."""
    if student.stages:
        return all(stage.objective == "hard_labels" for stage in student.stages)
    weight = student.loss.hard_weight
    ends = (weight.start, weight.end) if isinstance(weight, Ramp) else (weight, weight)
    return min(ends) >= 1.0 and student.loss.pkd_weight == 0
