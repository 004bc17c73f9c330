"""Embedding initialisation for word-level students.

``svd_reduce``: XtremeDistil (Mukherjee & Hassan Awadallah 2020) — the teacher's WordPiece
embedding matrix W (V, H) = U S V^T, reduced to E dims as U[:, :E] * S[:E] (the best
rank-E approximation's coordinates), so the student starts from the teacher's lexicon.
"""

from __future__ import annotations

import torch

from taskdistil.errors import ConfigError


def svd_reduce(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """(V, H) -> (V, dim) with dim <= H."""
    vocab, hidden = weight.shape
    if dim > hidden:
        raise ConfigError(f"embedding_dim {dim} exceeds the teacher's hidden size {hidden}; SVD can only reduce")
    u, s, _ = torch.linalg.svd(weight.float(), full_matrices=False)
    return u[:, :dim] * s[:dim]


def teacher_input_embeddings(teacher_model) -> torch.Tensor:
    return teacher_model.get_input_embeddings().weight.detach()
