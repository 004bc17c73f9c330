"""The pipeline end to end through ``taskdistil.cli.main``: stages, skipping, invalidation,
errors and the saved model directories.

One tiny full run (``base_run``) is made per module; tests that change a run work on a
copy of it (a run directory is relocatable: stage keys hold no run-directory paths).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import taskdistil
from taskdistil.cli import main
from taskdistil.io import read_json, sha256_file

from conftest import tiny_config

STAGE_DIRS = {"teacher": "teacher", "transfer": "transfer", "annotate": "annotations",
              "distill:bilstm": "students/bilstm",
              "export:teacher": "export/teacher", "export:bilstm": "export/bilstm", "exam": "exam"}



def manifests(run_dir: Path) -> dict[str, dict]:
    return {stage: read_json(run_dir / d / "manifest.json") for stage, d in STAGE_DIRS.items()}


def manifest_mtimes(run_dir: Path) -> dict[str, int]:
    return {stage: (run_dir / d / "manifest.json").stat().st_mtime_ns for stage, d in STAGE_DIRS.items()}


def config_for(tmp_path: Path, data_dir: Path, teacher: Path, run_dir: Path | None = None, **overrides) -> Path:
    """``tiny_config`` in ``tmp_path``, optionally pointed at an existing run directory."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tiny_config(tmp_path, data_dir, teacher, **overrides)
    if run_dir is not None:
        edit_config(path, run_dir=str(run_dir))
    return path


def edit_config(path: Path, **sections) -> Path:
    """Replace top-level sections of a config file (``tiny_config`` cannot take ``teacher=``)."""
    tree = yaml.safe_load(path.read_text())
    tree.update(sections)
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, sst2_small, tiny_teacher) -> tuple[Path, Path]:
    """(config, run_dir) of one complete tiny run; treat as read-only."""
    root = tmp_path_factory.mktemp("base_run")
    config = tiny_config(root, sst2_small, tiny_teacher)
    assert main(["run", str(config)]) == 0
    return config, root / "run"


@pytest.fixture
def run_copy(tmp_path, base_run, sst2_small, tiny_teacher) -> tuple[Path, Path]:
    """(config, run_dir): a private copy of the base run, with a config pointing at it."""
    _, base_dir = base_run
    run_dir = shutil.copytree(base_dir, tmp_path / "copied_run")
    return config_for(tmp_path / "cfg", sst2_small, tiny_teacher, run_dir=run_dir), run_dir


# -- run ----------------------------------------------------------------------------------

def test_run_writes_report_and_complete_manifests(base_run):
    _, run_dir = base_run
    assert (run_dir / "report.md").is_file()
    md = (run_dir / "report.md").read_text()
    assert "teacher" in md and "bilstm" in md
    report = read_json(run_dir / "report.json")
    models = {m["label"]: m for m in report["models"]}
    runtimes = ("torch", "onnx", "onnx-int8")
    assert set(models) == {f"{n} ({r})" for n in ("teacher", "bilstm") for r in runtimes}
    for label, m in models.items():
        assert 0.0 <= m["metrics"]["accuracy"] <= 1.0, label
        assert m["parameters"] > 0, label
        assert m["disk_bytes"] > 0, label
        assert set(m["latency"]) == {"1"}, label  # thread counts
        assert set(m["latency"]["1"]) == {"1", "32"}, label
        for bs in ("1", "32"):
            lat = m["latency"]["1"][bs]
            assert lat["batch_size"] == int(bs)
            assert 3 <= lat["timed_batches"] <= 3, (label, bs)  # max_batches 3, at least one per round
            assert lat["p95_ms"] >= lat["p50_ms"] > 0
    assert models["bilstm (torch)"]["parameters"] < models["teacher (torch)"]["parameters"]
    assert models["teacher (torch)"]["ratios"]["vs_teacher"]["1"]["1"] == 1.0
    assert set(report["stage_seconds"]) == {"teacher", "annotate", "distill:bilstm", "export:teacher",
                                            "export:bilstm", "exam"}
    assert all(v >= 0 for v in report["stage_seconds"].values())
    assert report["test"]["examples"] == 100
    for stage, m in manifests(run_dir).items():
        assert m["status"] == "complete", stage
        assert m["attempts"] == 1, stage
        assert m["finished"], stage
    # without transformer students, keys hold what they held before those existed (earlier runs stay valid)
    stages = manifests(run_dir)
    assert set(stages["annotate"]["inputs"]) == {"teacher_weights", "transfer", "data", "shard_size"}
    recipe = stages["distill:bilstm"]["inputs"]["student"]
    assert not {"layers", "init_layers", "layer_map"} & set(recipe) and "pkd_weight" not in recipe["loss"]
    assert not any("pkd_weight" in group["loss"] or "layers" in group for group in stages["exam"]["inputs"]["groups"])
    assert "hidden" not in read_json(run_dir / "annotations" / "shards.json")


