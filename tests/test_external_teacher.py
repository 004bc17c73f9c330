"""External teachers (``teacher.outputs`` / ``teacher.command``): the same annotation cache and students as the
built-in teacher, resumable command annotation, one clear error per bad input (finished shards kept)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file

import taskdistil
from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.errors import ArtifactError, ConfigError, DataError, StageError
from taskdistil.io import read_json
from taskdistil.pipeline import Run, annotate_stage, run_one
from taskdistil.teacher.annotate import LogitStore
from taskdistil.transfer.store import TransferSet

from conftest import tiny_config

STUDENT = {"name": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
           "train": {"epochs": 1, "batch_size": 32}}


def external_config(tmp_path: Path, data: Path, teacher_dir: Path | None, name: str, **teacher) -> Path:
    """A tiny run with an external teacher (``teacher`` keys), the students' vocabulary from ``teacher_dir``."""
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    section = {"max_length": 64, **teacher}
    if teacher_dir is not None:
        section["tokenizer_from"] = str(teacher_dir)
    path = tiny_config(root, data, Path("unused"), students=[STUDENT])
    tree = yaml.safe_load(path.read_text())
    tree["teacher"] = section
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.fixture(scope="module")
def builtin(tmp_path_factory, sst2_small, tiny_teacher):
    """A built-in-teacher run (tiny random teacher, fine-tuned 1 epoch) through its first student."""
    import torch

    root = tmp_path_factory.mktemp("builtin")
    config = tiny_config(root, sst2_small, tiny_teacher, students=[STUDENT])
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests (conftest's _one_thread, which runs after module fixtures): the
    try:  # same thread count, the same float reductions, so the students can be compared bit for bit
        for stage in ("teacher", "transfer", "annotate", "distill"):
            assert main([stage, str(config)]) == 0
    finally:
        torch.set_num_threads(previous)
    return root / "run"


def write_outputs(path: Path, run_dir: Path, kind: str = "logits", header: bool = True, extra: int = 0) -> Path:
    """The built-in teacher's annotations of ``run_dir`` as an outputs file (reversed label order in the header,
    so the columns are reordered on reading), plus ``extra`` texts outside the transfer set."""
    texts = TransferSet(run_dir / "transfer").texts()
    logits = LogitStore(run_dir / "annotations")[np.arange(len(texts))]
    labels = read_json(run_dir / "teacher" / "model" / "taskdistil.json")["labels"]
    lines = [json.dumps({"labels": labels[::-1]})] if header else []
    for text, row in zip(texts, logits):
        value = [float(x) for x in row[::-1]] if header else [float(x) for x in row]
        if kind == "label":
            value = labels[int(np.argmax(row))]
        lines.append(json.dumps({"text": text, kind: value}))
    lines += [json.dumps({"text": f"an extra text {i}", kind: value}) for i in range(extra)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_outputs_file_of_the_teachers_logits_gives_the_same_student(tmp_path, builtin, sst2_small, capsys):
    outputs = write_outputs(tmp_path / "logits.jsonl", builtin, extra=3)
    config = external_config(tmp_path, sst2_small, builtin / "teacher" / "model", "ext", outputs=str(outputs))
    capsys.readouterr()
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, str(config)]) == 0
    err = capsys.readouterr().err
    assert "no fine-tuning" in err and "3 lines answer no transfer-set text, ignored" in err
    run = tmp_path / "ext" / "run"
    assert read_json(run / "annotations" / "manifest.json")["outputs"]["extra_texts"] == 3
    n = len(TransferSet(run / "transfer"))
    np.testing.assert_allclose(LogitStore(run / "annotations")[np.arange(n)],
                               LogitStore(builtin / "annotations")[np.arange(n)], rtol=1e-6)
    ours = load_file(run / "students" / "bilstm" / "model" / "model.safetensors")
    theirs = load_file(builtin / "students" / "bilstm" / "model" / "model.safetensors")
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    dev = read_json(run / "students" / "bilstm" / "manifest.json")["outputs"]["dev"]
    assert dev == read_json(builtin / "students" / "bilstm" / "manifest.json")["outputs"]["dev"]
    with pytest.raises(ArtifactError, match="an external teacher's directory holds no model"):
        taskdistil.load(run / "teacher" / "model")


