"""The transition scores of a linear-chain CRF tagger (Lample et al. 2016): the one part of a CRF that is not the
emissions. A word-level student with ``crf`` holds one beside its per-token head; the loss
(``taskdistil.losses.crf.CRFNLL``) trains it and ``taskdistil.tasks.tagging_crf`` decodes with it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

NEG = -1.0e4  # a forbidden transition's score (as ``taskdistil.tasks.tagging_crf.NEG``)


class CRFTransitions(nn.Module):
    """start (C,), transitions (C, C) (row: previous tag, column: next tag) and end (C,) scores, learned; the
    buffers ``allowed`` (C, C) and ``start_allowed`` (C,) (1: permitted) mark what the tag scheme permits
    (``constrain``; saved with the weights)."""

    def __init__(self, num_labels: int):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(num_labels))
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.end = nn.Parameter(torch.zeros(num_labels))
        self.register_buffer("allowed", torch.ones(num_labels, num_labels))
        self.register_buffer("start_allowed", torch.ones(num_labels))

    def constrain(self, allowed: np.ndarray, start_allowed: np.ndarray) -> None:
        self.allowed.copy_(torch.as_tensor(allowed, dtype=self.allowed.dtype))
        self.start_allowed.copy_(torch.as_tensor(start_allowed, dtype=self.start_allowed.dtype))

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(start (C,), transitions (C, C), end (C,)) with forbidden entries ``NEG``."""
        start = torch.where(self.start_allowed.bool(), self.start, torch.full_like(self.start, NEG))
        transitions = torch.where(self.allowed.bool(), self.transitions, torch.full_like(self.transitions, NEG))
        return start, transitions, self.end

    def decoding(self) -> dict:
        """The scores and masks as JSON-ready lists (the artifact's ``decoding``: ``tasks.tagging_crf.decode``)."""
        def plain(t: torch.Tensor) -> list:
            return t.detach().float().cpu().tolist()

        return {"kind": "crf", "start": plain(self.start), "transitions": plain(self.transitions),
                "end": plain(self.end), "allowed": plain(self.allowed.round().int()),
                "start_allowed": plain(self.start_allowed.round().int())}
