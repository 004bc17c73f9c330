"""The hf student (any Hugging Face encoder checkpoint): its own tokenizer, weights from the checkpoint, the Patient
KD projection to the teacher's hidden size, config validation, and a tiny end-to-end run whose artifact loads
(torch and ONNX) after the checkpoint is gone."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import numpy as np
import pytest
import torch

import taskdistil
from taskdistil.artifact import save_student
from taskdistil.cli import main
from taskdistil.config import HF_TRAIN, RunConfig, load_config, student_config
from taskdistil.errors import ConfigError
from taskdistil.export.package import export_model
from taskdistil.io import load_tensors, read_json
from taskdistil.losses import PatientLoss
from taskdistil.pipeline import Run, student_settings, teacher_hidden_layers
from taskdistil.students.hf_encoder import HFEncoderStudent, checkpoint_tokenizer
from taskdistil.students.layer_maps import pkd_layer_map
from taskdistil.teacher.annotate import HiddenStore
from taskdistil.teacher.model import Teacher
from taskdistil.train.batching import pad_ids

from conftest import tiny_config

TEXTS = ["a fine film", "not good at all", "the acting is superb , the plot less so", "ok", "meh !",
         "one of the worst movies i have ever seen", "charming"]
HIDDEN = 48  # the tiny teacher's is 32: Patient KD goes through a projection
LABELS = ["neg", "neutral", "pos"]


def _texts(data_dir, split: str) -> list[str]:
    lines = (data_dir / "sst2" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines]


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory, sst2_small):
    """A random 2-layer, hidden-48 BERT with its own small WordPiece vocabulary (the training text's words, single
    characters and ## pieces: the other splits' rarer words come in pieces): other ids than the teacher's, as a
    downloaded BERT-Tiny directory holds them. At BERT's init scale (std 0.02) every text gets almost the same
    states: larger layer weights make them differ, so that comparisons of outputs mean something."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("hf_checkpoint")
    counts = Counter(w for text in _texts(sst2_small, "train") for w in re.findall(r"\w+|[^\w\s]", text.lower()))
    chars = sorted({c for w in counts for c in w})
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars]
             + sorted(w for w in counts if len(w) > 1))
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=96, max_position_embeddings=128)
    config.save_pretrained(out)
    AutoTokenizer.from_pretrained(out).save_pretrained(out)  # adds tokenizer.json, as hub checkpoints have
    torch.manual_seed(0)
    model = BertModel(config)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.dim() == 2 and ".layer." in name:
                weight.normal_(0, 0.2)
    model.save_pretrained(out, safe_serialization=True)
    return out


# -- configuration ----------------------------------------------------------------------------------

def test_hf_config_defaults_and_stage_keys():
    student = student_config(name="h", kind="hf", checkpoint="google/bert_uncased_L-2_H-128_A-2",
                            loss={"pkd_weight": 10})
    assert student.train == HF_TRAIN and student.layer_map == "skip" and student.layers is None
    assert student_config(name="h", kind="hf", checkpoint="x", train={"epochs": 1}).train.learning_rate == 1e-4
    assert student_settings(student)["checkpoint"] == "google/bert_uncased_L-2_H-128_A-2"
    # runs without hf students keep their stage keys: the new setting is left out while unset
    assert "checkpoint" not in student_settings(student_config()) and "checkpoint" not in student_settings(
        student_config(name="t", kind="transformer"))