STATIC = {"name": "static", "kind": "static", "embeddings": "model2vec", "embedding_dim": 16, "hidden_layer": 8,
          "train": {"epochs": 1, "batch_size": 32}}


def test_a_model2vec_table_comes_from_the_encoder_of_tokenizer_from(tmp_path, builtin, sst2_small, tiny_teacher,
                                                                    capsys):
    """A static student with a model2vec-style table under an external teacher reads each vocabulary entry through
    teacher.tokenizer_from's encoder: given the built-in teacher's checkpoint and logits, it equals the built-in
    teacher's static student in every weight; a checkpoint changed after the teacher stage is one clear error."""
    import shutil

    ours_root = tmp_path / "builtin-static"
    shutil.copytree(builtin, ours_root / "run", ignore=shutil.ignore_patterns("students", "export", "exam", "*.lock"))
    config = tiny_config(ours_root, sst2_small, tiny_teacher, students=[STATIC])
    assert main(["distill", str(config)]) == 0  # teacher, transfer set and annotations reused from `builtin`
    source = tmp_path / "encoder"
    shutil.copytree(builtin / "teacher" / "model", source)
    outputs = write_outputs(tmp_path / "logits.jsonl", builtin)
    ext = external_config(tmp_path, sst2_small, source, "ext-static", outputs=str(outputs))
    tree = yaml.safe_load(ext.read_text())
    tree["students"] = [STATIC]
    ext.write_text(yaml.safe_dump(tree))
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, str(ext)]) == 0
    run = tmp_path / "ext-static" / "run"
    ours = load_file(run / "students" / "static" / "model" / "model.safetensors")
    theirs = load_file(ours_root / "run" / "students" / "static" / "model" / "model.safetensors")
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert len(list((run / "cache").glob("model2vec-states-*.safetensors"))) == 1

    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file

    weights = load_torch(source / "model.safetensors")
    name = next(k for k in weights if k.endswith("word_embeddings.weight"))
    weights[name] = weights[name] + 1.0
    save_file(weights, source / "model.safetensors", metadata={"format": "pt"})
    shutil.rmtree(run / "students")
    shutil.rmtree(run / "cache")
    capsys.readouterr()
    assert main(["distill", str(ext)]) != 0
    assert "its input embeddings differ from those the teacher stage stored" in capsys.readouterr().err


LABELER = '''
import json, os, sys, time, zlib
log = sys.argv[1]
texts = [json.loads(line)["text"] for line in sys.stdin if line.strip()]
with open(log, "a") as fh:
    fh.write(json.dumps({"pid": os.getpid(), "first": texts[0], "n": len(texts)}) + "\\n")
calls = sum(1 for _ in open(log))
mode = os.environ.get("LABELER_MODE", "")
if mode == "slow" and calls >= 2:
    time.sleep(120)
if mode == "fail" and calls >= 2:
    print("labeler: the API said no", file=sys.stderr)
    sys.exit(3)
print(json.dumps({"labels": ["1", "0"]}))  # its own column order
for i, text in enumerate(texts):
    if mode == "garbage" and calls >= 2 and i == 1:
        print("{not json")
    h = zlib.crc32(json.dumps(text).encode()) % 1000 / 1000
    print(json.dumps({"text": text, "logits": [h, 1 - h]}))
'''


def labeler_logits(text) -> list[float]:
    """What LABELER gives ``text`` in the run's label order ["0", "1"]."""
    import zlib

    h = zlib.crc32(json.dumps(text if isinstance(text, str) else list(text)).encode()) % 1000 / 1000
    return [1 - h, h]


@pytest.fixture
def labeler(tmp_path) -> tuple[str, Path]:
    """(the command, its call log: one JSON line per call)."""
    script, log = tmp_path / "labeler.py", tmp_path / "calls.jsonl"
    script.write_text(LABELER)
    return f"{sys.executable} {script} {log}", log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def shard_state(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(out.glob("logits-*.npy"))}


def annotated_command_run(tmp_path, sst2_small, labeler, name="cmd") -> tuple[Path, Path]:
    command, _ = labeler
    config = external_config(tmp_path, sst2_small, None, name, command=command)
    for stage in ("teacher", "transfer"):
        assert main([stage, str(config)]) == 0
    return config, tmp_path / name / "run" / "annotations"


