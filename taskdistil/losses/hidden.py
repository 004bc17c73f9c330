"""Losses over hidden representations (intermediate teacher layers). None owns a model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatientLoss(nn.Module):
    """Patient KD (Sun et al. 2019): L = sum over matched layers j of || h_s^j/||h_s^j|| - h_t^j/||h_t^j|| ||^2,
    averaged over the batch, where h is a layer's [CLS] hidden state.

    student_cls, teacher_cls: (B, M, H), the M matched layers' [CLS] states in the same order
    (the layer map — PKD-Skip, PKD-Last or explicit — chooses which teacher layers).

    With ``student_dim`` != ``teacher_dim`` (an hf student narrower or wider than its teacher) the student's
    states first go through a learned linear projection, one shared by the M layers (this module's only
    parameters; trained beside the student, never part of it): h_s^j -> W h_s^j + b, student_cls (B, M, D_s).
    """

    def __init__(self, student_dim: int | None = None, teacher_dim: int | None = None):
        super().__init__()
        differ = student_dim is not None and teacher_dim is not None and student_dim != teacher_dim
        self.projection = nn.Linear(student_dim, teacher_dim) if differ else None

    def forward(self, student_cls: torch.Tensor, teacher_cls: torch.Tensor) -> torch.Tensor:
        if self.projection is not None:
            student_cls = self.projection(student_cls)  # (B, M, D_t)
        diff = F.normalize(student_cls, dim=-1) - F.normalize(teacher_cls.to(student_cls.dtype), dim=-1)
        return diff.pow(2).sum(dim=(1, 2)).mean()


class RepresentationLoss(nn.Module):
    """XtremeDistil representation stage (Mukherjee & Hassan Awadallah 2020):
    L = mean over batch of || GELU(W h_s + b) - h_t^l ||^2 / D_t.

    The student's pooled hidden state h_s (B, D_s) goes through a learned projection (this
    module's only parameters) to the teacher's layer-l representation h_t^l (B, D_t).
    """

    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.projection = nn.Linear(student_dim, teacher_dim)

    def forward(self, student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        projected = F.gelu(self.projection(student_hidden))  # (B, D_t)
        return F.mse_loss(projected, teacher_hidden.to(projected.dtype))


class HardDistillation(nn.Module):
    """Hard distillation (XtremeDistil): L = CE(argmax z_t, z_s), the teacher's predicted class as the label.

    student_logits, teacher_logits: (B, C).
    """

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(student_logits, teacher_logits.argmax(dim=-1))
