"""Teacher annotation of a transfer set: logits (and [CLS] states) computed once, stored in checksummed shards.

Shards are ``logits-NNNNN.npy`` files (float32, (n, C)), read back memory-mapped. When teacher states
are requested (Patient KD students, representation stages), each shard also gets ``hidden-NNNNN.npy``: float16
(n, L, H), one state per requested name (in ``shards.json`` under ``hidden.layers``), from the same forward pass
as the logits. A state is named by a teacher layer L (1-based): ``L`` is the [CLS] state after layer L, ``"L:mean"``
the mean of that layer's token states (padding excluded; for teachers whose [CLS] carries little, such as
mean-pooled sentence encoders). A shard whose checksum in
``shards.json`` does not match (partial write, corruption) is recomputed, so an interrupted
annotation resumes at shard granularity. Without layers ``shards.json`` has no ``hidden`` entry.

What a shard holds follows the teacher's task-kind unit (``ROWS``): one logit row per example (above), or for
word-level kinds (token tagging) one row per word: ``logits-NNNNN.npy`` (total words of the shard, C) float32 and
``offsets-NNNNN.npy`` (n + 1,) int64, example i's words being rows offsets[i]:offsets[i + 1]
(``taskdistil.teacher.words``; read by ``WordLogitStore``); ``shards.json`` then has an ``offsets`` entry.

Under a multi-process launch (``taskdistil.distributed``) rank r computes the shards s with s % world == r;
each rank records its finished shards in ``shards.rank-<r>.json`` (same layout), which rank 0 merges into
``shards.json`` at the end, and at the start of any later run (an interrupted one, of any world size), so
every valid shard is reused. A shard is the same batches whatever the world size: the same logits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from taskdistil import distributed
from taskdistil.data.length import TooLong, offset
from taskdistil.data.pairs import Example
from taskdistil.devices import ACCELERATOR_TOKENS, CPU, Placement, log_placement
from taskdistil.errors import ArtifactError
from taskdistil.inference import batched_logits
from taskdistil.io import read_json, sha256_file, write_json
from taskdistil.pooling import masked_mean
from taskdistil.progress import progress
from taskdistil.tasks import task_kind
from taskdistil.teacher.model import Teacher, encode_texts, hf_forward
from taskdistil.teacher.words import word_rows

SHARDS = "shards.json"
TeacherState = int | str  # L: the [CLS] state after teacher layer L; "L:mean": the mean of its token states
RANK_SHARDS = "shards.rank-*.json"  # a rank's own record during a multi-process annotation


def annotate(teacher: Teacher, texts: Sequence[Example], out_dir: Path, shard_size: int, batch_size: int,
             too_long: TooLong = "error", where: Callable[[int], str] | None = None,
             layers: Sequence[TeacherState] = (), placement: Placement = CPU, max_tokens: int | None = None,
             overlap_words: int = 8) -> dict:
    """Annotate ``texts`` into ``out_dir`` on ``placement``'s device and precision (logits stored in float32). Batches
    hold ``batch_size`` examples, or with ``max_tokens`` (default on accelerators: ``ACCELERATOR_TOKENS``) at most
    that many padded tokens. ``overlap_words``: words shared by the windows of an over-long sentence (word units)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = _checked_states(teacher, layers)
    unit = task_kind(teacher.task).unit
    index = _open_index(out_dir, shard_size, len(texts), layers, unit) if distributed.is_main() else None
    index = distributed.broadcast(index)
    world, rank = distributed.world_size(), distributed.rank()
    if world == 1:
        own, own_path = index, out_dir / SHARDS  # this process's record of finished shards
    else:
        own, own_path = _empty_like(index), out_dir / RANK_SHARDS.replace("*", str(rank))
    n_shards = (len(texts) + shard_size - 1) // shard_size
    mine = range(rank, n_shards, world)
    placement.module(teacher.model)
    if max_tokens is None and not placement.on_cpu:
        max_tokens = ACCELERATOR_TOKENS
    log_placement("annotate", placement)
    rows_of = ROWS[unit](teacher, batch_size, layers, overlap_words, placement, max_tokens)  # texts -> {prefix: array}
    rows = sum(min(len(texts), (s + 1) * shard_size) - s * shard_size for s in mine)
    desc = "teacher annotation" + (f" (rank 0's share of {world})" if world > 1 else "")
    with progress(rows, desc, unit="ex", enabled=distributed.is_main()) as bar:
        for s in mine:
            start, stop = s * shard_size, min(len(texts), (s + 1) * shard_size)
            if all(_valid(out_dir, f"{prefix}-{s:05d}.npy", recorded)
                   for prefix, recorded in _sections(index).items()):
                bar.update(stop - start)
                continue
            shard_where = (lambda i, o=start: where(i + o)) if where else None
            arrays = rows_of(texts[start:stop], offset(too_long, start), shard_where)
            bar.update(stop - start)
            sections = _sections(own)
            for prefix, array in arrays.items():
                name = f"{prefix}-{s:05d}.npy"
                sections[prefix][name] = _save(out_dir, name, array)
            write_json(own_path, own)
    if world > 1:
        distributed.barrier()  # every rank's shards are recorded
        if distributed.is_main():
            _merge_rank_records(out_dir, index)
        distributed.barrier()  # shards.json is complete
    summary = {"count": len(texts), "shards": n_shards, "num_labels": len(teacher.labels)}
    if layers:
        summary["hidden_layers"] = layers
        if distributed.is_main():
            summary["hidden_spread"] = {str(layer): round(value, 8)
                                        for layer, value in HiddenStore(out_dir).spread().items()}
    return summary