def test_a_killed_command_annotation_resumes_without_recomputing_finished_shards(tmp_path, sst2_small, labeler,
                                                                                    monkeypatch, capsys):
    from test_resume import Child

    config, out = annotated_command_run(tmp_path, sst2_small, labeler)
    command, log = labeler
    monkeypatch.setenv("LABELER_MODE", "slow")  # the second call sleeps: the kill lands in shard 1
    child = Child(["-m", "taskdistil.cli", "annotate", str(config)], tmp_path, "first")
    child.kill_when(lambda: len(calls(log)) >= 2)
    os_kill_quietly(calls(log)[1]["pid"])  # the orphaned labeler of shard 1
    assert read_json(out / "manifest.json")["status"] == "running"
    assert list(read_json(out / "shards.json")["shards"]) == ["logits-00000.npy"]
    finished = shard_state(out)

    monkeypatch.delenv("LABELER_MODE")
    capsys.readouterr()
    assert main(["annotate", str(config)]) == 0
    assert "[annotate] resuming" in capsys.readouterr().err
    made = calls(log)
    assert [c["n"] for c in made] == [128, 128, 128, 44]  # shard 0, killed shard 1, then shards 1 and 2 only
    assert made[2]["first"] == made[1]["first"] != made[0]["first"]
    assert shard_state(out)["logits-00000.npy"] == finished["logits-00000.npy"]  # not rewritten
    texts = TransferSet(out.parent / "transfer").texts()
    np.testing.assert_allclose(LogitStore(out, verify=True)[np.arange(len(texts))],
                               np.array([labeler_logits(t) for t in texts]), rtol=1e-6)
    assert read_json(out / "manifest.json")["attempts"] == 2


def os_kill_quietly(pid: int) -> None:
    import os
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.mark.parametrize("mode, error, message", [
    ("fail", StageError, ["exited with status 3 on shard 1", "the API said no", "finished shards are kept"]),
    ("garbage", DataError, ["teacher.command output for shard 1", "line 3", "not valid JSON"]),
])
def test_a_failing_command_stops_with_one_clear_error_and_keeps_finished_shards(
        tmp_path, sst2_small, labeler, monkeypatch, mode, error, message):
    config, out = annotated_command_run(tmp_path, sst2_small, labeler)
    monkeypatch.setenv("LABELER_MODE", mode)
    with pytest.raises(error) as caught:
        run_one(load_config(config), "annotate")
    assert all(part in str(caught.value) for part in message), str(caught.value)
    assert list(read_json(out / "shards.json")["shards"]) == ["logits-00000.npy"]
    finished = shard_state(out)
    monkeypatch.delenv("LABELER_MODE")
    run_one(load_config(config), "annotate")  # fixed: resumes after the finished shard
    assert [c["n"] for c in calls(labeler[1])] == [128, 128, 128, 44]
    assert shard_state(out)["logits-00000.npy"] == finished["logits-00000.npy"]


def bad_file(tmp_path: Path, builtin: Path, edit, kind: str) -> Path:
    path = write_outputs(tmp_path / "outputs.jsonl", builtin, kind, header=False)
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("kind, edit, message", [
    ("logits", lambda lines: lines.pop(5), "no output for"),
    ("logits", lambda lines: lines.__setitem__(7, json.dumps({"text": json.loads(lines[7])["text"],
                                                             "logits": [1, 2, 3]})),
     "line 8: logits must be a list of 2 finite numbers"),
    ("label", lambda lines: lines.__setitem__(9, json.dumps({"text": json.loads(lines[9])["text"], "label": "maybe"})),
     "line 10: unknown label 'maybe'"),
    ("logits", lambda lines: lines.__setitem__(2, lines[2][:-3]), "line 3: not valid JSON"),
])
def test_a_bad_outputs_file_gives_one_clear_error_naming_file_and_line(tmp_path, builtin, sst2_small, kind, edit,
                                                                       message):
    outputs = bad_file(tmp_path, builtin, edit, kind)
    config = external_config(tmp_path, sst2_small, None, "bad", outputs=str(outputs))
    for stage in ("teacher", "transfer"):
        assert main([stage, str(config)]) == 0
    with pytest.raises(DataError) as caught:
        annotate_stage(Run(load_config(config)))
    assert str(outputs) in str(caught.value) and message in str(caught.value), str(caught.value)
    if "no output for" in message:
        assert "sst2/train.tsv" in str(caught.value) and "1 of 300 texts missing" in str(caught.value)
    assert not list((tmp_path / "bad" / "run" / "annotations").glob("logits-*.npy"))  # failed before any shard


