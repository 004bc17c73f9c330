"""Teacher annotation into checksummed shards, resume at shard granularity, LogitStore reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskdistil.errors import ArtifactError
from taskdistil.teacher.annotate import SHARDS, LogitStore, annotate
from taskdistil.teacher.model import Teacher, load_pretrained, save_teacher

TEXTS = ["a fine film", "not good at all", "the acting is superb , the plot less so", "ok", "meh !",
         "one of the worst movies i have ever seen", "charming", "slow , long and dull",
         "a triumph", "i laughed , i cried , i left early"]
SHARD_NAMES = ["logits-00000.npy", "logits-00001.npy", "logits-00002.npy"]



@pytest.fixture(scope="module")
def teacher(tiny_teacher, tmp_path_factory) -> Teacher:
    labels = ["neg", "neutral", "pos"]
    model, tokenizer = load_pretrained(str(tiny_teacher), labels)
    out = tmp_path_factory.mktemp("annotate_teacher")
    save_teacher(model, tokenizer, out, labels, max_length=24, origin="test")
    return Teacher.load(out)


@pytest.fixture(scope="module")
def expected(teacher) -> np.ndarray:
    return teacher.logits(teacher.encode(TEXTS))


@pytest.fixture
def calls(teacher):
    """Batch sizes of every teacher forward pass: what was actually (re)computed."""
    seen: list[int] = []

    def record(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen.append(int(ids.shape[0]))

    handle = teacher.model.register_forward_pre_hook(record, with_kwargs=True)
    yield seen
    handle.remove()


def _mtimes(out) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in SHARD_NAMES}


def _run(teacher, out):
    return annotate(teacher, TEXTS, out, shard_size=4, batch_size=3)


def test_annotate_matches_direct_logits(teacher, expected, tmp_path, calls):
    out = tmp_path / "ann"
    calls.clear()
    summary = _run(teacher, out)
    assert summary == {"count": 10, "shards": 3, "num_labels": 3}
    assert sum(calls) == 10 and max(calls) <= 3  # every text once, in batches of at most 3
    assert sorted(p.name for p in out.glob("logits-*.npy")) == SHARD_NAMES
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind
    index = json.loads((out / SHARDS).read_text())
    assert index["shard_size"] == 4 and index["count"] == 10 and sorted(index["shards"]) == SHARD_NAMES

    store = LogitStore(out, verify=True)
    assert len(store) == 10
    assert expected.shape == (10, 3) and np.ptp(expected[:, 0]) > 0  # rows differ: lookups are not vacuous
    for idx in ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [9, 0, 5, 5, 3, 9, 4, 8], [7], [2, 2, 2]):
        got = store[np.array(idx)]
        assert got.shape == (len(idx), 3) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected[idx], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(store[[8, 1]], expected[[8, 1]], rtol=1e-5, atol=1e-5)  # plain lists too


def test_rerun_recomputes_nothing(teacher, tmp_path, calls):
    out = tmp_path / "ann"
    _run(teacher, out)
    before = _mtimes(out)
    index_before = (out / SHARDS).read_text()
    calls.clear()
    _run(teacher, out)
    assert calls == []
    assert _mtimes(out) == before
    assert (out / SHARDS).read_text() == index_before


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_rerun_recomputes_only_damaged_shard(teacher, expected, tmp_path, calls, damage):
    out = tmp_path / "ann"
    _run(teacher, out)
    before = _mtimes(out)
    shard = out / SHARD_NAMES[1]
    if damage == "delete":
        shard.unlink()
    else:
        data = bytearray(shard.read_bytes())
        data[-8:] = b"\x00\x00\xc0\x7f" * 2  # the last two floats -> NaN: still a loadable .npy
        shard.write_bytes(bytes(data))
        assert np.isnan(np.load(shard)).any()
    calls.clear()
    _run(teacher, out)
    assert sum(calls) == 4  # only one shard ran through the teacher: 1, by the mtimes below
    after = _mtimes(out)
    assert after[SHARD_NAMES[0]] == before[SHARD_NAMES[0]]
    assert after[SHARD_NAMES[2]] == before[SHARD_NAMES[2]]
    store = LogitStore(out, verify=True)
    np.testing.assert_allclose(store[np.arange(10)], expected, rtol=1e-5, atol=1e-5)


def test_verify_detects_corrupt_shard(teacher, tmp_path):
    out = tmp_path / "ann"
    _run(teacher, out)
    shard = out / SHARD_NAMES[2]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    LogitStore(out)  # without verification the (still well-formed) shard is read as is
    with pytest.raises(ArtifactError, match="checksum") as err:
        LogitStore(out, verify=True)
    assert SHARD_NAMES[2] in str(err.value)


def test_store_without_index_or_with_missing_rows(teacher, tmp_path):
    with pytest.raises(ArtifactError, match=SHARDS):
        LogitStore(tmp_path)
    out = tmp_path / "ann"
    _run(teacher, out)
    index = json.loads((out / SHARDS).read_text())
    index["count"] = 11
    (out / SHARDS).write_text(json.dumps(index))
    with pytest.raises(ArtifactError, match="expected 11"):
        LogitStore(out)


def test_changed_transfer_set_starts_over(teacher, tmp_path, calls):
    out = tmp_path / "ann"
    _run(teacher, out)
    calls.clear()
    annotate(teacher, TEXTS[:7], out, shard_size=4, batch_size=3)
    assert sum(calls) == 7  # a different count invalidates every recorded shard
    store_index = json.loads((out / SHARDS).read_text())
    assert store_index["count"] == 7
