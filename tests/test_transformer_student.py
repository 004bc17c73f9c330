"""The Patient KD transformer student: layer maps, construction from teacher layers (exact copies),
teacher [CLS] states in the annotation cache, ONNX export, and a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import taskdistil
from taskdistil.artifact import save_student
from taskdistil.cli import main
from taskdistil.config import TRANSFORMER_TRAIN, RunConfig, load_config, student_config
from taskdistil.errors import ArtifactError, ConfigError
from taskdistil.export.onnx import export_onnx, max_abs_diff
from taskdistil.export.runtime import OnnxForward
from taskdistil.io import read_json
from taskdistil.losses import PatientLoss
from taskdistil.pipeline import FLAT_SPREAD, Run, student_settings, teacher_hidden_layers, warn_flat_states
from taskdistil.students.layer_maps import initial_layers, layer_map, student_layers
from taskdistil.students.tokenizer import WordPieceTokenizer
from taskdistil.students.transformer import TransformerStudent
from taskdistil.teacher.annotate import SHARDS, HiddenStore, LogitStore, annotate, teacher_states
from taskdistil.teacher.model import Teacher, load_pretrained, save_teacher
from taskdistil.train.batching import pad_ids

from conftest import tiny_config

TEXTS = ["a fine film", "not good at all", "the acting is superb , the plot less so", "ok", "meh !",
         "one of the worst movies i have ever seen", "charming", "slow , long and dull",
         "a triumph", "i laughed , i cried , i left early"]
LABELS = ["neg", "neutral", "pos"]
DEPTH = 4  # layers of the module's teacher


@pytest.fixture(scope="module")
def deep_base(tiny_teacher, tmp_path_factory):
    """A random 4-layer, hidden-32 BERT checkpoint (no head) with the tiny teacher's tokenizer, so that layer maps
    have something to choose from. At BERT's init scale (std 0.02) a layer barely changes the states: larger
    weights make every layer matter."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=DEPTH,
                                 num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if weight.dim() == 2 and ".layer." in name:
                weight.normal_(0, 0.2)
    out = tmp_path_factory.mktemp("deep_base")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def teacher(deep_base, tmp_path_factory) -> Teacher:
    """``deep_base`` with a random 3-label classification head, saved and loaded as a taskdistil teacher."""
    model, tokenizer = load_pretrained(str(deep_base), LABELS)
    with torch.no_grad():  # a head of BERT's init scale gives logits of ~0: make them differ
        model.classifier.weight.normal_(0, 1.0)
    out = tmp_path_factory.mktemp("transformer_teacher")
    save_teacher(model, tokenizer, out, LABELS, max_length=24, origin="test")
    return Teacher.load(out)


def _cls_states(teacher: Teacher, texts: list[str]) -> np.ndarray:
    """(N, DEPTH + 1, H): the teacher's [CLS] state after the embeddings and after every layer, one text at a time."""
    rows = []
    with torch.no_grad():
        for ids in teacher.encode(texts):
            out = teacher.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
            rows.append(torch.stack([h[0, 0] for h in out.hidden_states]).numpy())
    return np.stack(rows)


# -- layer maps ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "k", "depth", "expected"), [
    ("skip", 6, 12, [2, 4, 6, 8, 10]), ("skip", 3, 6, [2, 4]), ("skip", 3, 12, [4, 8]), ("skip", 2, 2, [1]),
    ("skip", 4, 6, [1, 3, 4]),  # j * N / k rounded down when k does not divide N
    ("last", 6, 12, [7, 8, 9, 10, 11]), ("last", 3, 6, [4, 5]), ("last", 2, 2, [1]),
    ([1, 6], 3, 6, [1, 6]), ("skip", 1, 6, []), ("last", 1, 6, []),
])
def test_layer_map(spec, k, depth, expected):
    assert layer_map(spec, k, depth) == expected


