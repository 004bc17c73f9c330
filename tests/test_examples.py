"""The shipped example configs validate against the schema (a renamed key or recipe breaks them here, not
in a user's two-hour run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from taskdistil.config import RunConfig

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))


def _validated(path: Path, data_dir: Path) -> RunConfig:
    """The example's config over the shared data (the schema only: the teachers it adopts need not exist)."""
    tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    tree["data"]["dir"] = str(data_dir)
    return RunConfig.model_validate(tree)


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"sst2.yaml", "sst2-zoo.yaml", "sst2-transfer.yaml", "mrpc.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_validates(path, shared_data):
    config = _validated(path, shared_data)
    assert config.students and len({s.name for s in config.students}) == len(config.students)


def test_zoo_names_start_with_their_kind_and_every_recipe_has_three_seeds(shared_data):
    config = _validated(EXAMPLES_DIR / "sst2-zoo.yaml", shared_data)
    seeds: dict[str, set[int]] = {}
    for student in config.students:
        assert student.name.startswith(student.kind + "-"), student.name
        seeds.setdefault(re.sub(r"-s\d+$", "", student.name), set()).add(student.seed)
    assert {"transformer-pkd-skip", "transformer-kd", "transformer-finetune", "bilstm-xtremedistil",
            "bilstm-single-stage", "bilstm-xtremedistil-small", "bilstm-single-stage-small"} <= set(seeds)
    assert all(s == {1, 2, 3} for s in seeds.values()), seeds
    kinds = {s.kind for s in config.students}
    assert kinds == {"bilstm", "cnn", "transformer", "hf"}


TAGGING_EXAMPLES = ("nergrit.yaml", "posp.yaml", "terma.yaml", "wikiann_en.yaml")


@pytest.mark.parametrize("name", TAGGING_EXAMPLES)
def test_tagging_examples_read_their_data_and_transfer_sources(name, shared_data):
    from itertools import islice

    from taskdistil.tasks import task_kind
    from taskdistil.transfer.word_sources import read_unlabeled_words

    config = _validated(EXAMPLES_DIR / name, shared_data)
    assert config.data.task == "token_tagging"
    assert {s.kind for s in config.students} == {"bilstm", "cnn"}
    assert config.teacher.train.epochs <= 3 and all(s.train.epochs <= 8 for s in config.students)  # 2-core CPU
    data = task_kind("token_tagging").load(config)
    assert data.labels.scheme == ("plain" if name == "posp.yaml" else "iob2")
    assert not any(w.startswith(("en:", "id:")) for s in data.inputs("train")[:200] for w in s)
    for source in config.transfer.unlabeled:
        words = [w for w, _ in islice(read_unlabeled_words(source, config.data_source(source.path)), 50)]
        assert len(words) == 50 and all(len(w) >= source.min_words for w in words)
        assert not any(t.startswith("id:") for s in words for t in s)  # WikiANN's prefix stripped
    if config.transfer.augment is not None:
        assert Path(config.data_file(config.transfer.augment.pos_lexicon)).is_file()


def test_nergrit_example_uses_wikiann_extra_and_news_as_unlabeled_transfer_data(shared_data):
    config = _validated(EXAMPLES_DIR / "nergrit.yaml", shared_data)
    paths = {s.path: s for s in config.transfer.unlabeled}
    assert paths["wikiann/id/extra"].format == "conll"
    assert "id-news-unlabeled/sentences.txt" in paths
    assert all(s.max_examples for s in config.transfer.unlabeled)


@pytest.mark.parametrize("name", ["mrpc.yaml", "wrete.yaml", "casa.yaml"])
def test_pair_and_aspect_examples_list_every_student_kind(name, shared_data):
    from taskdistil.students.registry import STUDENT_KINDS

    config = _validated(EXAMPLES_DIR / name, shared_data)
    assert config.data.task == ("multi_aspect" if name == "casa.yaml" else "sentence_pair")
    assert sorted(s.kind for s in config.students) == sorted(STUDENT_KINDS)  # one student of each kind
    assert all(s.seed is None for s in config.students)  # the run's seed; bench/task_kinds.py --seeds repeats them
