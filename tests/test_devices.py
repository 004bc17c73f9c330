"""Devices and precision (taskdistil.devices) on a CPU machine: resolution and its errors, runs that move between
devices, bf16 autocast annotation against fp32, CPU annotation byte-identical to the plain batched path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import taskdistil
from taskdistil import devices
from taskdistil.cli import main
from taskdistil.config import ExamConfig, TrainConfig, load_config
from taskdistil.devices import CPU, Placement, check_devices, resolve_device, resolve_precision
from taskdistil.errors import ConfigError
from taskdistil.exam.gpu import device_lines, time_on_device
from taskdistil.io import read_json
from taskdistil.teacher.annotate import LogitStore, annotate
from taskdistil.teacher.model import Teacher, encode_texts
from taskdistil.train.batching import LengthBuckets, pad_ids, token_budget_batches
from taskdistil.train.loop import CHECKPOINT, Evaluation, fit

from conftest import tiny_config

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks resolution on a machine without CUDA")


@pytest.fixture
def without_accelerators(monkeypatch):
    """This process sees neither CUDA nor MPS, whatever the machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


# -- resolution ---------------------------------------------------------------------------------------------------

def test_auto_is_cpu_without_accelerators_and_precision_auto_is_fp32(without_accelerators):
    assert resolve_device("auto", "device") == torch.device("cpu")
    assert resolve_device("cpu", "device") == torch.device("cpu")
    assert resolve_precision("auto", torch.device("cpu"), "annotate.precision") == "fp32"
    assert resolve_precision("bf16", torch.device("cpu"), "annotate.precision") == "bf16"


@no_gpu
def test_auto_on_this_cpu_machine_is_cpu():
    assert resolve_device("auto", "device").type in ("cpu", "mps")


@pytest.mark.parametrize("spec", ["cuda", "cuda:1", "mps"])
def test_absent_device_fails_naming_the_key(without_accelerators, spec):
    with pytest.raises(ConfigError, match=f"^teacher.device: device '{spec}' asked for, but .* use cpu or auto"):
        resolve_device(spec, "teacher.device")


def test_gpu_index_beyond_the_machine_and_one_gpu_for_many_processes_fail(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"device 'cuda:2' asked for, but this machine has 2 GPU\(s\)"):
        resolve_device("cuda:2", "device")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cuda", "device") == torch.device("cuda", 1)  # each process on cuda:LOCAL_RANK
    assert resolve_device("auto", "device") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="'cuda:0' names one GPU, but 2 processes run"):
        resolve_device("cuda:0", "device")
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(ConfigError, match="local rank 2 takes cuda:2, but this machine has 2 GPU"):
        resolve_device("cuda", "device")


def test_config_checks_device_values_and_every_stage_device(without_accelerators, tmp_path, sst2_small,
                                                            tiny_teacher):
    path = tiny_config(tmp_path, sst2_small, tiny_teacher)
    with pytest.raises(ConfigError, match=r"teacher.device: .*expected a device: auto, cpu, cuda, cuda:N or mps"):
        load_config(path, ["teacher.device=gpu"])
    with pytest.raises(ConfigError, match="exam.devices: .*not auto"):
        load_config(path, ["exam.devices=[cpu, auto]"])
    for override, key in (("device=cuda", "device"), ("annotate.device=mps", "annotate.device"),
                          ("students.bilstm.device=cuda:0", "students.bilstm.device"),
                          ("exam.devices=[cpu, cuda]", "exam.devices.1")):
        config = load_config(path, [override])
        with pytest.raises(ConfigError, match=f"^{key}: device"):
            check_devices(config)
    check_devices(load_config(path, ["teacher.device=cpu", "annotate.precision=bf16"]))


def test_absent_device_on_the_command_line_fails_before_any_work(without_accelerators, tmp_path, sst2_small,
                                                                 tiny_teacher, capsys):
    path = tiny_config(tmp_path, sst2_small, tiny_teacher)
    assert main(["run", str(path), "--device", "cuda"]) == 2
    assert "error: device: device 'cuda' asked for, but no CUDA GPU is available" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing was written


def test_exam_key_holds_devices_only_with_an_accelerator_row():
    assert "devices" not in ExamConfig().measurement()
    assert ExamConfig(devices=["cpu", "cuda"]).measurement()["devices"] == ["cpu", "cuda"]