def test_initial_layers():
    assert initial_layers("first", 3, 6) == [1, 2, 3]
    assert initial_layers("first", 6, 6) == [1, 2, 3, 4, 5, 6]
    assert initial_layers([2, 4, 6], 3, 6) == [2, 4, 6]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: layer_map("skip", 7, 6, "students.t.layer_map"), r"students\.t\.layer_map: a student of 7 layers"),
    (lambda: initial_layers("first", 7, 6, "students.t.init_layers"), r"students\.t\.init_layers: .*7 layers"),
    (lambda: layer_map([1, 2, 3], 3, 6, "students.t.layer_map"), r"students\.t\.layer_map: expected 2 .* got 3"),
    (lambda: layer_map([2, 7], 3, 6, "students.t.layer_map"), r"layers \[7\] out of range: .* layers 1\.\.6"),
    (lambda: initial_layers([1, 2], 3, 6, "students.t.init_layers"), r"init_layers: expected 3 .* got 2"),
    (lambda: initial_layers([0, 1, 2], 3, 6, "students.t.init_layers"), r"layers \[0\] out of range"),
])
def test_impossible_layer_settings_fail_naming_the_key(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_student_layers_from_config_name_the_student_key():
    student = student_config(name="t", kind="transformer", layers=3, layer_map="last")
    assert student_layers(student, 6) == ([1, 2, 3], [4, 5])
    assert student_layers(student, 12) == ([1, 2, 3], [10, 11])
    with pytest.raises(ConfigError, match=r"students\.t\.layers: a student of 3 layers .* teacher of 2 layers"):
        student_layers(student, 2)
    explicit = student_config(name="t", kind="transformer", layers=2, init_layers=[3, 5], layer_map=[4])
    assert student_layers(explicit, 6) == ([3, 5], [4])
    with pytest.raises(ConfigError, match=r"students\.t\.init_layers: teacher layers \[5\] out of range"):
        student_layers(explicit, 4)


# -- configuration ------------------------------------------------------------------------------

def test_transformer_config_defaults_and_train_defaults():
    student = student_config(name="t", kind="transformer")
    assert (student.layers, student.init_layers, student.layer_map) == (3, "first", "skip")
    assert student.loss.pkd_weight == 0.0
    assert student.train == TRANSFORMER_TRAIN  # BERT fine-tuning settings, not the small students' Adam at 1e-3
    partial = student_config(name="t", kind="transformer", train={"epochs": 1}, loss={"pkd_weight": 100})
    assert partial.train.epochs == 1 and partial.train.learning_rate == TRANSFORMER_TRAIN.learning_rate
    assert partial.loss.pkd_weight == 100 and partial.loss.soft == "mse"
    bilstm = student_config()
    assert not {"layers", "init_layers", "layer_map"} & set(type(bilstm).model_fields)  # transformer keys
    assert bilstm.train.learning_rate == pytest.approx(1e-3)


@pytest.mark.parametrize(("settings", "message"), [
    ({"layers": 2}, "layers is a setting of kind 'transformer'"),
    ({"layer_map": "last"}, "layer_map is a setting of kind 'transformer'"),
    ({"loss": {"pkd_weight": 1.0}}, "pkd_weight .* needs kind 'transformer'"),
    ({"kind": "transformer", "tokenizer": "word"}, "teacher's WordPiece vocabulary"),
    ({"kind": "transformer", "embeddings": "random"}, "teacher's WordPiece vocabulary"),
    ({"kind": "transformer", "layers": 3, "layer_map": [2]}, "layer_map: a student of 3 layers matches 2"),
    ({"kind": "transformer", "layers": 2, "init_layers": [1, 2, 3]}, "init_layers: a student of 2 layers"),
    ({"kind": "transformer", "layer_map": "middle"}, r"expected one of \['skip', 'last'\]"),
    ({"kind": "transformer", "init_layers": [0, 1, 2]}, r"expected one of \['first'\]"),
    ({"kind": "transformer", "layers": 1, "loss": {"pkd_weight": 1.0}}, "pkd_weight needs layers >= 2"),
])
def test_invalid_transformer_settings_are_refused(tmp_path, sst2_small, tiny_teacher, settings, message):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[{"name": "t", **settings}])
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_stage_keys_leave_out_unset_transformer_settings():
    """Keys of runs made before transformer students existed do not change: unset new settings are left out."""
    old_fields = {"name", "seed", "kind", "tokenizer", "lowercase", "max_vocab", "min_freq", "max_length",
                  "embeddings", "vectors", "embedding_dim", "embedding_mode", "hidden_size", "num_layers", "fc_dim",
                  "dropout", "pooling", "filter_widths", "num_filters", "loss", "train"}
    for student in (student_config(), student_config(name="c", kind="cnn", seed=3)):
        settings = student_settings(student)
        assert set(settings) == old_fields
        assert set(settings["loss"]) == {"soft", "temperature", "hard_weight"}
        assert set(student_settings(student, omit_unset=("vectors",), exclude=("name",))) == old_fields - {
            "name", "vectors"}
    transformer = student_settings(student_config(name="t", kind="transformer", loss={"pkd_weight": 2.0}))
    assert (transformer["layers"], transformer["init_layers"], transformer["layer_map"]) == (3, "first", "skip")
    assert transformer["loss"]["pkd_weight"] == 2.0