@pytest.mark.parametrize(("settings", "message"), [
    ({"kind": "hf"}, r"students\.0: .*kind 'hf' needs the key 'checkpoint'"),
    ({"checkpoint": "google/bert_uncased_L-2_H-128_A-2"}, r"checkpoint is a setting of kind 'hf' students \(this "
                                                          r"one is 'bilstm'\)"),
    ({"kind": "transformer", "checkpoint": "x/y"}, "checkpoint is a setting of kind 'hf'.*'transformer'"),
    ({"kind": "hf", "checkpoint": "x/y", "init_layers": "first"}, "init_layers is a setting of kind 'transformer' "
                                                                   "students"),
    ({"kind": "hf", "checkpoint": "x/y", "pooling": "max"}, "an hf student pools by 'cls' .* or 'mean', got 'max'"),
    ({"kind": "hf", "checkpoint": "x/y", "layers": 3, "layer_map": [1]}, "layer_map: a student of 3 layers matches 2"),
    ({"pooling": "cls"}, "pooling 'cls' is a setting of kind 'hf' students"),
    ({"kind": "hf", "checkpoint": "embedded:minilm-l12"}, r"students\.h\.checkpoint: unknown embedded model"),
    ({"kind": "hf", "checkpoint": "embedded:minilm-l6", "layers": 7},
     r"students\.h\.layers: 7, but the checkpoint embedded:minilm-l6 has 6 layers"),
    ({"kind": "hf", "checkpoint": "x/y", "tokenizer": "word"}, "kind 'hf' uses its checkpoint's own tokenizer"),
    ({"kind": "hf", "checkpoint": "./no/such/dir"}, r"students\.h\.checkpoint: no such directory: \./no/such/dir"),
])
def test_invalid_hf_settings_fail_naming_the_key(tmp_path, sst2_small, tiny_teacher, settings, message):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[{"name": "h", **settings}])
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_checkpoint_errors_come_before_any_work(tmp_path, sst2_small, tiny_teacher, capsys):
    not_a_checkpoint = tmp_path / "empty"
    not_a_checkpoint.mkdir()
    config = tiny_config(tmp_path, sst2_small, tiny_teacher,
                         students=[{"name": "h", "kind": "hf", "checkpoint": str(not_a_checkpoint)}])
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "students.h.checkpoint: " in err and "no config.json" in err
    assert not (tmp_path / "run").exists()  # nothing ran
    with pytest.raises(ConfigError, match=r"students\.h\.checkpoint: .* is not a Hugging Face checkpoint"):
        load_config(config)


# -- the model ----------------------------------------------------------------------------------------

def test_student_is_the_checkpoint_under_a_new_head(hf_checkpoint, tiny_teacher):
    from transformers import AutoTokenizer, BertModel

    tokenizer = checkpoint_tokenizer(str(hf_checkpoint), 64)
    own = tokenizer.encode(TEXTS)
    assert own == AutoTokenizer.from_pretrained(hf_checkpoint)(TEXTS)["input_ids"]
    assert own != AutoTokenizer.from_pretrained(tiny_teacher)(TEXTS)["input_ids"]  # not the teacher's ids
    student = HFEncoderStudent.from_checkpoint(str(hf_checkpoint), num_labels=3, pad_id=tokenizer.pad_id).eval()
    assert (student.hidden_size, student.num_layers) == (HIDDEN, 2)
    assert "_name_or_path" not in student.config.encoder and student.config.encoder["model_type"] == "bert"
    json.dumps(student.config.__dict__)  # what save_student stores must be JSON
    reference = BertModel.from_pretrained(hf_checkpoint).eval()
    ids, mask = pad_ids(own, tokenizer.pad_id)
    with torch.no_grad():
        out = student(ids, mask)
        expected = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        exported = student.export_forward(ids, mask)
    assert out.logits.shape == (len(TEXTS), 3) and out.layer_cls.shape == (len(TEXTS), 2, HIDDEN)
    torch.testing.assert_close(out.pooled, expected.pooler_output, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.layer_cls, torch.stack([h[:, 0] for h in expected.hidden_states[1:]], dim=1),
                               rtol=0, atol=1e-6)
    torch.testing.assert_close(exported, out.logits, rtol=0, atol=1e-6)
    groups = student.unfreeze_groups()  # top (head, pooler), layer 2, layer 1, embeddings; every parameter once
    assert len(groups) == 4 and student.classifier.weight in groups[0]
    assert student.encoder.embeddings.word_embeddings.weight in groups[-1]
    assert sum(len(g) for g in groups) == len(list(student.parameters()))