def _example_rows(teacher: Teacher, batch_size: int, layers: list[TeacherState], overlap_words: int,
                  placement: Placement, max_tokens: int | None):
    """A shard's texts -> {"logits": (n, C) float32[, "hidden": (n, L, H) float16]}: one row per example."""
    pad = teacher.tokenizer.pad_token_id or 0
    forward = _logits_and_cls(teacher.forward_model, layers) if layers else hf_forward(teacher.forward_model)
    num_labels = len(teacher.labels)

    def rows(texts: Sequence[Example], too_long, where) -> dict[str, np.ndarray]:
        ids = encode_texts(teacher.tokenizer, texts, teacher.max_length, too_long, where)
        out = batched_logits(forward, ids, pad, batch_size, placement=placement,
                             max_tokens=max_tokens)  # (n, C), or (n, C + L * H) with layers
        arrays = {"logits": np.ascontiguousarray(out[:, :num_labels])}
        if layers:
            arrays["hidden"] = out[:, num_labels:].reshape(len(ids), len(layers), -1).astype(np.float16)
        return arrays

    return rows


# by the task kind's unit: what a shard holds (aspect: the concatenated per-aspect logits, one row per example)
ROWS = {"example": _example_rows, "word": word_rows, "aspect": _example_rows}


def _sections(index: dict) -> dict[str, dict]:
    """{file prefix: that kind of file's recorded checksums} of an annotation index (in place: editable)."""
    sections = {"logits": index["shards"]}
    for prefix in ("hidden", "offsets"):
        if prefix in index:
            sections[prefix] = index[prefix]["shards"]
    return sections


def _open_index(out_dir: Path, shard_size: int, count: int, layers: list[int], unit: str = "example") -> dict:
    """The index an annotation starts from: ``shards.json`` less what no longer holds (another shard size, count
    or layers: those shards are stale), plus the shards the ranks of an interrupted multi-process run recorded.
    Written back when that changed it, even if no shard needs recomputing."""
    index_path = out_dir / SHARDS
    recorded = read_json(index_path) if index_path.is_file() else {}
    index = copy.deepcopy(recorded)
    if (index.get("shard_size") != shard_size or index.get("count") != count
            or ("offsets" in index) != (unit == "word")):
        index = {"shard_size": shard_size, "count": count, "shards": {}}
        if unit == "word":
            index["offsets"] = {"shards": {}}
    stale_hidden = index.get("hidden", {}).get("layers") != (layers or None)
    if stale_hidden:
        index.pop("hidden", None)
        if layers:
            index["hidden"] = {"layers": layers, "shards": {}}
    parts = sorted(out_dir.glob(RANK_SHARDS))
    _with_rank_records(index, parts)
    if stale_hidden:  # other layers' states, unless a rank record just vouched for them
        kept = index.get("hidden", {}).get("shards", {})
        for stale in out_dir.glob("hidden-*.npy"):
            if stale.name not in kept:
                stale.unlink()
    if (recorded or parts) and index != recorded:
        write_json(index_path, index)
    for part in parts:
        part.unlink()
    return index


def _merge_rank_records(out_dir: Path, index: dict) -> None:
    """``shards.json`` := ``index`` plus every rank's record; the records are removed once it is written."""
    parts = sorted(out_dir.glob(RANK_SHARDS))
    write_json(out_dir / SHARDS, _with_rank_records(index, parts))
    for part in parts:
        part.unlink()