def _run_with_teacher_depth(tmp_path, students: list[dict], depth: int = 6, model_type: str = "bert") -> Run:
    config = RunConfig.model_validate({"run_dir": str(tmp_path / "run"), "students": students,
                                       "data": {"train": "t", "dev": "d", "test": "e"}})
    run = Run(config)
    run.teacher_model_dir.mkdir(parents=True)
    (run.teacher_model_dir / "config.json").write_text(json.dumps({"model_type": model_type,
                                                                   "num_hidden_layers": depth}))
    return run


def test_teacher_hidden_layers_are_the_union_over_patient_kd_students(tmp_path):
    bilstm = {"name": "b"}
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "a", [bilstm])) == []
    plain_kd = {"name": "kd", "kind": "transformer", "layers": 3}  # pkd_weight 0: no hidden states needed
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "b", [bilstm, plain_kd])) == []
    skip = {"name": "skip", "kind": "transformer", "layers": 3, "loss": {"pkd_weight": 100}}
    last = {"name": "last", "kind": "transformer", "layers": 3, "layer_map": "last", "loss": {"pkd_weight": 1}}
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "c", [skip, last, plain_kd])) == [2, 4, 5]
    too_deep = {"name": "deep", "kind": "transformer", "layers": 8}
    with pytest.raises(ConfigError, match=r"students\.deep\.layers: a student of 8 layers"):
        teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "d", [skip, too_deep]))
    with pytest.raises(ConfigError, match="model_type 'bert'.*'distilbert'"):
        teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "e", [skip], model_type="distilbert"))
    xd = {"name": "xd", "recipe": "xtremedistil"}  # its representation stage: layer ceil(7/12 * 6) = 4, [CLS]
    xd_mean = {"name": "xm", "recipe": "xtremedistil",
               "stages": [{"objective": "representation", "teacher_pooling": "mean", "teacher_layer": 2},
                          {"objective": "logits"}]}
    assert teacher_hidden_layers(_run_with_teacher_depth(tmp_path / "f", [xd_mean, skip, xd])) == [2, 4, "2:mean"]


# -- the model ------------------------------------------------------------------------------------