def test_a_labels_only_teacher_trains_by_hard_distillation(tmp_path, builtin, sst2_small, capsys):
    outputs = write_outputs(tmp_path / "labels.jsonl", builtin, kind="label")
    config = external_config(tmp_path, sst2_small, None, "hard", outputs=str(outputs))
    capsys.readouterr()
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, str(config)]) == 0
    assert "labels only: hard distillation" in capsys.readouterr().err
    run = tmp_path / "hard" / "run"
    assert read_json(run / "annotations" / "shards.json")["targets"] == "labels"
    stored = LogitStore(run / "annotations")[np.arange(300)]
    teacher = LogitStore(builtin / "annotations")[np.arange(300)]
    assert set(np.unique(stored)) == {0.0, 1.0} and (stored.argmax(1) == teacher.argmax(1)).all()
    assert read_json(run / "students" / "bilstm" / "manifest.json")["outputs"]["steps"] > 0


@pytest.mark.parametrize("teacher, students, key", [
    ({"outputs": "o.jsonl", "command": "x"}, [STUDENT], "not both"),
    ({"outputs": "o.jsonl", "model": "bert-base-uncased"}, [STUDENT], "has no model to fine-tune"),
    ({"latency_ms": 3.0}, [STUDENT], "settings of external teachers"),
    ({"outputs": "o.jsonl"}, [{"name": "pkd", "kind": "transformer"}], "students.pkd: kind 'transformer'"),
    ({"command": "x"}, [{"name": "rep", "stages": [{"objective": "representation"}, {"objective": "logits"}]}],
     "students.rep: a representation stage"),
    ({"outputs": "missing.jsonl"}, [STUDENT], "teacher.outputs: file not found"),
])
def test_external_teacher_settings_are_checked_before_any_work(tmp_path, sst2_small, teacher, students, key):
    (tmp_path / "o.jsonl").write_text("{}\n")
    path = tiny_config(tmp_path, sst2_small, Path("unused"), students=students)
    tree = yaml.safe_load(path.read_text())
    tree["teacher"] = {k: str(tmp_path / v) if k == "outputs" else v for k, v in teacher.items()}
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError, match=key):
        load_config(path)


def test_the_exam_rates_an_external_teacher_from_its_outputs_on_the_test_texts(tmp_path, builtin, sst2_small):
    from taskdistil.tasks import load_task_data
    from taskdistil.teacher.model import Teacher

    teacher = Teacher.load(builtin / "teacher" / "model")
    data = load_task_data(load_config(builtin.parent / "config.yaml"))
    outputs = write_outputs(tmp_path / "logits.jsonl", builtin)
    test_logits = teacher.logits(teacher.encode(data.test.texts))
    with outputs.open("a") as fh:
        for text, row in zip(data.test.texts, test_logits):
            fh.write(json.dumps({"text": text, "logits": [float(x) for x in row[::-1]]}) + "\n")
    config = external_config(tmp_path, sst2_small, builtin / "teacher" / "model", "exam", outputs=str(outputs),
                             latency_ms=5.0)
    assert main(["run", str(config)]) == 0
    report = read_json(tmp_path / "exam" / "run" / "report.json")
    rows = {row["label"]: row for row in report["models"]}
    assert "teacher (torch)" not in rows
    row = rows["teacher (external)"]
    expected = float((test_logits.argmax(1) == np.asarray(data.label_ids("test"))).mean())
    assert row["metrics"]["accuracy"] == pytest.approx(expected)
    assert row["parameters"] is None and row["memory"] is None
    student = rows["bilstm (torch)"]
    assert student["retention"] == pytest.approx(student["metrics"]["accuracy"] / expected)
    assert student["ratios"]["vs_teacher"]["1"]["1"] == pytest.approx(5.0 / student["latency"]["1"]["1"]["p50_ms"],
                                                                      rel=1e-2)
    assert "| teacher | external |" in (tmp_path / "exam" / "run" / "report.md").read_text()


