"""The negative log-likelihood of a linear-chain CRF over per-word emissions."""

from __future__ import annotations

import torch
from torch import nn


class CRFNLL(nn.Module):
    """Linear-chain CRF (Lample et al. 2016, "Neural Architectures for Named Entity Recognition"):

        score(E, y) = start[y_1] + sum_t E[t, y_t] + sum_{t>1} A[y_{t-1}, y_t] + end[y_n]
        L = (1 / sum_s n_s) * sum_s [ log sum_{y'} exp score(E_s, y') - score(E_s, y_s) ]

    the partition function by the forward algorithm (O(n C^2)); normalised by the number of words, so that it is on
    the scale of a per-word cross-entropy.

    emissions (B, W, C) float, tags (B, W) long, mask (B, W) (1: a word; each row's words first, at least one);
    start (C,), transitions (C, C) (row: previous tag), end (C,): ``CRFTransitions.scores()``.
    """

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, start: torch.Tensor,
                transitions: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        tags = tags.masked_fill(~mask, 0)
        on = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (B, W)
        moved = transitions[tags[:, :-1], tags[:, 1:]]  # (B, W-1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # (B,)
        gold = start[tags[:, 0]] + (emitted * on).sum(1) + (moved * on[:, 1:]).sum(1) + end[last]  # (B,)
        alpha = start + emissions[:, 0]  # (B, C)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]  # (B, C)
            alpha = torch.where(mask[:, t:t + 1], step, alpha)
        log_z = torch.logsumexp(alpha + end, dim=1)  # (B,)
        return (log_z - gold).sum() / on.sum().clamp(min=1)