def test_from_teacher_copies_weights_exactly(teacher):
    student = TransformerStudent.from_teacher(teacher.model, [2, 4], pad_id=0)
    assert student.num_layers == 2 and student.config.teacher_layers == [2, 4]
    assert student.config.num_labels == len(LABELS)
    t_bert, s_bert = teacher.model.bert, student.bert
    pairs = [(s_bert.embeddings, t_bert.embeddings), (s_bert.encoder.layer[0], t_bert.encoder.layer[1]),
             (s_bert.encoder.layer[1], t_bert.encoder.layer[3]), (s_bert.pooler, t_bert.pooler),
             (student.classifier, teacher.model.classifier)]
    for s_module, t_module in pairs:
        s_state, t_state = s_module.state_dict(), t_module.state_dict()
        assert s_state.keys() == t_state.keys() and s_state
        for name, tensor in s_state.items():
            assert torch.equal(tensor, t_state[name]), name
            assert tensor.data_ptr() != t_state[name].data_ptr(), name  # a copy: training leaves the teacher alone
    # the copied layers are the chosen ones: layer 1 of the teacher differs from layer 2
    assert not torch.equal(t_bert.encoder.layer[0].output.dense.weight, s_bert.encoder.layer[0].output.dense.weight)
    n_student = sum(p.numel() for p in student.parameters())
    n_layer = sum(p.numel() for p in t_bert.encoder.layer[0].parameters())
    assert n_student == sum(p.numel() for p in teacher.model.parameters()) - 2 * n_layer
    json.dumps(student.config.__dict__)  # what save_student stores must be JSON


def test_student_forward_is_a_truncated_teacher_forward(teacher):
    ids, mask = pad_ids(teacher.encode(TEXTS), teacher.pad_id)  # padded batch of unequal lengths
    with torch.no_grad():
        expected = teacher.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        full = TransformerStudent.from_teacher(teacher.model, list(range(1, DEPTH + 1))).eval()(ids, mask)
        first2 = TransformerStudent.from_teacher(teacher.model, [1, 2]).eval()(ids, mask)
    assert full.logits.shape == (len(TEXTS), len(LABELS)) and full.layer_cls.shape == (len(TEXTS), DEPTH, 32)
    torch.testing.assert_close(full.logits, expected.logits, rtol=0, atol=1e-5)
    teacher_cls = torch.stack([h[:, 0] for h in expected.hidden_states[1:]], dim=1)  # (B, DEPTH, H)
    torch.testing.assert_close(full.layer_cls, teacher_cls, rtol=0, atol=1e-5)
    assert first2.layer_cls.shape == (len(TEXTS), 2, 32)
    torch.testing.assert_close(first2.layer_cls, teacher_cls[:, :2], rtol=0, atol=1e-5)
    assert not torch.allclose(first2.logits, expected.logits, atol=1e-3)  # the top 2 layers mattered
    # padding does not reach a text's states: alone or in the padded batch, the same
    model = TransformerStudent.from_teacher(teacher.model, list(range(1, DEPTH + 1))).eval()
    with torch.no_grad():
        alone = torch.cat([model(*pad_ids([seq])).logits for seq in teacher.encode(TEXTS[:3])])
    torch.testing.assert_close(alone, full.logits[:3], rtol=0, atol=1e-5)


def test_hidden_dropout_setting_and_training_mode(teacher):
    student = TransformerStudent.from_teacher(teacher.model, [1, 2], hidden_dropout=0.3)
    assert student.config.bert["hidden_dropout_prob"] == 0.3 and student.dropout.p == 0.3
    ids, mask = pad_ids(teacher.encode(TEXTS[:4]))
    student.train()
    torch.manual_seed(1)
    a = student(ids, mask).logits
    b = student(ids, mask).logits
    assert not torch.allclose(a, b)  # dropout is active in training
    a.sum().backward()
    assert student.bert.embeddings.word_embeddings.weight.grad is not None


