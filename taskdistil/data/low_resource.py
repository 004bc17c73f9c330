"""The low-resource setting of XtremeDistil (Mukherjee & Hassan Awadallah 2020, METHODS.md): a few labeled examples
per class, and the rest of the training text as unlabeled transfer data.

``keep_per_class`` samples ``per_class`` training examples of each class with a fixed seed (a class with fewer keeps
all of them, and the log says so); the examples left out lose their labels and join the transfer set as unlabeled
text (``taskdistil.transfer.build``). The teacher fine-tunes on the kept examples only.
"""

from __future__ import annotations

import random
from collections import defaultdict

from taskdistil.data.readers import Split


def keep_per_class(split: Split, per_class: int, seed: int) -> tuple[Split, Split, dict[str, int]]:
    """(the kept examples, the rest with their labels, kept count per label) of ``split``: ``per_class`` examples
    of each label drawn with ``random.Random(seed)``, in file order."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(split.labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    kept: set[int] = set()
    for label in sorted(by_label):
        rows = by_label[label]
        kept.update(rows if len(rows) <= per_class else rng.sample(rows, per_class))
    order = range(len(split))
    keep, rest = [i for i in order if i in kept], [i for i in order if i not in kept]
    counts = {label: sum(1 for i in rows if i in kept) for label, rows in sorted(by_label.items())}
    return _subset(split, keep), _subset(split, rest), counts


def _subset(split: Split, rows: list[int]) -> Split:
    return Split(split.source, [split.texts[i] for i in rows], [split.labels[i] for i in rows],
                 [split.lines[i] for i in rows] if split.lines else [i for i in rows])
