"""Batched word-level inference shared by teacher and students: per-token logits of every window, gathered at the
first sub-token of each word the window keeps, rejoined per sentence (``taskdistil.tasks.words``)."""

from __future__ import annotations

import numpy as np

from taskdistil.inference import Forward
from taskdistil.progress import progress
from taskdistil.tasks.words import WordEncoding
from taskdistil.train.batching import LengthBuckets, pad_ids


def word_logits(forward: Forward, encoding: WordEncoding, pad_id: int, batch_size: int = 128,
                desc: str | None = None, pad=None, placement=None) -> list[np.ndarray]:
    """Per sentence, its words' logits (n_words, C) float32. ``forward(ids, mask)`` returns per-token logits
    (B, T, C); ``pad`` as in ``taskdistil.inference.batched_logits`` (default: torch tensors under no_grad, on
    ``placement``'s device and precision when given)."""
    if pad is not None:
        return _word_logits(forward, encoding, pad_id, batch_size, desc, pad)
    import torch

    with torch.no_grad():
        if placement is None:
            return _word_logits(forward, encoding, pad_id, batch_size, desc, pad_ids)

        def on_device(ids, mask):
            with placement.autocast():
                return forward(placement.to(ids), placement.to(mask)).float().cpu()

        return _word_logits(on_device, encoding, pad_id, batch_size, desc, pad_ids)


def _word_logits(forward: Forward, encoding: WordEncoding, pad_id: int, batch_size: int, desc: str | None,
                 pad) -> list[np.ndarray]:
    pieces = encoding.pieces
    out: list[np.ndarray | None] = [None] * encoding.sentences
    batches = LengthBuckets([len(p.ids) for p in pieces], batch_size, shuffle=False).epoch(0)
    with progress(len(pieces), desc or "", unit="window", enabled=desc is not None) as bar:
        for idx in batches:
            ids, mask = pad([pieces[i].ids for i in idx], pad_id)
            logits = forward(ids, mask)
            logits = np.asarray(logits if isinstance(logits, np.ndarray) else logits.float().numpy(), np.float32)
            for row, i in enumerate(idx):
                piece = pieces[i]
                if out[piece.sentence] is None:
                    out[piece.sentence] = np.zeros((encoding.words[piece.sentence], logits.shape[-1]), np.float32)
                kept = piece.positions[piece.keep_start - piece.start: piece.keep_end - piece.start]
                out[piece.sentence][piece.keep_start:piece.keep_end] = logits[row, kept]
            bar.update(len(idx))
    return [np.zeros((0, 0), np.float32) if o is None else o for o in out]
