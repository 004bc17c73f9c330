"""taskdistil.train.loop.fit and taskdistil.train.batching on a tiny synthetic problem.

A linear classifier on linearly separable 4-d points: every fit here takes milliseconds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

from taskdistil.config import TrainConfig
from taskdistil.train import loop as loop_module
from taskdistil.train.batching import LengthBuckets, pad_ids
from taskdistil.train.loop import BEST, CHECKPOINT, RESULT, Evaluation, _eval_points, fit, lr_factor

N_TRAIN, N_DEV, DIM = 64, 48, 4
BATCH = 8  # -> 8 batches per epoch


def make_data():
    g = torch.Generator().manual_seed(1234)
    w = torch.tensor([1.5, -2.0, 0.5, 1.0])
    x = torch.randn(N_TRAIN + N_DEV, DIM, generator=g)
    y = (x @ w > 0).long()
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


X, Y, X_DEV, Y_DEV = make_data()
LENGTHS = np.random.default_rng(7).integers(1, 40, size=N_TRAIN)


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    # Dropout makes training consume the torch RNG: resume must restore it.
    return nn.Sequential(nn.Dropout(0.1), nn.Linear(DIM, 2))


def loss_fn_for(model: nn.Module, calls: list | None = None):
    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        if calls is not None:
            calls.append(tuple(int(i) for i in idx))
        index = torch.as_tensor(idx, dtype=torch.long)
        return nn.functional.cross_entropy(model(X[index]), Y[index])
    return loss_fn


def evaluate_for(model: nn.Module):
    def evaluate() -> Evaluation:
        logits = model(X_DEV)
        loss = float(nn.functional.cross_entropy(logits, Y_DEV))
        acc = float((logits.argmax(-1) == Y_DEV).float().mean())
        return Evaluation({"neg_loss": -loss, "acc": acc}, "neg_loss")
    return evaluate


def scripted_evaluate(model: nn.Module, scores: list[float], snapshots: list | None = None):
    """Returns the given scores in turn; records the weights each evaluation saw."""
    it = iter(scores)

    def evaluate() -> Evaluation:
        if snapshots is not None:
            snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return Evaluation({"score": next(it)}, "score")
    return evaluate


def config(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=BATCH, learning_rate=0.05, optimizer="adam", scheduler="linear",
                warmup_ratio=0.1, evals_per_epoch=2, grad_clip=1.0, checkpoint_seconds=60.0)
    base.update(kw)
    return TrainConfig(**base)


def buckets(seed: int = 3) -> LengthBuckets:
    return LengthBuckets(LENGTHS, BATCH, seed=seed, pool_batches=2)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k]) for k in a)


def state_of(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Crash(RuntimeError):
    """Stands in for the process dying mid-epoch."""


# -- training -----------------------------------------------------------------------------

def test_fit_improves_dev_metric_and_keeps_best_weights(tmp_path):
    model = make_model(0)
    evaluate = evaluate_for(model)
    with torch.no_grad():
        model.eval()
        before = evaluate().metrics
    result = fit(model, loss_fn_for(model), buckets(), evaluate, config(), tmp_path)

    assert result.steps == 3 * 8
    assert len(result.history) == 3 * 2
    assert [h["step"] for h in result.history] == [4, 8, 12, 16, 20, 24]
    assert result.best["neg_loss"] > before["neg_loss"] + 0.1
    assert result.best["acc"] >= 0.9 and result.best["acc"] > before["acc"]
    assert result.best["neg_loss"] == max(h["neg_loss"] for h in result.history)
    # the model holds the best-on-dev weights: re-evaluating reproduces the best metrics
    with torch.no_grad():
        model.eval()
        after = evaluate().metrics
    assert after["neg_loss"] == pytest.approx(result.best["neg_loss"], abs=1e-6)
    # a finished run leaves its result and best weights, and no checkpoint
    assert (tmp_path / RESULT).is_file() and (tmp_path / BEST).is_file()
    assert not (tmp_path / CHECKPOINT).exists()
    assert json.loads((tmp_path / RESULT).read_text())["steps"] == 24


def test_fit_restores_best_not_last_weights(tmp_path):
    model = make_model(0)
    snapshots: list = []
    scores = [0.1, 0.9, 0.3, 0.2, 0.25, 0.05]  # second evaluation (step 8) is the best
    result = fit(model, loss_fn_for(model), buckets(), scripted_evaluate(model, scores, snapshots),
                 config(), tmp_path)
    assert len(snapshots) == 6
    assert result.best == {"score": 0.9}
    assert result.best_step == 8
    assert not same_weights(snapshots[1], snapshots[-1])  # training moved on after the best
    assert same_weights(state_of(model), snapshots[1])


def test_finished_run_is_not_retrained(tmp_path):
    model = make_model(0)
    first = fit(model, loss_fn_for(model), buckets(), evaluate_for(model), config(epochs=1), tmp_path)
    best = state_of(model)

    other = make_model(99)
    assert not same_weights(state_of(other), best)

    def must_not_train(idx):
        raise AssertionError("a finished fit must not train again")

    again = fit(other, must_not_train, buckets(), evaluate_for(other), config(epochs=1), tmp_path)
    assert again.steps == first.steps and again.best_step == first.best_step
    assert again.best == pytest.approx(first.best)
    assert same_weights(state_of(other), best)


def test_learning_rate_schedule_is_applied_every_step(tmp_path, monkeypatch):
    optimizers = []
    real_build = loop_module.build_optimizer

    def capture(model, cfg):
        optimizers.append(real_build(model, cfg))
        return optimizers[-1]

    monkeypatch.setattr(loop_module, "build_optimizer", capture)
    model = make_model(0)
    seen_lr = []
    inner = loss_fn_for(model)

    def loss_fn(idx):
        seen_lr.append(optimizers[0].param_groups[0]["lr"])
        return inner(idx)

    cfg = config(epochs=2, scheduler="linear", warmup_ratio=0.25, learning_rate=0.02)
    fit(model, loss_fn, buckets(), evaluate_for(model), cfg, tmp_path)
    total = 16
    assert seen_lr == pytest.approx([0.02 * lr_factor(cfg, s, total) for s in range(total)])
    assert seen_lr[0] == pytest.approx(0.02 / 4) and max(seen_lr) == pytest.approx(0.02)


# -- resume after a crash -----------------------------------------------------------------

def checkpoint_step(path) -> int:
    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()["state"])["global_step"]


def test_resume_after_crash_matches_uninterrupted_run(tmp_path):
    cfg = config(checkpoint_seconds=1e-9)  # checkpoint after every step
    total = 3 * 8
    crash_after = 13  # mid second epoch (position 5 of 8), just after the step-12 evaluation

    # uninterrupted reference
    ref_model = make_model(0)
    ref_calls: list = []
    ref = fit(ref_model, loss_fn_for(ref_model, ref_calls), buckets(), evaluate_for(ref_model), cfg,
              tmp_path / "ref")
    assert ref.steps == total and len(ref_calls) == total

    # the same run, dying inside the 14th step
    model = make_model(0)
    calls: list = []
    inner = loss_fn_for(model, calls)

    def crashing(idx):
        if len(calls) == crash_after:
            raise Crash("simulated crash")
        return inner(idx)

    work = tmp_path / "crashed"
    with pytest.raises(Crash):
        fit(model, crashing, buckets(), evaluate_for(model), cfg, work)
    assert (work / CHECKPOINT).is_file() and not (work / RESULT).exists()
    saved = checkpoint_step(work / CHECKPOINT)
    assert saved == crash_after
    assert calls == ref_calls[:crash_after]

    # a fresh process: new model with other weights, other RNG state
    fresh = make_model(12345)
    torch.manual_seed(777)
    resumed_calls: list = []
    result = fit(fresh, loss_fn_for(fresh, resumed_calls), buckets(), evaluate_for(fresh), cfg, work)

    assert len(resumed_calls) == total - saved  # resumed at the saved step, no step redone
    assert calls + resumed_calls == ref_calls  # the same batches in the same order
    assert result.steps == ref.steps == total
    assert result.best_step == ref.best_step
    assert [h["step"] for h in result.history] == [h["step"] for h in ref.history]
    assert [h["neg_loss"] for h in result.history] == pytest.approx([h["neg_loss"] for h in ref.history], abs=1e-6)
    assert same_weights(state_of(fresh), state_of(ref_model))
    assert not (work / CHECKPOINT).exists()


def test_keyboard_interrupt_saves_checkpoint(tmp_path):
    model = make_model(0)
    calls: list = []
    inner = loss_fn_for(model, calls)

    def interrupted(idx):
        if len(calls) == 6:
            raise KeyboardInterrupt
        return inner(idx)

    # long checkpoint interval: only the evaluation at step 4 and the interrupt save
    with pytest.raises(KeyboardInterrupt):
        fit(model, interrupted, buckets(), evaluate_for(model), config(checkpoint_seconds=3600), tmp_path)
    assert checkpoint_step(tmp_path / CHECKPOINT) == 6

    fresh = make_model(1)
    rest: list = []
    result = fit(fresh, loss_fn_for(fresh, rest), buckets(), evaluate_for(fresh), config(checkpoint_seconds=3600),
                 tmp_path)
    assert len(rest) == 24 - 6 and result.steps == 24


# -- early stopping -----------------------------------------------------------------------

def test_patience_stops_early(tmp_path):
    model = make_model(0)
    scores = [0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, -0.3, -0.4]
    calls: list = []
    result = fit(model, loss_fn_for(model, calls), buckets(), scripted_evaluate(model, scores),
                 config(epochs=5, patience=2), tmp_path)
    assert result.stopped_early
    assert len(result.history) == 3  # the best, then two evaluations without improvement
    assert result.steps == 12 == len(calls)
    assert result.best_step == 4 and result.best == {"score": 0.5}


def test_improvement_resets_patience(tmp_path):
    model = make_model(0)
    scores = [0.5, 0.4, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1]
    result = fit(model, loss_fn_for(model), buckets(), scripted_evaluate(model, scores),
                 config(epochs=5, patience=2), tmp_path)
    assert result.stopped_early
    assert len(result.history) == 5
    assert result.best_step == 12 and result.steps == 20


def test_no_patience_runs_all_epochs(tmp_path):
    model = make_model(0)
    scores = [0.5 - 0.1 * i for i in range(10)]
    result = fit(model, loss_fn_for(model), buckets(), scripted_evaluate(model, scores),
                 config(epochs=5, patience=None), tmp_path)
    assert not result.stopped_early
    assert result.steps == 40 and len(result.history) == 10


# -- learning-rate schedule ---------------------------------------------------------------

def test_lr_factor_linear_warmup_and_decay():
    cfg = TrainConfig(scheduler="linear", warmup_ratio=0.1)
    total = 100  # warmup: steps 0..9
    assert lr_factor(cfg, 0, total) == pytest.approx(0.1)
    assert lr_factor(cfg, 4, total) == pytest.approx(0.5)
    assert lr_factor(cfg, 9, total) == pytest.approx(1.0)
    assert lr_factor(cfg, 10, total) == pytest.approx(1.0)  # peak right after warmup
    assert lr_factor(cfg, 55, total) == pytest.approx(0.5)
    assert lr_factor(cfg, 99, total) == pytest.approx(1 / 90)
    assert lr_factor(cfg, 100, total) == pytest.approx(0.0)
    assert lr_factor(cfg, 150, total) == 0.0  # never negative
    factors = [lr_factor(cfg, s, total) for s in range(total)]
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))


def test_lr_factor_without_warmup():
    cfg = TrainConfig(scheduler="linear", warmup_ratio=0.0)
    assert lr_factor(cfg, 0, 10) == pytest.approx(1.0)
    assert lr_factor(cfg, 5, 10) == pytest.approx(0.5)


def test_lr_factor_cosine():
    cfg = TrainConfig(scheduler="cosine", warmup_ratio=0.2)
    total = 50  # warmup: steps 0..9, then 40 steps of cosine decay
    assert lr_factor(cfg, 0, total) == pytest.approx(0.1)
    assert lr_factor(cfg, 9, total) == pytest.approx(1.0)
    assert lr_factor(cfg, 10, total) == pytest.approx(1.0)
    assert lr_factor(cfg, 20, total) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(cfg, 30, total) == pytest.approx(0.5)
    assert lr_factor(cfg, 50, total) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(cfg, 80, total) == pytest.approx(0.0, abs=1e-12)  # clamped, does not rise again


def test_lr_factor_constant():
    cfg = TrainConfig(scheduler="constant", warmup_ratio=0.5)
    assert lr_factor(cfg, 0, 10) == pytest.approx(0.2)
    assert lr_factor(cfg, 4, 10) == pytest.approx(1.0)
    assert lr_factor(cfg, 9, 10) == 1.0
    assert lr_factor(TrainConfig(scheduler="constant"), 0, 10) == 1.0


def test_eval_points():
    assert _eval_points(8, 1) == {8}
    assert _eval_points(8, 2) == {4, 8}
    assert _eval_points(10, 3) == {3, 7, 10}
    assert _eval_points(3, 10) == {1, 2, 3}  # at most once per batch


# -- batching -----------------------------------------------------------------------------

def test_length_buckets_deterministic_per_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(1, 60, size=103)
    lb = LengthBuckets(lengths, batch_size=8, seed=11, pool_batches=3)
    assert len(lb) == 13
    e0 = lb.epoch(0)
    again = LengthBuckets(lengths, batch_size=8, seed=11, pool_batches=3).epoch(0)
    assert len(e0) == 13
    assert all(np.array_equal(a, b) for a, b in zip(e0, again))

    e1 = lb.epoch(1)
    assert [b.tolist() for b in e1] != [b.tolist() for b in e0]
    other_seed = LengthBuckets(lengths, batch_size=8, seed=12, pool_batches=3).epoch(0)
    assert [b.tolist() for b in other_seed] != [b.tolist() for b in e0]

    for batches in (e0, e1, other_seed):
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(103))  # every index exactly once
        assert sum(len(b) == 8 for b in batches) >= 12
        for b in batches:  # a batch is a run of a length-sorted pool
            assert np.all(np.diff(lengths[b]) >= 0)


def test_length_buckets_inference_order():
    lengths = [5, 1, 4, 1, 9, 2, 3]
    lb = LengthBuckets(lengths, batch_size=3, shuffle=False)
    batches = lb.epoch(0)
    assert [b.tolist() for b in batches] == [[1, 3, 5], [6, 2, 0], [4]]
    assert [b.tolist() for b in lb.epoch(5)] == [b.tolist() for b in batches]


def test_pad_ids():
    ids, mask = pad_ids([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert ids.dtype == torch.long and mask.dtype == torch.long