def test_patient_loss_projects_only_where_sizes_differ():
    same = PatientLoss(32, 32)
    assert same.projection is None and not list(same.parameters())
    projected = PatientLoss(HIDDEN, 32)
    assert projected.projection.weight.shape == (32, HIDDEN)
    student_cls = torch.randn(5, 1, HIDDEN, requires_grad=True)
    teacher_cls = torch.randn(5, 1, 32).half()
    value = projected(student_cls, teacher_cls)
    value.backward()
    assert value.item() > 0 and projected.projection.weight.grad is not None and student_cls.grad is not None
    with pytest.raises(RuntimeError):  # without a projection the sizes do not fit
        PatientLoss()(student_cls, teacher_cls)


def test_pkd_layer_map_follows_the_transformer_rules():
    def student(**kw):
        return student_config(name="h", kind="hf", checkpoint="c", loss={"pkd_weight": 1}, **kw)

    assert pkd_layer_map(student(), 4, 12) == [3, 6, 9]
    assert pkd_layer_map(student(layer_map="last"), 4, 12) == [9, 10, 11]
    assert pkd_layer_map(student(layer_map=[2, 2, 5]), 4, 6) == [2, 2, 5]
    with pytest.raises(ConfigError, match=r"students\.h\.layer_map: expected 3 teacher layers, got 2"):
        pkd_layer_map(student(layer_map=[1, 2]), 4, 6)
    with pytest.raises(ConfigError, match=r"students\.h\.layer_map: a 4-layer student .* the teacher has 2"):
        pkd_layer_map(student(), 4, 2)
    with pytest.raises(ConfigError, match=r"students\.h\.loss\.pkd_weight: .* >= 2 layers"):
        pkd_layer_map(student(), 1, 6)


def test_teacher_hidden_layers_include_hf_students(tmp_path, hf_checkpoint):
    def run_with(students: list[dict]) -> Run:
        config = RunConfig.model_validate({"run_dir": str(tmp_path / "run"), "students": students,
                                           "data": {"train": "t", "dev": "d", "test": "e"}})
        run = Run(config)
        run.teacher_model_dir.mkdir(parents=True, exist_ok=True)
        (run.teacher_model_dir / "config.json").write_text(json.dumps({"model_type": "bert",
                                                                       "num_hidden_layers": 6}))
        return run

    hf = {"name": "h", "kind": "hf", "checkpoint": str(hf_checkpoint)}
    assert teacher_hidden_layers(run_with([hf])) == []  # no Patient KD: no states
    assert teacher_hidden_layers(run_with([{**hf, "loss": {"pkd_weight": 1}}])) == [3]  # skip: 1 * 6 // 2
    last = {**hf, "name": "l", "layer_map": "last", "loss": {"pkd_weight": 1}}
    assert teacher_hidden_layers(run_with([{**hf, "loss": {"pkd_weight": 1}}, last])) == [3, 5]
    unknown = tmp_path / "unknown-architecture"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"model_type": "no-such-encoder"}))
    with pytest.raises(ConfigError, match=r"students\.h\.checkpoint: cannot load the Hugging Face checkpoint"):
        teacher_hidden_layers(run_with([{**hf, "checkpoint": str(unknown), "loss": {"pkd_weight": 1}}]))
    with pytest.raises(ConfigError, match=r"students\.h\.loss\.pkd_weight: .* >= 2 layers"):  # layers: its depth
        teacher_hidden_layers(run_with([{**hf, "layers": 1, "loss": {"pkd_weight": 1}}]))


