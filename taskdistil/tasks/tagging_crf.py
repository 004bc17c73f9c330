"""Linear-chain CRF decoding for token tagging, in numpy (every runtime decodes the same way: PyTorch, ONNX, int8).

A CRF tagger's model computes per-word emissions E (n, C) (its per-word logits; the ONNX graph stops there) and
its artifact holds the transition scores (``config.json`` key ``decoding``: ``start`` (C), ``transitions`` (C, C),
``end`` (C) and the ``allowed`` / ``start_allowed`` masks). The best tag path maximises

    score(y) = start[y_1] + sum_t E[t, y_t] + sum_{t>1} A[y_{t-1}, y_t] + end[y_n]

(Viterbi, O(n C^2)); a transition the mask forbids scores ``NEG``. Span tags (IOB2) forbid by default an ``I-X``
that does not continue a span of type X (after ``O``, after another type, or first in the sentence), so the path
is always well-formed IOB2; plain tags (POS) allow every transition. The decoded path is returned as one-hot rows
(n, C), so that everything that reads a tagger's outputs by argmax (metrics, ``predict``) reads the CRF's tags.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taskdistil.data.tag_schemes import OUTSIDE, split_tag

NEG = -1.0e4  # the score of a forbidden transition (finite: log-sum-exp stays differentiable in training)
PLAIN = "plain"


def allowed_transitions(labels: Sequence[str], scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(allowed (C, C) bool: tag j may follow tag i, start_allowed (C,) bool: a sentence may start with tag j).
    IOB2: ``I-X`` only after ``B-X`` or ``I-X``; plain tags: everything."""
    c = len(labels)
    allowed, start_allowed = np.ones((c, c), bool), np.ones(c, bool)
    if scheme == PLAIN:
        return allowed, start_allowed
    parts = [split_tag(tag) or (OUTSIDE, "") for tag in labels]
    for j, (prefix, kind) in enumerate(parts):
        if prefix != "I":
            continue
        start_allowed[j] = False
        for i, (before, before_kind) in enumerate(parts):
            allowed[i, j] = before in ("B", "I") and before_kind == kind
    return allowed, start_allowed


def masked_scores(decoding: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start (C,), transitions (C, C), end (C,)) float64 of a ``decoding`` dict, forbidden entries ``NEG``."""
    start = np.where(np.asarray(decoding["start_allowed"], bool), np.asarray(decoding["start"], np.float64), NEG)
    transitions = np.where(np.asarray(decoding["allowed"], bool), np.asarray(decoding["transitions"], np.float64),
                           NEG)
    return start, transitions, np.asarray(decoding["end"], np.float64)


def viterbi(emissions: np.ndarray, start: np.ndarray, transitions: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The highest-scoring tag path (n,) int64 of emissions (n, C) under start (C,), transitions (C, C) (row:
    previous tag, column: next tag) and end (C,) scores."""
    emissions = np.asarray(emissions, np.float64)
    n = len(emissions)
    if n == 0:
        return np.zeros(0, np.int64)
    score = start + emissions[0]  # (C,): best path ending in each tag
    back = np.zeros(emissions.shape, np.int64)
    for t in range(1, n):
        total = score[:, None] + transitions  # (C_prev, C_next)
        back[t] = total.argmax(0)
        score = total.max(0) + emissions[t]
    path = np.zeros(n, np.int64)
    path[-1] = int((score + end).argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def viterbi_batch(emissions: np.ndarray, lengths: np.ndarray, start: np.ndarray, transitions: np.ndarray,
                  end: np.ndarray) -> np.ndarray:
    """``viterbi`` of B sentences at once: emissions (B, W, C) padded past each sentence's ``lengths`` (B,) ->
    paths (B, W) int64 (entries past a sentence's end: meaningless). Past its end a sentence's scores stay as they
    are and each tag points back to itself, so one backward pass from the last column serves every length."""
    b, w, c = emissions.shape
    score = start + emissions[:, 0]  # (B, C)
    back = np.broadcast_to(np.arange(c), (b, w, c)).copy()  # identity pointers past the ends
    for t in range(1, w):
        live = lengths > t  # (B,)
        total = score[live][:, :, None] + transitions  # (B_live, C_prev, C_next)
        back[live, t] = total.argmax(1)
        score[live] = total.max(1) + emissions[live, t]
    path = np.zeros((b, w), np.int64)
    path[:, -1] = (score + end).argmax(1)
    rows = np.arange(b)
    for t in range(w - 1, 0, -1):
        path[:, t - 1] = back[rows, t, path[:, t]]
    return path


def decode(outputs: Sequence[np.ndarray], decoding: dict, batch_size: int = 256) -> list[np.ndarray]:
    """Per sentence, the Viterbi path of its emissions (n, C) as one-hot rows (n, C) float32 (sentences of similar
    length decoded together, ``batch_size`` at a time)."""
    start, transitions, end = masked_scores(decoding)
    out = [np.zeros(np.shape(emissions), np.float32) for emissions in outputs]
    lengths = np.asarray([len(emissions) for emissions in outputs], np.int64)
    order = [i for i in np.argsort(lengths, kind="stable") if lengths[i]]
    for at in range(0, len(order), batch_size):
        idx = order[at:at + batch_size]
        padded = np.zeros((len(idx), lengths[idx[-1]], len(start)), np.float64)
        for row, i in enumerate(idx):
            padded[row, :lengths[i]] = outputs[i]
        paths = viterbi_batch(padded, lengths[idx], start, transitions, end)
        for row, i in enumerate(idx):
            out[i][np.arange(lengths[i]), paths[row, :lengths[i]]] = 1.0
    return out
