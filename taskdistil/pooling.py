"""Pooling token states into one vector per text."""

from __future__ import annotations

import torch


def masked_mean(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) states, (B, T) mask -> (B, H): sum_t m_t h_t / max(1, sum_t m_t), padding excluded."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