def test_layers_keep_the_checkpoints_bottom_and_mean_pooling_averages_tokens(hf_checkpoint):
    from transformers import BertModel

    tokenizer = checkpoint_tokenizer(str(hf_checkpoint), 64)
    ids, mask = pad_ids(tokenizer.encode(TEXTS), tokenizer.pad_id)
    student = HFEncoderStudent.from_checkpoint(str(hf_checkpoint), num_labels=2, pad_id=tokenizer.pad_id, layers=1,
                                               pooling="mean").eval()
    assert student.num_layers == 1 and student.config.encoder["num_hidden_layers"] == 1
    reference = BertModel.from_pretrained(hf_checkpoint).eval()  # both layers
    with torch.no_grad():
        out = student(ids, mask)
        first = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[1]
        exported = student.export_forward(ids, mask)
    torch.testing.assert_close(out.layer_cls[:, 0], first[:, 0], rtol=0, atol=1e-6)  # layer 1 is the checkpoint's
    weights = mask.unsqueeze(-1).float()
    torch.testing.assert_close(out.pooled, (first * weights).sum(1) / weights.sum(1), rtol=0, atol=1e-6)
    assert not torch.allclose(out.pooled, first[:, 0])  # padding excluded, every token counted
    torch.testing.assert_close(exported, out.logits, rtol=0, atol=1e-6)
    rebuilt = HFEncoderStudent(student.config)  # what a saved student's config.json rebuilds: 1 layer, mean pooling
    rebuilt.load_state_dict(student.state_dict())
    torch.testing.assert_close(rebuilt.eval()(ids, mask).logits, out.logits, rtol=0, atol=0)
    with pytest.raises(ConfigError, match=r"^students\.h\.layers: 3, but the checkpoint .* has 2 layers"):
        HFEncoderStudent.from_checkpoint(str(hf_checkpoint), 2, tokenizer.pad_id, key="students.h.checkpoint",
                                         layers=3)


def test_the_embedded_pretrained_minilm_is_a_checkpoint():
    from safetensors import safe_open

    from taskdistil.teacher.model import resolve_checkpoint

    student = HFEncoderStudent.from_checkpoint("embedded:minilm-l6", num_labels=2, pad_id=0, layers=2)
    assert (student.num_layers, student.hidden_size) == (2, 384)
    with safe_open(f"{resolve_checkpoint('embedded:minilm-l6')}/model.safetensors", "pt") as weights:
        for name in ("encoder.layer.1.output.dense.weight", "embeddings.word_embeddings.weight"):
            torch.testing.assert_close(student.encoder.state_dict()[name], weights.get_tensor(name), rtol=0, atol=0)
    assert checkpoint_tokenizer("embedded:minilm-l6", 32).encode(["a fine film"])[0][0] == 101  # [CLS]


# -- end to end ---------------------------------------------------------------------------------------

