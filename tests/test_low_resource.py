"""The low-resource setting (``data.labeled_per_class``, XtremeDistil): a fixed-seed sample of N training examples
per class for the teacher and the labeled rows, the rest of the training text as unlabeled transfer data."""

from __future__ import annotations

import pytest
import yaml

from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.data.low_resource import keep_per_class
from taskdistil.data.readers import Split
from taskdistil.errors import ConfigError
from taskdistil.io import read_json
from taskdistil.tasks import load_task_data, task_kind
from tests.conftest import tiny_config


def _split(labels: str) -> Split:
    return Split("train.tsv", [f"text {i}" for i in range(len(labels))], list(labels), [i + 2 for i in
                                                                                       range(len(labels))])


def test_keep_per_class_is_a_seeded_sample_per_label_in_file_order():
    split = _split("aabababbbbbbcc")
    kept, rest, counts = keep_per_class(split, 3, seed=7)
    assert counts == {"a": 3, "b": 3, "c": 2}  # c has 2: both kept
    assert sorted(kept.labels) == list("aaabbbcc") and len(rest) == len(split) - 8
    assert sorted(kept.texts + rest.texts) == sorted(split.texts)  # a partition
    assert kept.lines == sorted(kept.lines) and kept.where(0).startswith("train.tsv, line ")  # file order, lines
    assert keep_per_class(split, 3, seed=7)[0].texts == kept.texts  # the seed fixes the sample
    assert any(keep_per_class(split, 3, seed=s)[0].texts != kept.texts for s in range(8, 20))


def test_low_resource_run_trains_the_teacher_on_the_sample_and_annotates_the_rest(tmp_path, sst2_small, tiny_teacher):
    students = [{"name": "kd", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "train": {"epochs": 1}},
                {"name": "nokd", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "transfer_origins": ["labeled"],
                 "stages": [{"objective": "hard_labels", "train": {"epochs": 3}}]}]
    path = tiny_config(tmp_path, sst2_small, tiny_teacher, students=students)
    tree = yaml.safe_load(path.read_text())
    tree["data"]["labeled_per_class"] = 20
    path.write_text(yaml.safe_dump(tree))
    config = load_config(path)
    data = load_task_data(config)
    assert len(data.train) == 40 and len(data.rest) == 260 and sorted(set(data.train.labels)) == ["0", "1"]
    assert main(["run", str(path)]) == 0
    run = tmp_path / "run"
    summary = read_json(run / "transfer" / "summary.json")
    assert summary["by_origin"]["labeled"] == 40
    assert summary["sources"][0]["examples_read"] == 260  # the rest, all read
    assert summary["by_origin"]["unlabeled"] == 260 - summary["sources"][0]["duplicates"]
    teacher = read_json(run / "teacher" / "manifest.json")
    assert teacher["inputs"]["data"]["labeled_per_class"] == 20  # the sample keys every stage
    nokd = read_json(run / "students" / "nokd" / "manifest.json")
    assert nokd["status"] == "complete"
    assert read_json(run / "students" / "kd" / "manifest.json")["status"] == "complete"


def test_labeled_per_class_keys_only_where_set_and_only_for_classification(tmp_path, sst2_small, tiny_teacher):
    config = load_config(tiny_config(tmp_path, sst2_small, tiny_teacher))
    assert "labeled_per_class" not in task_kind(config.data.task).reading(config.data)  # old keys unchanged
    path = tiny_config(tmp_path, sst2_small, tiny_teacher)
    tree = yaml.safe_load(path.read_text())
    tree["data"].update(task="token_tagging", labeled_per_class=5)
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match="labeled_per_class is a setting of tasks 'single_sentence' and "
                                          "'sentence_pair'"):
        load_config(path)
