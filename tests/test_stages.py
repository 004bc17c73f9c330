"""Multi-stage training (XtremeDistil), gradual unfreezing, per-step loss schedules and named recipes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from taskdistil import distill as distill_module
from taskdistil.cli import main
from taskdistil.config import LossConfig, Ramp, RunConfig, TrainConfig, load_config, student_config
from taskdistil.errors import ConfigError
from taskdistil.io import load_tensors, read_json
from taskdistil.pipeline import Run, student_settings, teacher_hidden_layers
from taskdistil.students.bilstm import BiLSTMConfig, BiLSTMStudent
from taskdistil.students.cnn import CNNConfig, CNNStudent
from taskdistil.teacher.annotate import HiddenStore
from taskdistil.train.batching import LengthBuckets
from taskdistil.train.hooks import GradualUnfreezing, chain
from taskdistil.train.loop import CHECKPOINT, Evaluation, fit

from conftest import tiny_config

# -- recipes and stage configuration -------------------------------------------------------------


def test_recipes_fill_paper_settings_under_explicit_keys():
    tang = student_config(name="t", recipe="tang", train={"epochs": 3})
    assert (tang.kind, tang.embedding_mode, tang.hidden_size, tang.fc_dim, tang.pooling) == (
        "bilstm", "multichannel", 150, 200, "last")
    assert (tang.loss.soft, tang.loss.hard_weight) == ("mse", 0.0)
    assert (tang.train.optimizer, tang.train.learning_rate, tang.train.batch_size, tang.train.epochs) == (
        "adadelta", 1.0, 50, 3)  # the explicit epochs win, Tang's optimizer stays
    for name, layer_map in (("pkd-skip", "skip"), ("pkd-last", "last")):
        pkd = student_config(name="p", recipe=name)
        assert (pkd.kind, pkd.layers, pkd.init_layers, pkd.layer_map) == ("transformer", 3, "first", layer_map)
        assert (pkd.loss.soft, pkd.loss.temperature, pkd.loss.hard_weight, pkd.loss.pkd_weight) == (
            "kl", 10.0, 0.5, 100.0)
        assert (pkd.train.learning_rate, pkd.train.batch_size, pkd.train.epochs) == (5e-5, 32, 4)
        assert pkd.train.warmup_ratio == 0.1  # the transformer train defaults fill what the recipe leaves out
    xd = student_config(name="x", recipe="xtremedistil", embedding_dim=16, loss={"temperature": 2.0})
    assert (xd.embeddings, xd.embedding_dim, xd.hidden_size, xd.dropout) == ("svd", 16, 600, 0.2)
    assert (xd.loss.soft, xd.loss.temperature) == ("mse", 2.0)
    assert [(s.objective, s.unfreeze, s.teacher_layer) for s in xd.stages] == [
        ("representation", "gradual", None), ("logits", "all", None), ("hard_labels", "all", None)]
    assert all(s.train == xd.train for s in xd.stages) and xd.train.scheduler == "cosine"
    hard = student_config(name="h", recipe="hard")
    assert hard.kind == "bilstm" and [s.objective for s in hard.stages] == ["hard_distill"]
    own = student_config(name="o", recipe="xtremedistil", stages=[{"objective": "logits"}])
    assert [s.objective for s in own.stages] == ["logits"]  # a given stage list replaces the recipe's


def test_stage_train_merges_over_the_students_and_round_trips():
    student = student_config(name="s", train={"epochs": 5, "batch_size": 7},
                            stages=[{"objective": "representation", "train": {"learning_rate": 0.01}},
                                    {"objective": "logits"}])
    first, second = student.stages
    assert (first.train.learning_rate, first.train.epochs, first.train.batch_size) == (0.01, 5, 7)
    assert first.train.optimizer == "adam" and first.train.patience == 6  # the student defaults below
    assert second.train == student.train
    transformer = student_config(name="t", kind="transformer", stages=[{"objective": "logits", "train": {"epochs": 1}}])
    assert transformer.stages[0].train.learning_rate == 5e-5 and transformer.stages[0].train.epochs == 1
    again = student_config(**student.model_dump(mode="json"))  # the resolved config.yaml reloads same
    assert again == student


def test_stage_keys_include_stages_and_recipe_only_when_set():
    plain = student_settings(student_config())
    assert "stages" not in plain and "recipe" not in plain
    staged = student_settings(student_config(name="h", recipe="hard"))
    assert staged["recipe"] == "hard" and staged["stages"][0]["objective"] == "hard_distill"


def test_loss_schedules_validate_both_ends():
    loss = LossConfig(hard_weight={"start": 1, "end": 0}, temperature={"start": 4.0, "end": 1.0})
    assert loss.hard_weight == Ramp(start=1.0, end=0.0) and loss.uses_hard_labels()
    assert not LossConfig(hard_weight=0).uses_hard_labels()
    with pytest.raises(ValueError, match=r"hard_weight must be in \[0, 1\]"):
        LossConfig(hard_weight={"start": 0.5, "end": 1.5})
    with pytest.raises(ValueError, match="temperature must be > 0"):
        LossConfig(temperature=0)


@pytest.mark.parametrize(("student", "message"), [
    ({"recipe": "distilbert"}, r"students\.0\.recipe: got 'distilbert', allowed: 'tang', 'pkd-skip', 'pkd-last', "
                               r"'xtremedistil' or 'hard'"),
    ({"stages": [{"objective": "logit"}]}, r"students\.0\.stages\.0\.objective: got 'logit', allowed: "
                                           r"'representation', 'logits', 'hard_distill' or 'hard_labels'"),
    ({"stages": [{"objective": "logits", "unfreeze": "some"}]}, r"stages\.0\.unfreeze: got 'some', allowed"),
    ({"stages": [{"objective": "logits", "teacher_layer": 2}]}, "teacher_layer is a setting of objective "
                                                                "'representation'"),
    ({"stages": [{"objective": "logits", "train": {"epoch": 2}}]}, r"stages\.0\.train\.epoch: unknown key"),
    ({"stages": []}, r"students\.0\.stages: .*at least 1"),
    ({"kind": "transformer", "loss": {"pkd_weight": 1}, "stages": [{"objective": "hard_labels"}]},
     "pkd_weight .* add a logits stage"),
    ({"loss": {"hard_weight": 2}}, r"students\.0\.loss\.hard_weight: .*must be in \[0, 1\]"),
])
def test_stage_and_recipe_errors_name_the_key(tmp_path, sst2_small, tiny_teacher, student, message):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[{"name": "s", **student}])
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def _run_with_teacher_depth(tmp_path, students: list[dict], depth: int = 6) -> Run:
    config = RunConfig.model_validate({"run_dir": str(tmp_path / "run"), "students": students,
                                       "data": {"train": "t", "dev": "d", "test": "e"}})
    run = Run(config)
    run.teacher_model_dir.mkdir(parents=True)
    (run.teacher_model_dir / "config.json").write_text(json.dumps({"model_type": "bert",
                                                                   "num_hidden_layers": depth}))
    return run


def test_annotation_layers_are_the_union_of_patient_kd_and_representation_layers(tmp_path):
    xd = {"name": "xd", "recipe": "xtremedistil"}  # teacher_layer unset: ceil(7/12 * 6) = 4
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "a", [xd])) == [4]
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "b", [xd], depth=12)) == [7]  # the paper's
    own = {"name": "own", "stages": [{"objective": "representation", "teacher_layer": 5}, {"objective": "logits"}]}
    pkd = {"name": "pkd", "recipe": "pkd-skip"}  # teacher layers 2, 4
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "c", [xd, own, pkd, {"name": "b"}])) == [2, 4, 5]
    deep = {"name": "deep", "stages": [{"objective": "representation", "teacher_layer": 7}]}
    with pytest.raises(ConfigError, match=r"students\.deep\.stages\.0\.teacher_layer: teacher layer 7 out of range"):
        teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "d", [deep]))


# -- schedules and gradual unfreezing ------------------------------------------------------------


def test_ramp_and_the_logits_schedule_hook():
    ramp = Ramp(start=1.0, end=0.0)
    assert [ramp.at(s, 5) for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert ramp.at(9, 5) == 0.0 and ramp.at(0, 1) == 1.0
    student = student_config(loss={"soft": "kl", "hard_weight": {"start": 0.8, "end": 0.0},
                                  "temperature": {"start": 9.0, "end": 1.0}})
    loss, hook = distill_module._logits_loss(student)
    assert (loss.hard_weight, loss.soft.temperature) == (0.8, 9.0)
    hook(2, 5)
    assert (loss.hard_weight, loss.soft.temperature) == (pytest.approx(0.4), pytest.approx(5.0))
    z_s, z_t, y = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    hook(4, 5)  # the end of the stage: a = 0 and T = 1 -> KL at T 1 alone
    expected = nn.functional.kl_div(z_s.log_softmax(-1), z_t.log_softmax(-1), log_target=True, reduction="batchmean")
    assert torch.allclose(loss(z_s, z_t, y), expected)


VOCAB, N_TRAIN = 40, 48
TOKENS = torch.randint(1, VOCAB, (N_TRAIN, 6), generator=torch.Generator().manual_seed(0))
TARGETS = torch.randint(0, 2, (N_TRAIN,), generator=torch.Generator().manual_seed(1))


def _tiny_bilstm(seed: int = 0) -> BiLSTMStudent:
    torch.manual_seed(seed)
    return BiLSTMStudent(BiLSTMConfig(vocab_size=VOCAB, num_labels=2, embedding_dim=4, embedding_mode="multichannel",
                                      hidden_size=3, fc_dim=3, dropout=0.1))


def _fit_gradual(model: BiLSTMStudent, workdir, record: list | None = None, crash_at: int | None = None):
    """12 steps (6 batches x 2 epochs) with gradual unfreezing; ``record`` gets (step, requires_grad per group,
    weights) before each step's loss."""
    unfreezing = GradualUnfreezing(model.unfreeze_groups())
    steps = []

    def hook(step: int, total: int) -> None:
        steps.append(step)

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        if crash_at is not None and steps[-1] >= crash_at:
            raise RuntimeError("killed")
        if record is not None:
            record.append((steps[-1], [all(p.requires_grad for p in g) for g in unfreezing.groups],
                           {k: v.detach().clone() for k, v in model.state_dict().items()}))
        index = torch.as_tensor(idx)
        out = model(TOKENS[index], torch.ones_like(TOKENS[index]))
        return nn.functional.cross_entropy(out.logits, TARGETS[index])

    def evaluate() -> Evaluation:
        return Evaluation({"score": float(steps[-1])}, "score")  # later is better: best = last

    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=0.05, optimizer="adamw", weight_decay=0.1,
                      scheduler="constant", evals_per_epoch=3, checkpoint_seconds=1e9)
    batches = LengthBuckets([6] * N_TRAIN, 8, seed=2)
    fit(model, loss_fn, batches, evaluate, cfg, workdir, on_step=chain(hook, unfreezing))
    return unfreezing