def test_pipeline_with_an_hf_student(tmp_path, sst2_small, tiny_teacher, hf_checkpoint, capsys):
    """A run whose hf student (hidden 48; the teacher's is 32) learns a representation stage, then logits with
    Patient KD through the projection; the exported artifact loads and predicts alike in torch and ONNX after the
    checkpoint directory is deleted."""
    checkpoint = tmp_path / "bert-tiny"
    shutil.copytree(hf_checkpoint, checkpoint)
    student = {"name": "tiny", "kind": "hf", "checkpoint": str(checkpoint), "max_length": 128,
               "loss": {"soft": "kl", "temperature": 2.0, "pkd_weight": 100.0},
               "train": {"epochs": 1, "evals_per_epoch": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0},
               "stages": [{"objective": "representation", "unfreeze": "gradual"}, {"objective": "logits"}]}
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[student])
    assert main(["run", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"[distill:tiny] 2-layer bert encoder (hidden 48) from {checkpoint}\n" in err
    assert "[distill:tiny] Patient KD (weight 100) to teacher layers [1] through a learned 48 -> 32 projection" in err
    run_dir = tmp_path / "run"
    assert read_json(run_dir / "annotations" / "manifest.json")["inputs"]["hidden_layers"] == [1, 2]
    distill = read_json(run_dir / "students" / "tiny" / "manifest.json")
    assert distill["status"] == "complete" and "checkpoint" in distill["inputs"]  # keyed by the files too

    # the projection trained beside the student (the logits stage's weights hold it) and made PKD's states match
    best = load_tensors(run_dir / "students" / "tiny" / "stages" / "2-logits" / "best.safetensors")
    assert best["loss.projection.weight"].shape == (32, HIDDEN)
    trained = PatientLoss(HIDDEN, 32)
    trained.projection.load_state_dict({"weight": best["loss.projection.weight"], "bias": best["loss.projection.bias"]})
    torch.manual_seed(0)
    fresh = [PatientLoss(HIDDEN, 32) for _ in range(5)]  # untrained projections
    model = taskdistil.load(run_dir / "students" / "tiny" / "model")
    texts = _texts(sst2_small, "train")[:64]
    target = torch.from_numpy(HiddenStore(run_dir / "annotations").read(np.arange(64), [1]))  # transfer rows 0..63
    with torch.no_grad():
        layer_cls = model.model(*pad_ids(model.encode(texts), model.pad_id)).layer_cls[:, :1]
        untrained = min(loss(layer_cls, target).item() for loss in fresh)
        assert trained(layer_cls, target).item() < 0.8 * untrained, (trained(layer_cls, target), untrained)

    exported = run_dir / "export" / "tiny" / "model"
    saved = read_json(exported / "config.json")
    assert saved["kind"] == "hf" and saved["tokenizer"]["kind"] == "hf"
    assert str(checkpoint) not in json.dumps(saved["model"]) and str(checkpoint) not in (exported / "tokenizer.json"
                                                                                          ).read_text()
    assert all(k.startswith(("encoder.", "classifier.")) for k in load_tensors(exported / "model.safetensors"))
    assert read_json(exported / "export.json")["parity"]["onnx_max_abs_diff"] <= 1e-4
    report = read_json(run_dir / "report.json")
    assert {m["label"] for m in report["models"]} >= {"tiny (torch)", "tiny (onnx)", "tiny (onnx-int8)"}

    shutil.rmtree(checkpoint)  # the artifact needs nothing from it
    torch_model = taskdistil.load(exported)
    onnx_model = taskdistil.load(exported, runtime="onnx", threads=1)
    assert torch_model.kind == onnx_model.kind == "hf" and isinstance(torch_model.model, HFEncoderStudent)
    test_texts = _texts(sst2_small, "test")
    assert torch_model.encode(test_texts[:3]) != Teacher.load(run_dir / "teacher" / "model").encode(test_texts[:3])
    logits = torch_model.logits(test_texts)
    assert np.ptp(logits, axis=0).min() > 1e-3  # outputs depend on the text: the comparison means something
    np.testing.assert_allclose(onnx_model.logits(test_texts), logits, rtol=0, atol=1e-5)
    assert onnx_model.predict(test_texts) == torch_model.predict(test_texts)


def test_exported_student_predicts_alike_without_its_checkpoint(hf_checkpoint, tmp_path):
    """save_student + export_model of an hf student whose predictions vary; the checkpoint is deleted first and no
    file of the exported directory names it."""
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(hf_checkpoint, checkpoint)
    tokenizer = checkpoint_tokenizer(str(checkpoint), 64)
    torch.manual_seed(0)
    student = HFEncoderStudent.from_checkpoint(str(checkpoint), num_labels=3, pad_id=tokenizer.pad_id).eval()
    with torch.no_grad():
        student.classifier.weight.normal_(0, 1.0)  # a head of BERT's init scale gives logits of ~0
    save_student(tmp_path / "student", student, tokenizer, LABELS, "single_sentence", {})
    export_model(tmp_path / "student", tmp_path / "export", TEXTS)
    shutil.rmtree(checkpoint)
    assert not any(str(checkpoint) in f.read_text(errors="replace") for f in (tmp_path / "export").iterdir()
                   if f.suffix in (".json", ".txt", ".md"))
    with torch.no_grad():
        expected = student(*pad_ids(tokenizer.encode(TEXTS), tokenizer.pad_id)).logits.numpy()
    torch_model = taskdistil.load(tmp_path / "export")
    onnx_model = taskdistil.load(tmp_path / "export", runtime="onnx", threads=1)
    np.testing.assert_allclose(torch_model.logits(TEXTS), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(onnx_model.logits(TEXTS), expected, rtol=0, atol=1e-5)
    predictions = torch_model.predict(TEXTS)
    assert onnx_model.predict(TEXTS) == predictions and len(set(predictions)) > 1