# -- training: a checkpoint written on one device resumes on another ------------------------------------------------

class Stop(RuntimeError):
    """The process dying mid-training."""


def _problem(seed: int):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(96, 4, generator=g)
    y = (x @ torch.tensor([1.0, -1.0, 0.5, 2.0]) > 0).long()
    model = nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 2))
    return model, x, y


def _fit(model, x, y, workdir, placement, stop_after=None):
    calls = []

    def loss_fn(idx):
        calls.append(1)
        if stop_after is not None and len(calls) > stop_after:
            raise Stop
        index = placement.to(torch.as_tensor(idx))
        return nn.functional.cross_entropy(model(placement.to(x)[index]), placement.to(y)[index])

    def evaluate():
        return Evaluation({"neg_loss": -float(nn.functional.cross_entropy(model(placement.to(x)),
                                                                           placement.to(y)))}, "neg_loss")

    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.05, optimizer="adam", evals_per_epoch=1,
                      checkpoint_seconds=1e-9)
    return fit(model, loss_fn, LengthBuckets([1] * len(x), 8, seed=1), evaluate, cfg, workdir, placement=placement)


def test_checkpoint_of_a_cpu_fit_resumes_under_device_auto_to_the_same_weights(tmp_path):
    model, x, y = _problem(0)
    _fit(model, x, y, tmp_path / "whole", CPU)
    whole = {k: v.clone() for k, v in model.state_dict().items()}

    model, x, y = _problem(0)
    with pytest.raises(Stop):
        _fit(model, x, y, tmp_path / "moved", Placement(resolve_device("cpu", "device")), stop_after=7)
    assert (tmp_path / "moved" / CHECKPOINT).is_file()
    model, x, y = _problem(0)  # a fresh process: the weights come from the checkpoint
    auto = devices.placement(None, "auto", "auto", "students.s")
    result = _fit(model, x, y, tmp_path / "moved", auto)
    assert result.steps == 24
    if auto.on_cpu:  # same device: the resumed run reproduces the uninterrupted one exactly
        assert all(torch.equal(whole[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_fit_trains_on_cpu_with_fp32_weights(tmp_path, precision):
    """Autocast in the loop; fp16 through the gradient scaler, whose state the checkpoints carry."""
    model, x, y = _problem(1)
    result = _fit(model, x, y, tmp_path, Placement(torch.device("cpu"), precision))
    assert result.best["neg_loss"] > -0.6 and next(model.parameters()).dtype == torch.float32


# -- annotation ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier(tiny_teacher):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2).eval()
    return Teacher(model, AutoTokenizer.from_pretrained(tiny_teacher), ["0", "1"], 64, tiny_teacher)


@pytest.fixture(scope="module")
def texts(sst2_small):
    rows = (sst2_small / "sst2" / "train.tsv").read_text().splitlines()[1:]
    return [row.split("\t")[0] for row in rows][:200]


def test_cpu_annotation_is_byte_identical_to_plain_length_sorted_batches(classifier, texts, tmp_path):
    """Default settings keep today's CPU path: batches of batch_size in sorted length order, one forward each."""
    annotate(classifier, texts, tmp_path / "default", 64, 16)
    annotate(classifier, texts, tmp_path / "cpu", 64, 16, placement=Placement(torch.device("cpu"), "fp32"))
    expected = np.zeros((len(texts), 2), np.float32)
    for start in range(0, len(texts), 64):
        ids = encode_texts(classifier.tokenizer, texts[start:start + 64], 64)
        with torch.no_grad():
            for idx in LengthBuckets([len(s) for s in ids], 16, shuffle=False).epoch(0):
                logits = classifier.model(*pad_ids([ids[i] for i in idx], 0)).logits
                expected[start + idx] = logits.numpy()
    for run in ("default", "cpu"):
        for s in range(4):
            name = f"logits-{s:05d}.npy"
            stored = (tmp_path / run / name).read_bytes()
            np.save(tmp_path / name, np.ascontiguousarray(expected[64 * s: 64 * (s + 1)]))
            assert stored == (tmp_path / name).read_bytes(), (run, name)


# max |bf16 - fp32 logit| over the largest |fp32 logit| (bf16 keeps 8 significant bits: ~0.4% per rounding);
# measured 0.010 on this tiny random teacher
BF16_TOLERANCE = 0.05


def test_bf16_autocast_annotation_on_cpu_matches_fp32_within_tolerance(classifier, texts, tmp_path):
    annotate(classifier, texts, tmp_path / "fp32", 64, 16)
    annotate(classifier, texts, tmp_path / "bf16", 64, 16, placement=Placement(torch.device("cpu"), "bf16"),
             layers=[1, "2:mean"])
    fp32 = LogitStore(tmp_path / "fp32")[np.arange(len(texts))]
    bf16 = LogitStore(tmp_path / "bf16")[np.arange(len(texts))]
    assert np.load(tmp_path / "bf16" / "logits-00000.npy").dtype == np.float32  # stored logits stay float32
    difference = np.abs(bf16 - fp32).max()
    print(f"bf16 vs fp32: max |logit difference| {difference:.2e}, largest |logit| {np.abs(fp32).max():.2e}")
    assert 0 < difference <= BF16_TOLERANCE * np.abs(fp32).max()  # 0 would mean no autocast ran


def test_token_budget_batches_cover_every_example_within_the_budget(classifier, texts, tmp_path):
    lengths = np.random.default_rng(0).integers(1, 60, size=500)
    batches = token_budget_batches(lengths, 256)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    assert all(len(b) * lengths[b].max() <= 256 for b in batches)
    assert [len(b) for b in batches][0] > [len(b) for b in batches][-1]  # short examples share bigger batches
    assert token_budget_batches([100], 10)[0].tolist() == [0]  # one example even over the budget
    annotate(classifier, texts, tmp_path / "budget", 64, 16, max_tokens=300)
    annotate(classifier, texts, tmp_path / "count", 64, 16)
    np.testing.assert_allclose(LogitStore(tmp_path / "budget")[np.arange(len(texts))],
                               LogitStore(tmp_path / "count")[np.arange(len(texts))], atol=1e-5)


# -- a run with devices set: keys unchanged, resumable under another device, models load on CPU ------------------

def test_run_with_devices_set_keeps_its_keys_under_another_device_and_its_model_predicts_on_cpu(
        tmp_path, sst2_small, tiny_teacher, capsys):
    path = tiny_config(tmp_path, sst2_small, tiny_teacher)
    tree = yaml.safe_load(path.read_text())
    tree["device"] = "cpu"
    tree["teacher"]["device"] = "cpu"
    tree["students"][0]["device"] = "cpu"
    path.write_text(yaml.safe_dump(tree))
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, str(path)]) == 0
    err = capsys.readouterr().err
    assert "[teacher] on cpu, fp32" in err and "[distill:bilstm] on cpu, fp32" in err
    keys = {d: read_json(tmp_path / "run" / d / "manifest.json")["key"] for d in ("teacher", "annotations")}
    assert main(["distill", str(path), "--device", "auto", "--set", "teacher.device=auto",
                 "--set", "students.bilstm.device=auto"]) == 0
    assert "up to date, skipped" in capsys.readouterr().err
    tree.pop("device")
    tree["teacher"].pop("device")
    tree["students"][0].pop("device")
    path.write_text(yaml.safe_dump(tree))
    assert main(["annotate", str(path)]) == 0  # no device keys at all: the same stage keys
    assert "[annotate] up to date" in capsys.readouterr().err
    assert keys == {d: read_json(tmp_path / "run" / d / "manifest.json")["key"] for d in ("teacher", "annotations")}
    student = taskdistil.load(tmp_path / "run" / "students" / "bilstm" / "model")
    assert next(student.model.parameters()).device.type == "cpu"
    assert student.predict(["a gripping , funny film", "dull and overlong"])[0] in ("0", "1")


# -- the exam's accelerator rows ------------------------------------------------------------------------------------

def test_device_timing_and_report_rows_on_cpu():
    layer = nn.Linear(4, 2)
    batches = [(torch.randn(3, 4), None)] * 2
    times = time_on_device(lambda ids, mask: layer(ids), batches, torch.device("cpu"), 1, 5, 1.0)
    assert len(times) == 5 and min(times) > 0
    assert device_lines({}) == []
    lines = device_lines({"device_rows": [{"name": "bilstm", "device": "cuda:0", "device_name": "H100",
                                           "batch_size": 32, "p50_ms": 0.5, "p95_ms": 0.7,
                                           "throughput_per_s": 64000.0}]})
    assert "| bilstm | cuda:0 (H100) | 32 | 0.500 | 0.700 | 64,000 |" in lines
