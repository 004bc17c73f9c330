"""Read access to word-level annotations (token tagging, ``taskdistil.teacher.words``): ``logits-NNNNN.npy``
(words of the shard, C) float32 beside ``offsets-NNNNN.npy`` (n + 1,) int64, checksummed in ``shards.json`` as
every annotation shard is (``taskdistil.teacher.annotate``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taskdistil.errors import ArtifactError
from taskdistil.teacher.annotate import LogitStore, _load_shards, _read_index


class WordLogitStore:
    """Memory-mapped read access to word-level annotations (token tagging): per example, its words' logits."""

    def __init__(self, out_dir: Path, verify: bool = False):
        out_dir = Path(out_dir)
        index = _read_index(out_dir)
        if "offsets" not in index:
            raise ArtifactError(f"{out_dir}: the annotations hold one row per example, not per word; rerun "
                                "`taskdistil annotate`")
        self.shard_size = index["shard_size"]
        self.count = index["count"]
        n_shards = len(index["offsets"]["shards"])
        self.offsets = _load_shards(out_dir, index["offsets"]["shards"], self.count + n_shards, verify)
        self.shards = []
        for name, offsets in zip(sorted(index["shards"]), self.offsets):
            (shard,) = _load_shards(out_dir, {name: index["shards"][name]}, int(offsets[-1]), verify)
            self.shards.append(shard)

    def __len__(self) -> int:
        return self.count

    def words(self, idx) -> list[np.ndarray]:
        """Per example of ``idx``, its words' logits (n_words, C) float32."""
        out = []
        for i in np.asarray(idx):
            s, j = divmod(int(i), self.shard_size)
            start, stop = self.offsets[s][j], self.offsets[s][j + 1]
            out.append(np.array(self.shards[s][start:stop], dtype=np.float32))  # a copy, not a view of the file
        return out

    def word_counts(self) -> np.ndarray:
        """(N,) int64: words of every example."""
        return np.concatenate([np.diff(o) for o in self.offsets]) if self.offsets else np.zeros(0, np.int64)


def open_logit_store(out_dir: Path, verify: bool = False) -> LogitStore | WordLogitStore:
    """The annotation store of ``out_dir``: per example (``LogitStore``) or per word (``WordLogitStore``)."""
    return WordLogitStore(out_dir, verify) if "offsets" in _read_index(Path(out_dir)) else LogitStore(out_dir, verify)