def test_gradual_unfreezing_trains_groups_top_down_and_never_touches_frozen_ones(tmp_path):
    model = _tiny_bilstm()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    record: list = []
    unfreezing = _fit_gradual(model, tmp_path / "w", record)
    # groups: classifier, fc, lstm, embedding (its tuned copy; the multichannel frozen copy is no group member)
    assert [len(g) for g in unfreezing.groups] == [2, 2, 8, 1]  # the lstm: 4 tensors per direction
    assert unfreezing.groups[3][0] is model.embedding.weight
    expected = {s: [i < min(4, 1 + s * 4 // 12) for i in range(4)] for s in range(12)}
    assert {step: flags for step, flags, _ in record} == expected
    weights = {step: w for step, _, w in record}
    for step in range(12):  # a group not yet unfrozen still holds its initial values (no step, no weight decay)
        frozen = [name for name, flag in zip(("classifier", "fc", "lstm", "embedding.weight"), expected[step])
                  if not flag]
        for key in weights[step]:
            if any(key.startswith(name) for name in frozen):
                assert torch.equal(weights[step][key], initial[key]), (step, key)
    assert not torch.equal(weights[7]["lstm.weight_ih_l0"], initial["lstm.weight_ih_l0"])  # trains from step 6
    assert torch.equal(model.embedding.frozen_weight, initial["embedding.frozen_weight"])
    assert not model.embedding.frozen_weight.requires_grad
    unfreezing.release()
    assert all(p.requires_grad for g in unfreezing.groups for p in g)
    assert not model.embedding.frozen_weight.requires_grad


def test_gradual_unfreezing_resumes_to_the_same_weights(tmp_path):
    reference = _tiny_bilstm()
    _fit_gradual(reference, tmp_path / "ref")
    model = _tiny_bilstm()
    with pytest.raises(RuntimeError, match="killed"):
        _fit_gradual(model, tmp_path / "run", crash_at=9)  # killed in the fourth quarter, after a checkpoint
    assert (tmp_path / "run" / CHECKPOINT).is_file()
    resumed = _tiny_bilstm(seed=5)  # other initial weights: all state comes from the checkpoint
    record: list = []
    _fit_gradual(resumed, tmp_path / "run", record)
    assert record[0][0] > 0  # it resumed mid-stage, with the groups of that step
    assert all(flags == [i < min(4, 1 + s * 4 // 12) for i in range(4)] for s, flags, _ in record)
    for key, value in reference.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key]), key


def test_unfreeze_groups_of_each_student_kind(tiny_teacher):
    from transformers import BertForSequenceClassification

    from taskdistil.students.transformer import TransformerStudent

    cnn = CNNStudent(CNNConfig(vocab_size=VOCAB, num_labels=2, embedding_dim=4, filter_widths=(2, 3), num_filters=2))
    groups = cnn.unfreeze_groups()
    assert len(groups) == 3 and groups[0][0] is cnn.classifier.weight and groups[2] == [cnn.embedding.weight]
    teacher = BertForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2)
    student = TransformerStudent.from_teacher(teacher, [1, 2])
    groups = student.unfreeze_groups()
    assert len(groups) == 4  # classifier + pooler, layer 2, layer 1, embeddings
    assert groups[0][0] is student.classifier.weight
    assert groups[1][0] is next(student.bert.encoder.layer[1].parameters())
    n_params = sum(1 for _ in student.parameters())
    assert sum(len(g) for g in groups) == n_params


def test_teacher_pooling_is_a_representation_setting_left_out_of_keys_while_unset():
    with pytest.raises(ValueError, match="teacher_pooling is a setting of objective 'representation'"):
        student_config(name="s", stages=[{"objective": "logits", "teacher_pooling": "mean"}])
    plain = student_config(name="s", recipe="xtremedistil")
    assert all("teacher_pooling" not in stage for stage in student_settings(plain)["stages"])  # keys as before
    mean = student_config(name="s", stages=[{"objective": "representation", "teacher_pooling": "mean"},
                                           {"objective": "logits"}])
    assert [stage.get("teacher_pooling") for stage in student_settings(mean)["stages"]] == ["mean", None]


# -- end to end ------------------------------------------------------------------------------------

SMALL = {"embedding_dim": 16, "hidden_size": 8, "fc_dim": 8}


def test_pipeline_with_xtremedistil_and_hard_students(tmp_path, sst2_small, tiny_teacher, monkeypatch, capsys):
    """Stages in their own work dirs, each starting from the previous one's best weights; a rerun skips everything;
    a distill stage killed in its last training stage resumes there without retraining the finished ones."""
    xd = {"name": "xd", "recipe": "xtremedistil", **SMALL, "train": {"epochs": 1, "batch_size": 32},
          "stages": [{"objective": "representation", "unfreeze": "gradual", "train": {"epochs": 2}},
                     {"objective": "logits"}, {"objective": "hard_labels", "train": {"learning_rate": 1e-4}}]}
    hard = {"name": "hard", "recipe": "hard", **SMALL, "train": {"epochs": 1, "batch_size": 32}}
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[xd, hard])
    entries: list = []  # (work dir, the trained module's weights when fit starts)
    real_fit = distill_module.fit

    def recording_fit(model, loss_fn, batches, evaluate, cfg, workdir, *args, **kwargs):
        entries.append((workdir, {k: v.detach().clone() for k, v in model.state_dict().items()}))
        return real_fit(model, loss_fn, batches, evaluate, cfg, workdir, *args, **kwargs)

    monkeypatch.setattr(distill_module, "fit", recording_fit)
    assert main(["run", str(config)]) == 0
    err = capsys.readouterr().err
    run_dir = tmp_path / "run"
    assert ("[distill:xd] stage 1/3: representation (teacher layer 2, [CLS] state, gradual unfreezing of 2 parameter "
            "groups)") in err
    assert "[distill:hard] stage 1/1: hard_distill\n" in err
    assert read_json(run_dir / "annotations" / "manifest.json")["inputs"]["hidden_layers"] == [2]
    assert HiddenStore(run_dir / "annotations").layers == [2]

    xd_dir, hard_dir = run_dir / "students" / "xd", run_dir / "students" / "hard"
    names = ["1-representation", "2-logits", "3-hard_labels"]
    assert sorted(p.name for p in (xd_dir / "stages").iterdir()) == names
    assert [p.name for p in (hard_dir / "stages").iterdir()] == ["1-hard_distill"]
    assert not (xd_dir / "work").exists() and not (hard_dir / "work").exists()
    assert [w for w, _ in entries] == [xd_dir / "stages" / n for n in names] + [hard_dir / "stages" / "1-hard_distill"]

    # stage n + 1 starts from stage n's best weights (stage 1 also trains the projection, under "student.")
    best = [load_tensors(xd_dir / "stages" / n / "best.safetensors") for n in names]
    first_best = {k[len("student."):]: v for k, v in best[0].items() if k.startswith("student.")}
    assert set(best[0]) - {f"student.{k}" for k in first_best} == {"loss.projection.weight", "loss.projection.bias"}
    for start, previous in ((entries[1][1], first_best), (entries[2][1], best[1])):
        assert start.keys() == previous.keys() and all(torch.equal(start[k], previous[k]) for k in start)
    initial = {k[len("student."):]: v for k, v in entries[0][1].items() if k.startswith("student.")}
    assert not torch.equal(initial["lstm.weight_ih_l0"], first_best["lstm.weight_ih_l0"])
    assert torch.equal(initial["classifier.weight"], first_best["classifier.weight"])  # unreached by stage 1

    outputs = read_json(xd_dir / "manifest.json")["outputs"]
    assert [s["objective"] for s in outputs["stages"]] == ["representation", "logits", "hard_labels"]
    assert "neg_representation_mse" in outputs["stages"][0]["dev"] and "accuracy" in outputs["dev"]
    assert outputs["stages"][0]["steps"] == 2 * 10  # 300 rows / 32 -> 10 batches, the stage's 2 epochs
    assert read_json(xd_dir / "manifest.json")["inputs"]["student"]["stages"][2]["train"]["learning_rate"] == 1e-4
    assert (run_dir / "students" / "xd" / "model" / "model.safetensors").is_file()
    assert "| xd | onnx-int8 |" in (run_dir / "report.md").read_text()

    # a rerun skips every stage and trains nothing
    entries.clear()
    assert main(["run", str(config)]) == 0
    err = capsys.readouterr().err
    assert entries == [] and "running" not in err
    for stage in ("teacher", "annotate", "distill:xd", "distill:hard", "exam"):
        assert f"[{stage}] up to date, skipped" in err

    # killed during stage 3: stages 1 and 2 are not retrained, stage 3 trains again
    manifest = read_json(xd_dir / "manifest.json")
    (xd_dir / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    done = {n: (xd_dir / "stages" / n / "fit.json").stat().st_mtime_ns for n in names}
    for leftover in (xd_dir / "stages" / "3-hard_labels").iterdir():
        leftover.unlink()
    assert main(["distill", str(config), "--student", "xd"]) == 0
    assert "resuming an unfinished stage" in capsys.readouterr().err
    after = {n: (xd_dir / "stages" / n / "fit.json").stat().st_mtime_ns for n in names}
    assert after[names[0]] == done[names[0]] and after[names[1]] == done[names[1]]
    assert after[names[2]] != done[names[2]]
    assert read_json(xd_dir / "manifest.json")["status"] == "complete"


def test_a_representation_stage_learns_mean_pooled_teacher_states(tmp_path, sst2_small, tiny_teacher, capsys):
    """teacher_pooling: mean -> the annotation stores the mean of the layer's token states ('2:mean'), and the
    stage learns them: its dev MSE to the teacher's mean states falls from the start."""
    xm = {"name": "xm", **SMALL, "train": {"epochs": 1, "batch_size": 32},
          "stages": [{"objective": "representation", "teacher_layer": 2, "teacher_pooling": "mean",
                      "train": {"epochs": 2, "evals_per_epoch": 2}}, {"objective": "logits"}]}
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[xm])
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, str(config)]) == 0
    err = capsys.readouterr().err
    assert "[distill:xm] stage 1/2: representation (teacher layer 2, mean of its token states)" in err
    run_dir = tmp_path / "run"
    assert read_json(run_dir / "annotations" / "manifest.json")["inputs"]["hidden_layers"] == ["2:mean"]
    assert HiddenStore(run_dir / "annotations").layers == ["2:mean"]
    first = read_json(run_dir / "students" / "xm" / "manifest.json")["outputs"]["stages"][0]
    history = [entry["neg_representation_mse"] for entry in first["history"]]
    assert len(history) == 4 and max(history[1:]) > history[0]  # a higher -MSE: closer to the teacher's states