def test_second_run_skips_every_stage(run_copy, capsys):
    config, run_dir = run_copy
    before, mtimes = manifests(run_dir), manifest_mtimes(run_dir)
    report_mtime = (run_dir / "report.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["run", str(config)]) == 0
    err = capsys.readouterr().err
    for stage in STAGE_DIRS:
        assert f"[{stage}] up to date" in err, err
    assert "running" not in err.replace("run finished", "")
    after = manifests(run_dir)
    assert {s: m["finished"] for s, m in after.items()} == {s: m["finished"] for s, m in before.items()}
    assert after == before
    assert manifest_mtimes(run_dir) == mtimes
    assert (run_dir / "report.json").stat().st_mtime_ns == report_mtime


def test_student_setting_change_redoes_only_distill_and_exam(run_copy, capsys):
    config, run_dir = run_copy
    before, mtimes = manifests(run_dir), manifest_mtimes(run_dir)
    capsys.readouterr()
    assert main(["run", str(config), "--set", "students.bilstm.hidden_size=6"]) == 0
    err = capsys.readouterr().err
    after, mtimes_after = manifests(run_dir), manifest_mtimes(run_dir)
    for stage in ("teacher", "annotate"):
        assert f"[{stage}] up to date" in err
        assert after[stage] == before[stage]
        assert mtimes_after[stage] == mtimes[stage]
    assert "[export:teacher] up to date" in err
    assert after["export:teacher"] == before["export:teacher"]
    for stage in ("distill:bilstm", "export:bilstm", "exam"):
        assert f"[{stage}] inputs changed: redoing" in err, err
        assert after[stage]["key"] != before[stage]["key"]
        assert after[stage]["status"] == "complete"
        assert mtimes_after[stage] != mtimes[stage]
    assert after["distill:bilstm"]["inputs"]["student"]["hidden_size"] == 6
    saved = read_json(run_dir / "students" / "bilstm" / "model" / "config.json")
    assert saved["model"]["hidden_size"] == 6
    report = read_json(run_dir / "report.json")
    bilstm = next(m for m in report["models"] if m["label"] == "bilstm (torch)")
    assert bilstm["parameters"] == after["distill:bilstm"]["outputs"]["parameters"]


def test_student_seed_is_deterministic_and_per_student(run_copy):
    config, run_dir = run_copy
    small = {"embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "train": {"epochs": 1, "batch_size": 32}}
    edit_config(config, students=[{"name": "a", "seed": 3, **small}, {"name": "b", "seed": 3, **small},
                                  {"name": "c", "seed": 4, **small}, {"name": "d", "kind": "cnn", "num_filters": 4,
                                                                      "embedding_dim": 16, "train": {"epochs": 1}}])
    assert main(["distill", str(config)]) == 0
    weights = {n: (run_dir / "students" / n / "model" / "model.safetensors").read_bytes() for n in "abc"}
    assert weights["a"] == weights["b"]  # same recipe, same seed: the same student, bit for bit
    assert weights["a"] != weights["c"]
    assert taskdistil.load(run_dir / "students" / "d" / "model").kind == "cnn"


def test_new_teacher_weights_invalidate_annotations(run_copy, capsys):
    config, run_dir = run_copy
    weights = run_dir / "teacher" / "model" / "model.safetensors"
    old_weights = sha256_file(weights)
    old = read_json(run_dir / "annotations" / "manifest.json")
    old_logits = (run_dir / "annotations" / "logits-00000.npy").read_bytes()
    assert old["inputs"]["teacher_weights"] == old_weights

    assert main(["teacher", str(config), "--force", "--set", "seed=7"]) == 0
    assert sha256_file(weights) != old_weights
    capsys.readouterr()
    # The config is the original one (seed 1): only the teacher weights differ.
    assert main(["annotate", str(config)]) == 0
    err = capsys.readouterr().err
    assert "[annotate] inputs changed: redoing" in err, err
    new = read_json(run_dir / "annotations" / "manifest.json")
    assert new["status"] == "complete"
    assert new["key"] != old["key"]
    assert new["inputs"]["teacher_weights"] == sha256_file(weights)
    assert (run_dir / "annotations" / "logits-00000.npy").read_bytes() != old_logits


# -- stages one by one ------------------------------------------------------------------

def test_stage_subcommands_run_alone_in_order(tmp_path, sst2_small, tiny_teacher, capsys):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher)
    run_dir = tmp_path / "run"
    assert main(["annotate", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(run_dir / "teacher") in err, err
    assert "has not run" in err
    assert not (run_dir / "annotations" / "manifest.json").exists()

    expected = {"teacher": ["teacher"], "transfer": ["teacher", "transfer"],
                "annotate": ["teacher", "transfer", "annotations"],
                "distill": ["teacher", "transfer", "annotations", "students/bilstm"],
                "export": ["teacher", "transfer", "annotations", "students/bilstm", "export/teacher", "export/bilstm"],
                "exam": ["teacher", "transfer", "annotations", "students/bilstm", "export/teacher", "export/bilstm",
                         "exam"]}
    for stage, done in expected.items():
        assert main([stage, str(config)]) == 0, stage
        for d in STAGE_DIRS.values():
            exists = (run_dir / d / "manifest.json").is_file()
            assert exists == (d in done), (stage, d)
        err = capsys.readouterr().err
        # each command ran only its own stage (exam checks that the exports are current)
        assert all("[export:" in line for line in err.splitlines() if "up to date" in line), (stage, err)
    assert (run_dir / "report.json").is_file()
    assert all(m["status"] == "complete" for m in manifests(run_dir).values())


def test_distill_before_annotate_fails_naming_the_stage(tmp_path, run_copy, capsys):
    config, run_dir = run_copy
    shutil.rmtree(run_dir / "annotations")
    assert main(["distill", str(config), "--force"]) == 2
    err = capsys.readouterr().err
    assert str(run_dir / "annotations") in err, err


def test_second_process_on_a_running_stage_fails_and_a_killed_holder_blocks_nothing(run_copy, capsys):
    """While another process runs a stage, the same stage fails at once naming it and that pid, touching nothing;
    once the holder dies (kill -9) its lock goes with it and the stage runs."""
    config, run_dir = run_copy
    holder_code = ("import sys, time; from pathlib import Path; from taskdistil.stage_lock import stage_lock\n"
                   "with stage_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", holder_code, str(run_dir / "annotations")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = manifest_mtimes(run_dir)
        assert main(["annotate", str(config), "--force"]) == 2
        err = capsys.readouterr().err
        assert str(run_dir / "annotations") in err and f"pid {holder.pid}" in err, err
        assert manifest_mtimes(run_dir) == before
        assert main(["distill", str(config)]) == 0  # other stages are not blocked
    finally:
        holder.kill()
        holder.wait()
    assert main(["annotate", str(config), "--force"]) == 0
    assert read_json(run_dir / "annotations" / "manifest.json")["status"] == "complete"


# -- configuration and data errors ------------------------------------------------------

def test_unknown_config_key_fails_naming_the_key(tmp_path, sst2_small, tiny_teacher, capsys):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher)
    assert main(["run", str(config), "--set", "teacher.train.learning_rat=0.1"]) == 2
    err = capsys.readouterr().err
    assert "teacher.train.learning_rat" in err
    assert "unknown key" in err
    assert not (tmp_path / "run").exists()  # failed before any work


def test_unknown_key_in_yaml_fails_naming_the_key(tmp_path, sst2_small, tiny_teacher, capsys):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, exam={"warmup": 1, "max_batchez": 3})
    assert main(["run", str(config)]) == 2
    assert "exam.max_batchez" in capsys.readouterr().err


def test_missing_data_file_fails_naming_the_path(tmp_path, sst2_small, tiny_teacher, capsys):
    data = {"dir": str(sst2_small), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/nope.tsv"}
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, data=data)
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(sst2_small / "sst2" / "nope.tsv") in err, err
    assert not (tmp_path / "run").exists()


def test_unseen_dev_label_fails_naming_label_file_line(tmp_path, sst2_small, tiny_teacher, capsys):
    data_dir = tmp_path / "data"
    shutil.copytree(sst2_small, data_dir)
    dev = data_dir / "sst2" / "dev.tsv"
    lines = dev.read_text().splitlines()
    lines[5] = lines[5].rsplit("\t", 1)[0] + "\t7"  # file line 6
    dev.write_text("\n".join(lines) + "\n")
    config = tiny_config(tmp_path, data_dir, tiny_teacher)
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "'7'" in err, err
    assert f"{dev}, line 6" in err, err
    run_dir = tmp_path / "run"
    manifest = run_dir / "teacher" / "manifest.json"
    assert not manifest.exists() or read_json(manifest)["status"] != "complete"
    assert not (run_dir / "teacher" / "model" / "model.safetensors").exists()
    assert not (run_dir / "report.json").exists()


def _short_rows(path: Path, tokenizer, limit: int, max_tokens: int) -> list[str]:
    out = []
    for line in path.read_text().splitlines()[1:]:
        text = line.rsplit("\t", 1)[0]
        if len(tokenizer(text)["input_ids"]) <= max_tokens:
            out.append(line)
        if len(out) == limit:
            break
    return out


def test_too_long_row_fails_naming_file_and_line_unless_truncating(tmp_path, sst2_small, tiny_teacher, capsys):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    header = "sentence\tlabel"
    train = _short_rows(sst2_small / "sst2" / "train.tsv", tokenizer, 120, 16)
    long_text = " ".join(["a wonderfully moving and thoroughly entertaining film"] * 4)
    assert len(tokenizer(long_text)["input_ids"]) > 16
    train.insert(9, f"{long_text}\t1")  # file line 11 (after the header and 9 rows)
    (data_dir / "train.tsv").write_text("\n".join([header] + train) + "\n")
    (data_dir / "dev.tsv").write_text(
        "\n".join([header] + _short_rows(sst2_small / "sst2" / "dev.tsv", tokenizer, 40, 16)) + "\n")
    shutil.copy(sst2_small / "sst2" / "test.tsv", data_dir / "test.tsv")
    data = {"dir": str(data_dir), "train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
    config = edit_config(tiny_config(tmp_path, data_dir, tiny_teacher, data=data),
                         teacher={"model": str(tiny_teacher), "max_length": 16,
                                  "train": {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}})

    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{data_dir / 'train.tsv'}, line 11" in err, err
    assert "max_length 16" in err

    assert main(["run", str(config), "--set", "data.too_long=truncate"]) == 0
    report = read_json(tmp_path / "run" / "report.json")
    assert {m["name"] for m in report["models"]} == {"teacher", "bilstm"}
    assert read_json(tmp_path / "run" / "teacher" / "manifest.json")["inputs"]["data"]["too_long"] == "truncate"


# -- saved models ---------------------------------------------------------------------

def test_predict_and_load_self_contained_student(tmp_path, run_copy, capsys):
    _, run_dir = run_copy
    student_dir = run_dir / "students" / "bilstm" / "model"
    texts = ["a great movie", "awful"]
    capsys.readouterr()
    assert main(["predict", str(student_dir), *texts]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    records = [json.loads(line) for line in out]
    model = taskdistil.load(student_dir)
    assert model.labels == ["0", "1"]
    assert [r["text"] for r in records] == texts
    assert all(r["label"] in model.labels for r in records)
    assert model.predict(texts) == [r["label"] for r in records]

    assert main(["predict", "--proba", str(student_dir), "fine"]) == 0
    proba = json.loads(capsys.readouterr().out)["proba"]
    assert set(proba) == {"0", "1"} and abs(sum(proba.values()) - 1) < 1e-3
    assert main(["predict", str(student_dir), "--proba", "fine", "dull"]) == 0  # options may follow the dir
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["proba"].keys() == proba.keys() for line in lines] == [True, True]

    assert sorted(p.name for p in student_dir.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    for pattern in ("*.bin", "*.pt", "*.pkl", "*.pickle", "*.pth"):
        assert not list(student_dir.rglob(pattern)), pattern

    moved = shutil.copytree(student_dir, tmp_path / "elsewhere" / "student")
    expected_logits = model.logits(texts)
    shutil.rmtree(run_dir)
    again = taskdistil.load(moved)
    assert again.predict(texts) == [r["label"] for r in records]
    assert again.logits(texts) == pytest.approx(expected_logits, abs=1e-5)


def test_load_teacher_dir(run_copy, capsys):
    _, run_dir = run_copy
    teacher = taskdistil.load(run_dir / "teacher" / "model")
    assert teacher.kind == "teacher"
    assert teacher.labels == ["0", "1"]
    labels = teacher.predict(["a great movie", "awful"])
    assert len(labels) == 2 and set(labels) <= {"0", "1"}
    assert main(["predict", str(run_dir / "teacher" / "model"), "a great movie"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == labels[0]


def test_predict_missing_dir_fails(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nothing"), "text"]) == 2
    assert str(tmp_path / "nothing") in capsys.readouterr().err


def test_adopting_an_already_finetuned_teacher_keeps_it_as_is(tmp_path, run_copy, sst2_small, tiny_teacher):
    _, run_dir = run_copy
    finetuned = run_dir / "teacher" / "model"
    config = config_for(tmp_path / "adopt", sst2_small, tiny_teacher)
    edit_config(config, teacher={"model": str(finetuned), "finetuned": True, "max_length": 64})
    assert main(["teacher", str(config)]) == 0
    adopted_dir = tmp_path / "adopt" / "run" / "teacher"
    assert read_json(adopted_dir / "manifest.json")["outputs"]["finetuned_here"] is False
    texts = ["a fine film", "dull"]
    original, adopted = taskdistil.load(finetuned), taskdistil.load(adopted_dir / "model")
    assert adopted.labels == original.labels
    assert adopted.logits(texts).tolist() == original.logits(texts).tolist()