def test_the_example_onnx_labeler_gives_the_exported_teachers_logits(tmp_path, builtin, sst2_small):
    from taskdistil.pipeline import export_stage

    from conftest import REPO

    export_stage(Run(load_config(builtin.parent / "config.yaml")), "teacher")
    model = builtin / "export" / "teacher" / "model"
    command = f"{sys.executable} {REPO / 'examples' / 'labelers' / 'onnx_labeler.py'} {model} --batch-size 50"
    config = external_config(tmp_path, sst2_small, None, "onnx", command=command)
    for stage in ("teacher", "transfer", "annotate"):
        assert main([stage, str(config)]) == 0
    out = tmp_path / "onnx" / "run" / "annotations"
    assert read_json(out / "shards.json")["targets"] == "logits"
    np.testing.assert_allclose(LogitStore(out)[np.arange(300)], LogitStore(builtin / "annotations")[np.arange(300)],
                               atol=1e-4)


def test_outputs_file_schema_pairs_probs_header_whitespace_and_repeated_texts(tmp_path):
    from taskdistil.teacher.outputs import OutputsFile

    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"labels": ["yes", "no"]},
        {"text": ["a  man plays", "someone\tplays"], "probs": [0.75, 0.25], "id": 7},
        {"text": ["a man plays", "someone plays"], "probs": [0.75, 0.25]},  # the same pair again: fine
        {"text": ["two", "texts"], "probs": [0.0, 1.0]},
    ]) + "\n\n")
    outputs = OutputsFile(path, ["no", "yes"])
    rows = outputs.rows_for([("a man plays", "someone plays"), ("two", "texts"), ("un", "known")], required=False)
    assert rows.tolist() == [0, 2, -1] and outputs.kind == "probs"
    np.testing.assert_allclose(np.exp(outputs.table), [[0.25, 0.75], [0.25, 0.75], [1.0, 1e-6]], rtol=1e-6)  # no, yes

    path.write_text(json.dumps({"text": "x", "probs": [0.5, 0.6]}) + "\n" + json.dumps({"text": "x", "logits": [1, 2]}))
    with pytest.raises(DataError, match=r"line 1: probs must lie in \[0, 1\] and sum to 1"):
        OutputsFile(path, ["0", "1"])
    path.write_text(json.dumps({"text": "x", "logits": [0, 1]}) + "\n" + json.dumps({"text": "x ", "logits": [1, 0]}))
    repeated = OutputsFile(path, ["0", "1"])  # a repeated text answers its occurrences in order, then its last line
    assert repeated.rows_for(["x", " x", "y", "x"], required=False).tolist() == [0, 1, -1, 1]
    path.write_text(json.dumps({"labels": ["0", "2"]}) + "\n")
    with pytest.raises(DataError, match=r"line 1: the labels header \['0', '2'\] must name each"):
        OutputsFile(path, ["0", "1"])


def test_a_command_teacher_labels_the_test_texts_for_the_exam_once(tmp_path, sst2_small, labeler):
    from taskdistil.tasks import load_task_data
    from taskdistil.teacher.external import teacher_test_outputs

    command, log = labeler
    config = load_config(external_config(tmp_path, sst2_small, None, "exam-cmd", command=command))
    test = load_task_data(config).test
    work = tmp_path / "exam-teacher"
    outputs, how = teacher_test_outputs(config, ["0", "1"], test.texts, work, test.where)
    assert how == f"the command's outputs on {len(test.texts)} test texts" and len(calls(log)) == 1
    np.testing.assert_allclose(outputs, [labeler_logits(t) for t in test.texts], rtol=1e-6)
    again, _ = teacher_test_outputs(config, ["0", "1"], test.texts, work, test.where)
    assert len(calls(log)) == 1 and np.array_equal(again, outputs)  # cached shards: not labeled twice


def test_an_encoders_weights_hash_in_any_dtype():
    """The name the model2vec cache gets for a tokenizer_from encoder: bfloat16 weights (a checkpoint saved in bf16
    loads as bf16) hash like any other; a changed value or name changes the hash; name order does not."""
    import torch

    from taskdistil.io import sha256_tensors

    state = {"b.weight": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3), "a.bias": torch.tensor(1.5)}
    digest = sha256_tensors(state)
    assert digest == sha256_tensors(dict(reversed(list(state.items()))))
    assert digest != sha256_tensors({**state, "a.bias": torch.tensor(2.5)})
    assert digest != sha256_tensors({"c.weight": state["b.weight"], "a.bias": state["a.bias"]})
    assert sha256_tensors({"x": torch.ones(2)}) != sha256_tensors({"x": torch.ones(2, dtype=torch.float64)})