def test_save_load_and_onnx_parity(teacher, tmp_path):
    student = TransformerStudent.from_teacher(teacher.model, [1, 3]).eval()
    tokenizer = WordPieceTokenizer.from_teacher(teacher.tokenizer, 24)
    assert tokenizer.encode(TEXTS) == teacher.encode(TEXTS)  # the teacher's ids, [CLS] first
    save_student(tmp_path / "model", student, tokenizer, LABELS, "single_sentence", {})
    loaded = taskdistil.load(tmp_path / "model")
    assert loaded.kind == "transformer" and isinstance(loaded.model, TransformerStudent)
    expected = student(*pad_ids(teacher.encode(TEXTS))).logits.detach().numpy()
    np.testing.assert_allclose(loaded.logits(TEXTS), expected, rtol=0, atol=1e-6)

    # ONNX: traced on three texts, compared on batch sizes and lengths never traced
    encoded = [[(7 * i + j) % 900 + 1000 for j in range(1 + i % 13)] for i in range(40)]
    path = export_onnx(loaded.model, tmp_path / "m.onnx", [encoded[0], encoded[4], encoded[8]], loaded.pad_id)
    forward = OnnxForward(path)
    assert max_abs_diff(loaded.forward, forward, encoded, loaded.pad_id, batch_size=7) <= 1e-5
    one_token = pad_ids([[101]])
    torch.testing.assert_close(forward(*one_token), student(*one_token).logits, rtol=0, atol=1e-5)


# -- teacher [CLS] states in the annotation cache -----------------------------------------------

HIDDEN_SHARDS = ["hidden-00000.npy", "hidden-00001.npy", "hidden-00002.npy"]


@pytest.fixture
def calls(teacher):
    """Batch sizes of every teacher forward pass: what was actually (re)computed."""
    seen: list[int] = []

    def record(module, args, kwargs):
        seen.append(int(kwargs.get("input_ids", args[0] if args else None).shape[0]))

    handle = teacher.model.register_forward_pre_hook(record, with_kwargs=True)
    yield seen
    handle.remove()


def _annotate(teacher, out, layers=(3, 1)):
    return annotate(teacher, TEXTS, out, shard_size=4, batch_size=3, layers=list(layers))


