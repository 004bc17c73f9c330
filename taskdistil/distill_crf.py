"""The CRF term of a CRF tagger's logits objective (``students.<name>.crf``; ``taskdistil.distill`` adds it).

The emissions (the student's per-word logits) keep learning the teacher's word logits through the configured loss
(``DistillLoss``); the CRF's transition scores (``taskdistil.students.crf``) learn, together with the emissions, by
the CRF negative log-likelihood (``taskdistil.losses.CRFNLL``, Lample et al. 2016) of the gold tags of the labeled
sentences of each batch, in the ``logits`` objective (other stage objectives leave the scores as they are):

    L = DistillLoss(z_s, z_t, y) + CRFNLL(z_s, y)   (CRFNLL over labeled sentences only, per word)

Unlabeled and augmented rows add no CRF term (their teacher tags are soft targets already; an argmax of them is
not always well-formed IOB2). The transitions the tag scheme forbids (IOB2: an ``I-X`` that does not continue a
span of X) are fixed at a large negative score in training and decoding (``taskdistil.tasks.tagging_crf``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from taskdistil.losses import CRFNLL
from taskdistil.tasks.tagging_crf import PLAIN, allowed_transitions


def crf_term(model, unit, labels: list[str], label_meta: dict):
    """``term(rows, idx)``: the CRF NLL of the batch ``idx`` (rows: its words' logits (words, C) in sentence order,
    ``WordTargets.rows``), or None when ``model`` has no CRF. Constrains the model's CRF to the scheme of
    ``label_meta`` over ``labels`` (the model's label order)."""
    crf = getattr(model, "crf", None)
    if crf is None:
        return None
    crf.constrain(*allowed_transitions(labels, label_meta.get("scheme", PLAIN)))
    nll = CRFNLL()
    words = unit.train.words  # words per transfer sentence

    def term(rows: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        counts = [words[i] for i in idx]
        emissions, gold = torch.split(rows, counts), torch.split(unit.gold(idx), counts)
        keep = [k for k, n in enumerate(counts) if n and bool((gold[k] >= 0).all())]  # labeled sentences
        if not keep:
            return rows.sum() * 0.0
        mask = pad_sequence([torch.ones(counts[k], dtype=torch.bool, device=rows.device) for k in keep],
                            batch_first=True)  # (S, W)
        return nll(pad_sequence([emissions[k] for k in keep], batch_first=True),
                   pad_sequence([gold[k] for k in keep], batch_first=True), mask, *crf.scores())

    return term