def _with_rank_records(index: dict, parts: list[Path]) -> dict:
    """``index`` (updated in place) plus the shards of the rank records ``parts`` of the same annotation (shard
    size, count, hidden layers); records of another annotation are stale and left out."""
    for path in parts:
        part = read_json(path)
        if _annotation(part) != _annotation(index):
            continue
        index["shards"] = dict(sorted({**index["shards"], **part["shards"]}.items()))
        for prefix in ("hidden", "offsets"):
            if prefix in part:
                section = index[prefix]
                section["shards"] = dict(sorted({**section["shards"], **part[prefix]["shards"]}.items()))
    return index


def _annotation(index: dict) -> tuple:
    return index.get("shard_size"), index.get("count"), index.get("hidden", {}).get("layers"), "offsets" in index


def _empty_like(index: dict) -> dict:
    """The same annotation (shard size, count, hidden layers) without any shard."""
    empty = {"shard_size": index["shard_size"], "count": index["count"], "shards": {}}
    if "hidden" in index:
        empty["hidden"] = {"layers": index["hidden"]["layers"], "shards": {}}
    if "offsets" in index:
        empty["offsets"] = {"shards": {}}
    return empty


def state_name(layer: int, pooling: str | None = None) -> TeacherState:
    """The name of a teacher state: ``layer`` for its [CLS] state (pooling None or 'cls'), ``"layer:mean"``."""
    return layer if pooling in (None, "cls") else f"{layer}:{pooling}"


def parse_state(state: TeacherState) -> tuple[int, str]:
    """(layer, 'cls' or 'mean') of a state name."""
    if isinstance(state, int):
        return state, "cls"
    layer, _, pooling = str(state).partition(":")
    return int(layer), pooling or "cls"


def sorted_states(states) -> list[TeacherState]:
    """Distinct state names: the [CLS] states by layer, then the mean-pooled ones (a run without mean-pooled states
    keeps the plain sorted layer list it always had)."""
    return sorted(set(states), key=lambda s: (isinstance(s, str), parse_state(s)[0]))


def _checked_states(teacher: Teacher, states: Sequence[TeacherState]) -> list[TeacherState]:
    depth = teacher.model.config.num_hidden_layers
    checked = [s if isinstance(s, str) else int(s) for s in states]
    for state in checked:
        try:
            layer, pooling = parse_state(state)
        except ValueError:
            layer, pooling = 0, "?"
        if not 1 <= layer <= depth or pooling not in ("cls", "mean"):
            raise ArtifactError(f"teacher state {state!r}: the teacher has layers 1..{depth} (a state is a layer L "
                                "for its [CLS] state, or 'L:mean')")
    return checked


def teacher_states(teacher: Teacher, texts: Sequence[Example], layers: Sequence[TeacherState], batch_size: int,
                   too_long: str = "error", where: Callable[[int], str] | None = None) -> np.ndarray:
    """(n, L, H) float32: the teacher's states named ``layers`` for ``texts``, not stored (e.g. the dev split, to
    evaluate a representation stage)."""
    layers = _checked_states(teacher, layers)
    ids = encode_texts(teacher.tokenizer, texts, teacher.max_length, too_long, where)
    out = batched_logits(_logits_and_cls(teacher.forward_model, layers), ids, teacher.tokenizer.pad_token_id or 0,
                         batch_size)
    return out[:, len(teacher.labels):].reshape(len(ids), len(layers), -1)


def _logits_and_cls(model, layers: list[TeacherState]):
    """A ``Forward`` returning the logits and the states named ``layers`` side by side: (B, C + L * H)."""
    import torch

    model.eval()
    parsed = [parse_state(state) for state in layers]

    def forward(ids, mask):
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        states = [out.hidden_states[layer][:, 0] if pooling == "cls" else masked_mean(out.hidden_states[layer], mask)
                  for layer, pooling in parsed]
        return torch.cat([out.logits, torch.stack(states, dim=1).flatten(1)], dim=1)  # states: (B, L, H)

    return forward


def _valid(out_dir: Path, name: str, recorded: dict) -> bool:
    checksum = recorded.get(name)
    return bool(checksum) and (out_dir / name).is_file() and sha256_file(out_dir / name) == checksum


def _save(out_dir: Path, name: str, array: np.ndarray) -> str:
    """Write atomically; returns the file's checksum."""
    tmp = out_dir / f".{name}.tmp.npy"
    np.save(tmp, array, allow_pickle=False)
    tmp.replace(out_dir / name)
    return sha256_file(out_dir / name)