def test_annotation_stores_the_teachers_cls_states(teacher, tmp_path, calls):
    out = tmp_path / "ann"
    summary = _annotate(teacher, out)
    spread = summary.pop("hidden_spread")
    assert summary == {"count": 10, "shards": 3, "num_labels": 3, "hidden_layers": [3, 1]}
    assert set(spread) == {"3", "1"} and all(0 < value < 1 for value in spread.values())
    assert sum(calls) == 10  # logits and states from the same forward passes
    index = json.loads((out / SHARDS).read_text())
    assert index["hidden"]["layers"] == [3, 1] and sorted(index["hidden"]["shards"]) == HIDDEN_SHARDS
    for name in HIDDEN_SHARDS:
        shard = np.load(out / name)
        assert shard.dtype == np.float16 and shard.shape == (2 if name.endswith("2.npy") else 4, 2, 32)
    assert not list(out.glob(".*tmp*"))

    expected = _cls_states(teacher, TEXTS)  # (10, DEPTH + 1, H)
    store = HiddenStore(out, verify=True)
    assert store.layers == [3, 1] and len(store) == 10
    idx = np.array([9, 0, 5, 5, 3, 8])
    got = store.read(idx, [1, 3])
    assert got.dtype == np.float16 and got.shape == (6, 2, 32)
    np.testing.assert_allclose(got.astype(np.float32), expected[idx][:, [1, 3]], rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(store.read(idx, [3]).astype(np.float32), expected[idx][:, [3]], rtol=2e-3, atol=2e-3)
    with pytest.raises(ArtifactError, match=r"teacher layers \[2\] are not in the annotations"):
        store.read(idx, [1, 2])
    # the logits are those of an annotation without states
    np.testing.assert_allclose(LogitStore(out)[np.arange(10)], teacher.logits(teacher.encode(TEXTS)),
                               rtol=1e-5, atol=1e-5)


def test_annotation_stores_mean_pooled_states_beside_cls_states(teacher, tmp_path):
    """'L:mean' is the mean over the text's tokens of layer L's states (padding excluded: texts of different
    lengths share batches), stored after the [CLS] states; teacher_states gives the same unstored."""
    out = tmp_path / "ann"
    states = [2, "1:mean", "3:mean"]
    summary = annotate(teacher, TEXTS, out, shard_size=4, batch_size=3, layers=states)
    assert summary["hidden_layers"] == states and set(summary["hidden_spread"]) == {"2", "1:mean", "3:mean"}
    expected_mean, expected_cls = [], []
    with torch.no_grad():
        for ids in teacher.encode(TEXTS):  # one text at a time: no padding
            hidden = teacher.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
            expected_mean.append([hidden[1][0].mean(0).numpy(), hidden[3][0].mean(0).numpy()])
            expected_cls.append(hidden[2][0, 0].numpy())
    store = HiddenStore(out, verify=True)
    assert store.layers == states
    idx = np.arange(len(TEXTS))
    np.testing.assert_allclose(store.read(idx, ["1:mean", "3:mean"]).astype(np.float32), np.array(expected_mean),
                               rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(store.read(idx, [2])[:, 0].astype(np.float32), np.array(expected_cls), rtol=2e-3,
                               atol=2e-3)
    unstored = teacher_states(teacher, TEXTS, ["3:mean"], batch_size=4)
    np.testing.assert_allclose(unstored[:, 0], np.array(expected_mean)[:, 1], rtol=1e-4, atol=1e-4)
    with pytest.raises(ArtifactError, match=r"teacher layers \['2:mean'\] are not in the annotations"):
        store.read(idx, ["2:mean"])
    for bad in ("9:mean", "1:max", "x"):
        with pytest.raises(ArtifactError, match=r"teacher state .*: the teacher has layers 1\.\.\d \(a state is"):
            annotate(teacher, TEXTS, tmp_path / "bad", shard_size=4, batch_size=3, layers=[bad])


def test_spread_tells_a_constant_state_from_a_varying_one(teacher, tmp_path):
    """spread = sum_d Var(h_d) / sum_d E(h_d^2), over all stored rows (every shard), per layer."""
    out = tmp_path / "ann"
    _annotate(teacher, out, layers=(1, 2))
    store = HiddenStore(out)
    rows = np.concatenate([np.asarray(s, dtype=np.float64) for s in store.shards])  # (10, 2, H)
    expected = rows.var(axis=0).sum(axis=1) / np.square(rows).mean(axis=0).sum(axis=1)
    assert store.spread() == pytest.approx(dict(zip([1, 2], expected)), rel=1e-9)
    constant = np.broadcast_to(rows[:1], rows.shape).astype(np.float16)  # every text: the first text's states
    for shard_name, start in (("hidden-00000.npy", 0), ("hidden-00001.npy", 4), ("hidden-00002.npy", 8)):
        np.save(out / shard_name, np.ascontiguousarray(constant[start:start + 4]))
    assert max(HiddenStore(out).spread().values()) < 1e-12


def test_flat_states_are_named_in_a_warning(capsys):
    warn_flat_states({"2": 6.5e-6, "4": 0.55})
    err = capsys.readouterr().err
    assert "hardly varies across examples at layer(s) 2 (variance / mean square: 6.5e-06)" in err
    warn_flat_states({"4": 0.55})
    assert capsys.readouterr().err == ""


def test_student_layers_line_up_with_stored_teacher_layers(teacher, tmp_path):
    """A student that copied teacher layers 1..2 has (almost) zero Patient KD loss against the stored
    teacher layers 1 and 2, and a clearly positive one against other layers: no off-by-one in either."""
    out = tmp_path / "ann"
    _annotate(teacher, out, layers=(1, 2, 3))
    store = HiddenStore(out)
    idx = np.arange(10)
    ids, mask = pad_ids(teacher.encode(TEXTS))
    with torch.no_grad():
        student_cls = TransformerStudent.from_teacher(teacher.model, [1, 2, 3]).eval()(ids, mask).layer_cls
    loss = PatientLoss()
    assert loss(student_cls[:, :2], torch.from_numpy(store.read(idx, [1, 2]))).item() < 1e-5
    assert loss(student_cls[:, :2], torch.from_numpy(store.read(idx, [2, 3]))).item() > 0.1


def test_annotation_with_states_resumes_per_shard(teacher, tmp_path, calls):
    out = tmp_path / "ann"
    _annotate(teacher, out)
    names = HIDDEN_SHARDS + ["logits-00000.npy", "logits-00001.npy", "logits-00002.npy"]
    mtimes = {n: (out / n).stat().st_mtime_ns for n in names}
    before = HiddenStore(out).read(np.arange(10), [3, 1])
    calls.clear()
    _annotate(teacher, out)
    assert calls == []  # complete: nothing recomputed
    data = bytearray((out / HIDDEN_SHARDS[2]).read_bytes())
    data[-2:] = b"\x00\x7e"  # the last float16 -> NaN: a corrupt but loadable shard
    (out / HIDDEN_SHARDS[2]).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=f"{HIDDEN_SHARDS[2]}: checksum mismatch"):
        HiddenStore(out, verify=True)
    (out / HIDDEN_SHARDS[1]).unlink()  # and a lost one: only these two shards run through the teacher again
    with pytest.raises(ArtifactError, match=f"{HIDDEN_SHARDS[1]}: shard is missing"):
        HiddenStore(out)
    calls.clear()
    _annotate(teacher, out)
    assert sum(calls) == 4 + 2
    after = {n: (out / n).stat().st_mtime_ns for n in names}
    assert after[HIDDEN_SHARDS[0]] == mtimes[HIDDEN_SHARDS[0]]
    assert after["logits-00000.npy"] == mtimes["logits-00000.npy"]
    np.testing.assert_array_equal(HiddenStore(out, verify=True).read(np.arange(10), [3, 1]), before)


def test_annotation_layers_change_or_go(teacher, tmp_path, calls):
    out = tmp_path / "ann"
    _annotate(teacher, out)
    calls.clear()
    _annotate(teacher, out, layers=(2,))  # other layers: every shard's states are recomputed
    assert sum(calls) == 10
    np.testing.assert_allclose(HiddenStore(out).read(np.arange(10), [2]).astype(np.float32),
                               _cls_states(teacher, TEXTS)[:, [2]], rtol=2e-3, atol=2e-3)
    annotate(teacher, TEXTS, out, shard_size=4, batch_size=3)  # no layers: no states, as before this feature
    assert "hidden" not in json.loads((out / SHARDS).read_text()) and not list(out.glob("hidden-*.npy"))
    with pytest.raises(ArtifactError, match="no teacher hidden states"):
        HiddenStore(out)
    with pytest.raises(ArtifactError, match=r"teacher has layers 1\.\.4"):
        _annotate(teacher, out, layers=(5,))


# -- end to end -----------------------------------------------------------------------------------

def test_pipeline_with_a_patient_kd_student(tmp_path, sst2_small, deep_base, capsys):
    """A run with a bilstm and a Patient KD student whose layers 1-2 start as copies of teacher layers 3-4 and
    learn teacher layer 1 at layer 1 (layer_map [1]): the run works end to end, and PKD moved that layer (plain KD,
    the same recipe with pkd_weight 0, did not)."""
    pkd = {"name": "pkd", "kind": "transformer", "layers": 2, "init_layers": [3, 4], "layer_map": [1], "dropout": 0.0,
           "loss": {"soft": "kl", "temperature": 5.0, "hard_weight": 0.5, "pkd_weight": 100.0},
           "train": {"epochs": 1, "evals_per_epoch": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0}}
    plain = {**pkd, "name": "kd", "loss": {**pkd["loss"], "pkd_weight": 0.0}}
    students = [{"name": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
                 "train": {"epochs": 1, "batch_size": 32}}, pkd, plain]
    config = tiny_config(tmp_path, sst2_small, deep_base, students=students)
    assert main(["run", str(config)]) == 0
    err = capsys.readouterr().err
    assert "[distill:pkd] 2-layer transformer from teacher layers [3, 4] (of 4)\n" in err
    assert "[distill:pkd] Patient KD (weight 100) to teacher layers [1]\n" in err
    assert "[distill:kd] Patient KD" not in err  # pkd_weight 0: plain KD
    run_dir = tmp_path / "run"

    annotate_manifest = read_json(run_dir / "annotations" / "manifest.json")
    assert annotate_manifest["inputs"]["hidden_layers"] == [1]
    spread = annotate_manifest["outputs"]["hidden_spread"]["1"]  # a random BERT's [CLS] varies with the text
    assert spread > FLAT_SPREAD and "hardly varies" not in err
    hidden = HiddenStore(run_dir / "annotations", verify=True)
    assert hidden.layers == [1] and len(hidden) == 300
    distill = read_json(run_dir / "students" / "pkd" / "manifest.json")
    assert distill["status"] == "complete" and distill["inputs"]["student"]["layer_map"] == [1]
    assert "layers" not in read_json(run_dir / "students" / "bilstm" / "manifest.json")["inputs"]["student"]

    # Patient KD pulled the student's layer-1 [CLS] state toward teacher layer 1, from where teacher layer 3 was
    texts = [line.split("\t")[0] for line in (sst2_small / "sst2" / "train.tsv").read_text().splitlines()[1:]]
    teacher = Teacher.load(run_dir / "teacher" / "model")
    ids, mask = pad_ids(teacher.encode(texts[:64]))
    target = torch.from_numpy(hidden.read(np.arange(64), [1]))  # (64, 1, H)
    with torch.no_grad():
        loss = {name: PatientLoss()(taskdistil.load(run_dir / "students" / name / "model").model(ids, mask)
                                    .layer_cls[:, :1], target).item() for name in ("pkd", "kd")}
        before = PatientLoss()(TransformerStudent.from_teacher(teacher.model, [3, 4]).eval()(ids, mask)
                               .layer_cls[:, :1], target).item()
    assert loss["pkd"] < 0.5 * before and loss["pkd"] < 0.5 * loss["kd"], (before, loss)
    assert "[distill:kd] 2-layer transformer from teacher layers [3, 4] (of 4)\n" in err  # no Patient KD term

    report = read_json(run_dir / "report.json")
    rows = {m["label"]: m for m in report["models"]}
    for runtime in ("torch", "onnx", "onnx-int8"):
        assert rows[f"pkd ({runtime})"]["kind"] == "transformer"
        assert 0.0 <= rows[f"pkd ({runtime})"]["metrics"]["accuracy"] <= 1.0
    assert "| pkd | onnx-int8 |" in (run_dir / "report.md").read_text()

    exported = run_dir / "export" / "pkd" / "model"
    assert read_json(exported / "export.json")["parity"]["onnx_max_abs_diff"] <= 1e-4
    torch_model = taskdistil.load(exported)
    onnx_model = taskdistil.load(exported, runtime="onnx", threads=1)
    assert torch_model.kind == onnx_model.kind == "transformer"
    test_texts = [line.split("\t")[0] for line in (sst2_small / "sst2" / "test.tsv").read_text().splitlines()[1:]]
    np.testing.assert_allclose(onnx_model.logits(test_texts), torch_model.logits(test_texts), rtol=0, atol=1e-4)
    assert onnx_model.predict(test_texts) == torch_model.predict(test_texts)
    saved = read_json(exported / "config.json")
    assert saved["kind"] == "transformer" and saved["model"]["teacher_layers"] == [3, 4]
    assert saved["provenance"]["recipe"]["loss"]["pkd_weight"] == 100.0
