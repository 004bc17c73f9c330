"""Overlapping word windows for sentences longer than the teacher's ``max_length`` in sub-words.

A sentence is cut at word boundaries into windows ``[start, end)`` whose sub-words fit ``max_subwords`` (the caller
subtracts the special tokens from ``max_length``); consecutive windows share up to ``overlap_words`` words of
context. Every word is predicted by exactly one window, its keep range ``[keep_start, keep_end)``: in an overlap the
first half goes to the earlier window and the second half to the later one, so a word is labelled where it has
context on both sides. The keep ranges partition the sentence, so ``join_windows`` rejoins the windows' outputs
without dropping or repeating a word, and no gold tag is truncated. A single word longer than ``max_subwords`` is a
window of its own with ``cut=True``: the caller keeps its first sub-words (the one that carries its label) and
counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    start: int  # first word of the window
    end: int  # one past its last word
    keep_start: int  # first word this window predicts
    keep_end: int  # one past the last word it predicts
    cut: bool = False  # one word whose sub-words alone exceed max_subwords: the caller cuts them (count it)


def word_windows(subword_counts: Sequence[int], max_subwords: int, overlap_words: int) -> list[Window]:
    """Windows covering a sentence whose word i has ``subword_counts[i]`` sub-words (see the module docstring).
    One window ``[0, n)`` when the sentence fits; none for an empty sentence."""
    if max_subwords < 1:
        raise ValueError(f"max_subwords must be >= 1, got {max_subwords}")
    if overlap_words < 0:
        raise ValueError(f"overlap_words must be >= 0, got {overlap_words}")
    n = len(subword_counts)
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end, used = start, 0
        while end < n and used + max(subword_counts[end], 0) <= max_subwords:
            used += max(subword_counts[end], 0)
            end += 1
        end = max(end, start + 1)  # a word longer than the window stands alone (cut by the caller)
        ranges.append((start, end))
        if end == n:
            break
        start = max(end - overlap_words, start + 1)
    # boundary between windows k and k+1: the middle of their overlap (monotone, inside both windows)
    bounds = [0] + [(ranges[k + 1][0] + ranges[k][1]) // 2 for k in range(len(ranges) - 1)] + [n]
    windows = []
    for k, (start, end) in enumerate(ranges):
        if bounds[k] < bounds[k + 1]:  # a window whose keep range is empty predicts nothing: left out
            windows.append(Window(start, end, bounds[k], bounds[k + 1],
                                  cut=end - start == 1 and subword_counts[start] > max_subwords))
    return windows


def join_windows(windows: Sequence[Window], outputs: Sequence) -> list | np.ndarray:
    """One sentence's per-word outputs from each window's per-word outputs (``outputs[k][i]`` is word
    ``windows[k].start + i``): the keep ranges concatenated. Arrays are concatenated on their first axis."""
    if len(windows) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {len(windows)} windows")
    parts = []
    for window, out in zip(windows, outputs):
        if len(out) != window.end - window.start:
            raise ValueError(f"window [{window.start}, {window.end}) has {len(out)} outputs")
        parts.append(out[window.keep_start - window.start: window.keep_end - window.start])
    if parts and isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=0)
    return [item for part in parts for item in part]