def _load_shards(out_dir: Path, recorded: dict, count: int, verify: bool) -> list[np.ndarray]:
    shards = []
    for name in sorted(recorded):
        if not (out_dir / name).is_file():
            raise ArtifactError(f"{out_dir / name}: shard is missing; rerun annotation")
        if verify and sha256_file(out_dir / name) != recorded[name]:
            raise ArtifactError(f"{out_dir / name}: checksum mismatch (corrupt shard); rerun annotation")
        shards.append(np.load(out_dir / name, mmap_mode="r", allow_pickle=False))
    held = sum(len(s) for s in shards)
    if held != count:
        raise ArtifactError(f"{out_dir}: shards hold {held} rows, expected {count}")
    return shards


def _read_index(out_dir: Path) -> dict:
    if not (out_dir / SHARDS).is_file():
        raise ArtifactError(f"{out_dir}: no annotation index ({SHARDS}); run `taskdistil annotate` first")
    return read_json(out_dir / SHARDS)


def _gather(shards: list[np.ndarray], shard_size: int, idx, dtype) -> np.ndarray:
    """Rows ``idx`` (global example indices) of row-sharded arrays, in the order given."""
    idx = np.asarray(idx)
    shard, offset = np.divmod(idx, shard_size)
    out = np.empty((len(idx), *shards[0].shape[1:]), dtype=dtype)
    for s in np.unique(shard):
        sel = shard == s
        out[sel] = shards[s][offset[sel]]
    return out


class LogitStore:
    """Memory-mapped read access to annotated logits by global example index."""

    def __init__(self, out_dir: Path, verify: bool = False):
        out_dir = Path(out_dir)
        index = _read_index(out_dir)
        self.shard_size = index["shard_size"]
        self.count = index["count"]
        self.shards = _load_shards(out_dir, index["shards"], self.count, verify)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return _gather(self.shards, self.shard_size, idx, np.float32)  # (B, C)


class HiddenStore:
    """Memory-mapped read access to the teacher's stored states (float16) by global example index."""

    def __init__(self, out_dir: Path, verify: bool = False):
        out_dir = Path(out_dir)
        index = _read_index(out_dir)
        if "hidden" not in index:
            raise ArtifactError(f"{out_dir}: the annotations hold no teacher hidden states; rerun "
                                "`taskdistil annotate` with a Patient KD student (loss.pkd_weight > 0) or a "
                                "representation stage configured")
        self.layers: list[TeacherState] = index["hidden"]["layers"]  # state names, in stored order
        self.shard_size = index["shard_size"]
        self.count = index["count"]
        self.shards = _load_shards(out_dir, index["hidden"]["shards"], self.count, verify)

    def __len__(self) -> int:
        return self.count

    def read(self, idx: np.ndarray, layers: Sequence[TeacherState]) -> np.ndarray:
        """(B, len(layers), H) float16: the teacher states named ``layers`` for examples ``idx``."""
        missing = sorted_states(set(layers) - set(self.layers))
        if missing:
            raise ArtifactError(f"teacher layers {missing} are not in the annotations (stored: {self.layers}); "
                                "rerun `taskdistil annotate`")
        rows = _gather(self.shards, self.shard_size, idx, np.float16)  # (B, L, H)
        return rows[:, [self.layers.index(layer) for layer in layers]]

    def spread(self) -> dict[TeacherState, float]:
        """Per stored state: how much it varies across examples, as the mean over dimensions of the
        variance across examples divided by the mean square, sum_d Var_n(h_nd) / sum_d E_n(h_nd^2), in [0, 1].
        Near 0, the state is one constant vector whatever the text (a [CLS] token no pre-training objective
        used, e.g. in mean-pooled sentence encoders): matching it teaches a student next to nothing.
        Streams the shards in float64 sums."""
        total = np.zeros((len(self.layers), self.shards[0].shape[-1]))
        total_sq = np.zeros_like(total)
        for shard in self.shards:
            rows = np.asarray(shard, dtype=np.float64)  # (n, L, H)
            total += rows.sum(axis=0)
            total_sq += np.square(rows).sum(axis=0)
        mean, mean_sq = total / self.count, total_sq / self.count
        variance = np.maximum(mean_sq - np.square(mean), 0.0)
        return {layer: float(variance[i].sum() / max(mean_sq[i].sum(), 1e-30)) for i, layer in enumerate(self.layers)}
