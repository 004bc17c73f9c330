"""Teacher annotation of a transfer set: logits computed once, stored in checksummed shards.

Shards are ``logits-NNNNN.npy`` files (float32, (n, C)), read back memory-mapped. A shard
whose checksum in ``shards.json`` does not match (partial write, corruption) is recomputed,
so an interrupted annotation resumes at shard granularity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from taskdistil.errors import ArtifactError
from taskdistil.inference import batched_logits
from taskdistil.io import read_json, sha256_file, write_json
from taskdistil.progress import progress
from taskdistil.teacher.model import Teacher, encode_texts, hf_forward

SHARDS = "shards.json"


def annotate(teacher: Teacher, texts: Sequence[str], out_dir: Path, shard_size: int, batch_size: int,
             too_long: str = "error", where: Callable[[int], str] | None = None) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / SHARDS
    index = read_json(index_path) if index_path.is_file() else {}
    if index.get("shard_size") != shard_size or index.get("count") != len(texts):
        index = {"shard_size": shard_size, "count": len(texts), "shards": {}}
    n_shards = (len(texts) + shard_size - 1) // shard_size
    pad = teacher.tokenizer.pad_token_id or 0
    with progress(len(texts), "teacher annotation", unit="ex") as bar:
        for s in range(n_shards):
            start, stop = s * shard_size, min(len(texts), (s + 1) * shard_size)
            name = f"logits-{s:05d}.npy"
            recorded = index["shards"].get(name)
            if recorded and (out_dir / name).is_file() and sha256_file(out_dir / name) == recorded:
                bar.update(stop - start)
                continue
            shard_where = (lambda i, o=start: where(i + o)) if where else None
            ids = encode_texts(teacher.tokenizer, texts[start:stop], teacher.max_length, too_long, shard_where)
            logits = batched_logits(hf_forward(teacher.model), ids, pad, batch_size)
            bar.update(stop - start)
            tmp = out_dir / f".{name}.tmp.npy"
            np.save(tmp, logits, allow_pickle=False)
            tmp.replace(out_dir / name)
            index["shards"][name] = sha256_file(out_dir / name)
            write_json(index_path, index)
    return {"count": len(texts), "shards": n_shards, "num_labels": len(teacher.labels)}


class LogitStore:
    """Memory-mapped read access to annotated logits by global example index."""

    def __init__(self, out_dir: Path, verify: bool = False):
        out_dir = Path(out_dir)
        if not (out_dir / SHARDS).is_file():
            raise ArtifactError(f"{out_dir}: no annotation index ({SHARDS}); run `taskdistil annotate` first")
        index = read_json(out_dir / SHARDS)
        self.shard_size = index["shard_size"]
        self.count = index["count"]
        self.shards = []
        for name in sorted(index["shards"]):
            if verify and sha256_file(out_dir / name) != index["shards"][name]:
                raise ArtifactError(f"{out_dir / name}: checksum mismatch (corrupt shard); rerun annotation")
            self.shards.append(np.load(out_dir / name, mmap_mode="r", allow_pickle=False))
        if sum(len(s) for s in self.shards) != self.count:
            held = sum(len(s) for s in self.shards)
            raise ArtifactError(f"{out_dir}: shards hold {held} rows, expected {self.count}")

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        shard, offset = np.divmod(idx, self.shard_size)
        out = np.empty((len(idx), self.shards[0].shape[1]), dtype=np.float32)
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = self.shards[s][offset[sel]]
        return out
