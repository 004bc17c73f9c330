"""Transfer sets: unlabeled sources, dedup, sampling, caps, origins, lazy reading, and the pipeline stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskdistil.cli import main
from taskdistil.config import UnlabeledSource, load_config
from taskdistil.data import Split
from taskdistil.errors import DataError
from taskdistil.io import read_json
from taskdistil.transfer.build import build_transfer_set, sample, text_key
from taskdistil.transfer.sources import SourceCounts, clean_html, read_unlabeled, split_sentences
from taskdistil.transfer.store import TransferSet

from conftest import tiny_config


def _config(tmp_path, transfer: dict, seed: int = 1):
    (tmp_path / "t.tsv").write_text("sentence\tlabel\nx\t0\n")
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"seed": seed, "data": {"dir": str(tmp_path), "train": "t.tsv", "dev": "t.tsv",
                                                        "test": "t.tsv"}, "transfer": transfer}))
    return load_config(path)


def _train(texts):
    return Split("train.tsv", list(texts), ["0"] * len(texts), list(range(2, len(texts) + 2)))


def test_sentence_split_and_html_cleaning():
    assert clean_html("Great film.<br /><br />Loved <i>it</i>!") == "Great film. Loved it !"
    assert split_sentences('Mr. Smith left. It rained! "Why?" she asked. Fine') == [
        "Mr. Smith left.", "It rained!", '"Why?" she asked.', "Fine"]
    assert split_sentences("no boundary here") == ["no boundary here"]
    assert split_sentences("a lower-case start. is not one") == ["a lower-case start. is not one"]


def test_text_source_filters_and_names_lines(tmp_path):
    (tmp_path / "u.txt").write_text("One two three. Four.\n\nfive six seven eight nine ten eleven\n")
    counts = SourceCounts()
    source = UnlabeledSource(path="u.txt", split_sentences=True, min_words=2, max_words=5)
    rows = list(read_unlabeled(source, str(tmp_path / "u.txt"), counts))
    assert [text for text, _ in rows] == ["One two three."]
    assert rows[0][1].endswith("u.txt, line 1, sentence 1")
    assert (counts.documents, counts.too_short, counts.too_long) == (2, 1, 1)


def test_jsonl_and_csv_columns_and_their_errors(tmp_path):
    (tmp_path / "u.jsonl").write_text('{"review": "a b"}\n{"other": 1}\n')
    source = UnlabeledSource(path="u.jsonl", column="review")
    with pytest.raises(DataError, match=r"u.jsonl, line 2: no key 'review'"):
        list(read_unlabeled(source, str(tmp_path / "u.jsonl")))
    (tmp_path / "u.csv").write_text('id,body\n1,"hello, world"\n2,bye\n')
    rows = list(read_unlabeled(UnlabeledSource(path="u.csv", column="body"), str(tmp_path / "u.csv")))
    assert [t for t, _ in rows] == ["hello, world", "bye"]
    with pytest.raises(DataError, match="no column 'text'"):
        list(read_unlabeled(UnlabeledSource(path="u.csv"), str(tmp_path / "u.csv")))
    with pytest.raises(DataError, match="not found"):
        list(read_unlabeled(UnlabeledSource(path="missing.txt"), str(tmp_path / "missing.txt")))


def test_sample_is_a_seeded_uniform_reservoir_in_input_order():
    first = list(sample(range(100), 10, "first", 0))
    assert first == list(range(10))
    a, b = list(sample(range(1000), 50, "random", 3)), list(sample(range(1000), 50, "random", 3))
    assert a == b and a == sorted(a) and len(set(a)) == 50
    assert a != list(sample(range(1000), 50, "random", 4))
    assert np.mean(a) == pytest.approx(500, abs=120)  # spread over the whole stream, not its head


def test_build_keeps_labeled_rows_drops_duplicates_and_records_origins(tmp_path):
    (tmp_path / "u.txt").write_text("a good film\nnew  text here\na   good film\nnew text here\nanother one\n")
    config = _config(tmp_path, {"unlabeled": [{"path": "u.txt"}]})
    train = _train(["a good film", "bad", "bad"])  # labeled duplicates kept: each has its gold label
    summary = build_transfer_set(config, train, tmp_path / "ts")
    ts = TransferSet(tmp_path / "ts")
    assert ts[:] == ["a good film", "bad", "bad", "new text here", "another one"]
    assert summary["by_origin"] == {"labeled": 3, "unlabeled": 2, "augmented": 0}
    assert summary["sources"][0]["duplicates"] == 3
    assert list(ts.labeled_rows) == [0, 1, 2, -1, -1]
    assert list(ts.origins) == [0, 0, 0, 1, 1]
    assert ts.where(1) == "train.tsv, line 3"
    assert ts.where(4).endswith("u.txt, line 5")
    assert ts[3] == "new text here" and ts[3:5] == ["new text here", "another one"]
    assert sum(summary["length_histogram_words"]["unlabeled"].values()) == 2


def test_source_and_total_caps(tmp_path):
    (tmp_path / "u.txt").write_text("".join(f"sentence number {i}\n" for i in range(200)))
    config = _config(tmp_path, {"unlabeled": [{"path": "u.txt", "max_examples": 20, "sample": "random"}]})
    build_transfer_set(config, _train(["x"]), tmp_path / "a")
    picked = TransferSet(tmp_path / "a")[1:]
    assert len(picked) == 20 and picked != [f"sentence number {i}" for i in range(20)]
    build_transfer_set(config, _train(["x"]), tmp_path / "b")
    assert TransferSet(tmp_path / "b")[1:] == picked  # deterministic under the seed
    capped = _config(tmp_path, {"unlabeled": [{"path": "u.txt"}], "max_examples": 50})
    summary = build_transfer_set(capped, _train(["x"]), tmp_path / "c")
    assert summary["count"] == 50 and summary["capped"]


def test_augmented_rows_name_their_parent(tmp_path):
    config = _config(tmp_path, {"augment": {"pos": "none", "n_iter": 4, "p_mask": 0.5, "p_ng": 0.0}})
    train = _train(["the movie was really very good", "an utterly boring and long film"])
    summary = build_transfer_set(config, train, tmp_path / "ts")
    ts = TransferSet(tmp_path / "ts")
    rows = ts.rows(0, len(ts))
    augmented = [r for r in rows if r["origin"] == "augmented"]
    assert summary["by_origin"]["augmented"] == len(augmented) > 0
    assert all("[MASK]" in r["text"] for r in augmented)
    assert {r["parent"] for r in augmented} == {0, 1}
    assert len({text_key(r["text"]) for r in rows}) == len(rows)  # no duplicates
    assert "augmented from example" in ts.where(len(ts) - 1)


def test_transfer_stage_feeds_annotation_and_distillation(tmp_path, sst2_small, tiny_teacher):
    over_long = " ".join(f"word{i}" for i in range(80))  # > max_length 64: unlabeled rows are truncated
    (sst2_small / "extra.txt").write_text(over_long + "\n" + "".join(
        f"an unlabeled review sentence number {i} .\n" for i in range(150)))
    config = tiny_config(tmp_path, sst2_small, tiny_teacher,  # data.too_long stays "error" for labeled rows
                         transfer={"unlabeled": [{"path": "extra.txt", "max_examples": 100, "sample": "first"}]})
    assert main(["run", str(config)]) == 0
    run_dir = tmp_path / "run"
    ts = TransferSet(run_dir / "transfer")
    counts = read_json(run_dir / "transfer" / "summary.json")["by_origin"]
    assert counts["unlabeled"] == 100 and len(ts) == counts["labeled"] + 100
    assert ts[counts["labeled"]] == over_long
    assert read_json(run_dir / "annotations" / "shards.json")["count"] == len(ts)
    provenance = read_json(run_dir / "students" / "bilstm" / "model" / "config.json")
    assert provenance["provenance"]["transfer_origins"] == counts

    # a different unlabeled file is a different transfer set: everything downstream is redone
    (sst2_small / "extra.txt").write_text("".join(f"another text {i}\n" for i in range(150)))
    annotate_key = read_json(run_dir / "annotations" / "manifest.json")["key"]
    assert main(["transfer", str(config)]) == 0
    assert main(["annotate", str(config)]) == 0
    assert read_json(run_dir / "annotations" / "manifest.json")["key"] != annotate_key
    assert TransferSet(run_dir / "transfer")[len(ts) - 1].startswith("another text")


def test_missing_unlabeled_file_is_named_before_work(tmp_path, sst2_small, tiny_teacher, capsys):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, transfer={"unlabeled": [{"path": "nope.txt"}]})
    assert main(["run", str(config)]) == 2
    assert "transfer.unlabeled.0.path: file not found" in capsys.readouterr().err
    assert not (tmp_path / "run" / "teacher").exists()


def test_hf_dataset_directory_source(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"review": ["First review. Second one here.", "third"]}).save_to_disk(
        str(tmp_path / "reviews"))
    source = UnlabeledSource(path=f"hf:{tmp_path / 'reviews'}", column="review", split_sentences=True)
    rows = list(read_unlabeled(source, source.path))
    assert [t for t, _ in rows] == ["First review.", "Second one here.", "third"]
    assert rows[2][1].endswith("example 1, sentence 1")
    with pytest.raises(DataError, match="no column 'text'"):
        list(read_unlabeled(UnlabeledSource(path=source.path), source.path))


def test_student_trains_on_chosen_origins_only(tmp_path, sst2_small, tiny_teacher):
    (sst2_small / "extra.txt").write_text("".join(f"some unlabeled sentence {i}\n" for i in range(64)))
    student = {"name": "labeled-only", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
               "transfer_origins": ["labeled"], "train": {"epochs": 1, "batch_size": 32}}
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[student],
                         transfer={"unlabeled": [{"path": "extra.txt"}]})
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, str(config)]) == 0
    run_dir = tmp_path / "run"
    counts = read_json(run_dir / "transfer" / "summary.json")["by_origin"]
    outputs = read_json(run_dir / "students" / "labeled-only" / "manifest.json")["outputs"]
    assert outputs["steps"] == -(-counts["labeled"] // 32)  # one epoch over the labeled rows alone
    provenance = read_json(run_dir / "students" / "labeled-only" / "model" / "config.json")["provenance"]
    assert provenance["trained_on"] == counts["labeled"] < provenance["transfer_size"]


def test_length_buckets_over_a_subset_yield_only_its_rows():
    from taskdistil.train.batching import LengthBuckets

    rows = np.array([1, 4, 5, 9])
    batches = LengthBuckets(list(range(10)), 3, seed=0, rows=rows).epoch(0)
    assert sorted(np.concatenate(batches).tolist()) == rows.tolist()
