"""Typed model output shared by students."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StudentOutput:
    logits: torch.Tensor  # (B, C); a per-token head (token tagging): (B, T, C)
    pooled: torch.Tensor | None = None  # (B, D) sentence representation before the head
    layer_cls: torch.Tensor | None = None  # (B, k, H) [CLS] state after each of k layers (transformer and hf students)
