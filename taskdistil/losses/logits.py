"""Losses over logits. Each module maps tensors to a scalar; none owns a model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LogitMSE(nn.Module):
    """Tang et al. 2019: L = mean over batch of ||z_t - z_s||^2 / C  (MSE on pre-softmax logits).

    student_logits, teacher_logits: (B, C).
    """

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(student_logits, teacher_logits)


class SoftKL(nn.Module):
    """Hinton et al. 2015 / PKD: L = T^2 * KL(softmax(z_t / T) || softmax(z_s / T)), batch mean.

    student_logits, teacher_logits: (B, C). The T^2 factor keeps gradient size independent of T.
    """

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        log_p_s = F.log_softmax(student_logits / t, dim=-1)
        log_p_t = F.log_softmax(teacher_logits / t, dim=-1)
        return F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * t * t


class HardCE(nn.Module):
    """L = CE(y, softmax(z_s)) over examples with a gold label; label -1 (unlabeled) is ignored.

    student_logits: (B, C); labels: (B,) long.
    """

    def forward(self, student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if bool((labels == -1).all()):
            return student_logits.sum() * 0.0
        return F.cross_entropy(student_logits, labels, ignore_index=-1)


class DistillLoss(nn.Module):
    """L = a * CE(y, z_s) + (1 - a) * soft(z_t, z_s), soft = LogitMSE or SoftKL(T).

    With a = 0 (Tang et al.'s reported model) the student learns from teacher logits alone. ``set`` changes
    a and T between steps (per-step schedules).
    """

    def __init__(self, soft: str = "mse", temperature: float = 1.0, hard_weight: float = 0.0):
        super().__init__()
        self.soft = LogitMSE() if soft == "mse" else SoftKL(temperature)
        self.hard = HardCE()
        self.hard_weight = hard_weight

    def set(self, hard_weight: float, temperature: float) -> None:
        self.hard_weight = hard_weight
        if isinstance(self.soft, SoftKL):
            self.soft.temperature = temperature

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        loss = (1.0 - self.hard_weight) * self.soft(student_logits, teacher_logits)
        if self.hard_weight > 0:
            if labels is None:
                raise ValueError("hard_weight > 0 needs gold labels")
            loss = loss + self.hard_weight * self.hard(student_logits, labels)
        return loss
