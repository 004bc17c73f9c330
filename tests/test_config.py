"""taskdistil.config.load_config: validation messages, overrides, data-path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from taskdistil.config import DATA_DIR_ENV, RunConfig, load_config, student_config
from taskdistil.errors import ConfigError

TSV = "sentence\tlabel\na fine film\t1\na dull film\t0\n"


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch, tmp_path):
    # The developer's shell may export TASKDISTIL_DATA; tests must not depend on it,
    # nor on the working directory.
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)


def make_data(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        (directory / f"{split}.tsv").write_text(TSV, encoding="utf-8")
    return directory


def write_config(tmp_path: Path, tree: dict, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


def minimal(data_dir: Path | None = None, **extra) -> dict:
    data = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
    if data_dir is not None:
        data = {k: str(data_dir / v) for k, v in data.items()}
    return {"name": "t", "data": data, **extra}


def config_error(path: Path, overrides=None, data_dir=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, data_dir=data_dir)
    return str(info.value)


# -- valid configs ----------------------------------------------------------------------

def test_minimal_config_loads_with_defaults(tmp_path):
    data = make_data(tmp_path / "data")
    cfg = load_config(write_config(tmp_path, minimal()), data_dir=str(data))
    assert isinstance(cfg, RunConfig)
    assert cfg.name == "t"
    assert cfg.data_path("train") == str(data / "train.tsv")
    assert cfg.data_path("test") == str(data / "test.tsv")
    assert cfg.resolved_run_dir() == Path("runs/t")
    # section defaults are the documented ones
    assert cfg.teacher.model == "embedded:minilm-l6"
    assert cfg.teacher.train.warmup_ratio == pytest.approx(0.06)
    assert [s.name for s in cfg.students] == ["bilstm"]
    assert cfg.students[0].train.optimizer == "adam"
    assert cfg.students[0].train.patience == 6


def test_absolute_paths_need_no_data_dir(tmp_path):
    data = make_data(tmp_path / "data")
    cfg = load_config(write_config(tmp_path, minimal(data)))
    assert cfg.data_path("dev") == str(data / "dev.tsv")


def test_hf_sources_are_not_checked_as_files(tmp_path):
    tree = minimal()
    tree["data"] = {"train": "hf:glue:sst2@train", "dev": "hf:glue:sst2@validation", "test": "hf:glue:sst2@test"}
    cfg = load_config(write_config(tmp_path, tree))
    assert cfg.data_path("dev") == "hf:glue:sst2@validation"


# -- error messages -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "section, key",
    [
        ({"teacher": {"learning_rat": 1e-4}}, "teacher.learning_rat"),
        ({"teacher": {"train": {"epoch": 2}}}, "teacher.train.epoch"),
        ({"students": [{"name": "a", "hiden_size": 10}]}, "students.0.hiden_size"),
        ({"datta": {}}, "datta"),
    ],
)
def test_unknown_key_is_named_in_full(tmp_path, section, key):
    data = make_data(tmp_path / "data")
    message = config_error(write_config(tmp_path, minimal(**section)), data_dir=str(data))
    assert f"{key}: unknown key" in message
    assert str(tmp_path / "run.yaml") in message  # the file at fault


def test_wrong_choice_names_key_and_allowed_values(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "a", "pooling": "maxx"}])
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "students.0.pooling" in message
    assert "'maxx'" in message
    for allowed in ("'last'", "'max'", "'mean'"):
        assert allowed in message


def test_wrong_optimizer_lists_all_optimizers(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(teacher={"train": {"optimizer": "adamx"}})
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "teacher.train.optimizer" in message
    for allowed in ("adamw", "adam", "adadelta", "sgd"):
        assert f"'{allowed}'" in message


@pytest.mark.parametrize(
    "section, key, bad",
    [
        ({"teacher": {"max_length": "long"}}, "teacher.max_length", "long"),
        ({"seed": "abc"}, "seed", "abc"),
        ({"annotate": {"batch_size": [1, 2]}}, "annotate.batch_size", "[1, 2]"),
    ],
)
def test_wrong_type_names_key(tmp_path, section, key, bad):
    data = make_data(tmp_path / "data")
    message = config_error(write_config(tmp_path, minimal(**section)), data_dir=str(data))
    assert f"{key}:" in message
    assert bad in message


def test_out_of_range_value_names_key(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "a", "dropout": 1.5}])
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "students.0.dropout:" in message


def test_missing_required_key(tmp_path):
    tree = {"name": "t", "data": {"train": "a.tsv", "dev": "b.tsv"}}
    message = config_error(write_config(tmp_path, tree))
    assert "data.test: required key is missing" in message


def test_missing_data_file_names_split_and_path(tmp_path):
    data = make_data(tmp_path / "data")
    (data / "train.tsv").unlink()
    message = config_error(write_config(tmp_path, minimal()), data_dir=str(data))
    assert "data.train" in message
    assert str(data / "train.tsv") in message
    assert "data.dev" not in message and "data.test" not in message  # those exist


def test_missing_files_hint_names_data_dir_env(tmp_path):
    tree = minimal()
    tree["data"] = {"train": "nowhere/train.tsv", "dev": "nowhere/dev.tsv", "test": "nowhere/test.tsv"}
    message = config_error(write_config(tmp_path, tree))
    assert "--data-dir" in message and DATA_DIR_ENV in message
    for split in ("train", "dev", "test"):
        assert f"data.{split}: file not found: nowhere/{split}.tsv" in message


def test_missing_config_file(tmp_path):
    message = config_error(tmp_path / "absent.yaml")
    assert str(tmp_path / "absent.yaml") in message


def test_invalid_yaml_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n", encoding="utf-8")
    message = config_error(path)
    assert str(path) in message and "YAML" in message


def test_unknown_embedded_teacher_is_refused(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(teacher={"model": "embedded:bert-huge"})
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "teacher.model" in message and "embedded:minilm-l6" in message


# -- overrides ----------------------------------------------------------------------------

def test_set_overrides_take_effect(tmp_path):
    data = make_data(tmp_path / "data")
    path = write_config(tmp_path, minimal())
    before = load_config(path, data_dir=str(data))
    assert before.teacher.train.epochs != 1 and before.students[0].hidden_size != 64
    assert before.students[0].pooling != "max"

    cfg = load_config(
        path,
        ["teacher.train.epochs=1", "students.0.hidden_size=64", "students.bilstm.pooling=max"],
        data_dir=str(data),
    )
    assert cfg.teacher.train.epochs == 1
    assert cfg.students[0].hidden_size == 64
    assert cfg.students[0].pooling == "max"
    assert len(cfg.students) == 1


def test_set_overrides_address_yaml_students_by_name_and_index(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "small", "hidden_size": 32}, {"name": "big", "hidden_size": 300}])
    cfg = load_config(
        write_config(tmp_path, tree),
        ["students.big.hidden_size=128", "students.0.train.epochs=2", "seed=7", "name=other"],
        data_dir=str(data),
    )
    assert [s.hidden_size for s in cfg.students] == [32, 128]
    assert cfg.students[0].train.epochs == 2
    assert cfg.seed == 7
    assert cfg.resolved_run_dir() == Path("runs/other")


def test_set_override_values_are_validated_too(tmp_path):
    data = make_data(tmp_path / "data")
    path = write_config(tmp_path, minimal())
    message = config_error(path, ["students.0.pooling=maxx"], data_dir=str(data))
    assert "students.0.pooling" in message and "'mean'" in message
    message = config_error(path, ["teacher.learning_rat=0.1"], data_dir=str(data))
    assert "teacher.learning_rat: unknown key" in message


@pytest.mark.parametrize("bad", ["teacher.train.epochs", "=3"])
def test_malformed_set_is_refused(tmp_path, bad):
    data = make_data(tmp_path / "data")
    message = config_error(write_config(tmp_path, minimal()), [bad], data_dir=str(data))
    assert repr(bad) in message


def test_set_unknown_student_name_is_refused(tmp_path):
    data = make_data(tmp_path / "data")
    message = config_error(write_config(tmp_path, minimal()), ["students.nosuch.pooling=max"], data_dir=str(data))
    assert "--set students.nosuch" in message and "no list item 'nosuch'" in message


# -- cross-field rules --------------------------------------------------------------------

def test_svd_embeddings_with_word_tokenizer_is_refused(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "a", "tokenizer": "word", "embeddings": "svd"}])
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "students.0.embeddings" in message and "wordpiece" in message
    # the same student with random embeddings is fine
    tree["students"][0]["embeddings"] = "random"
    cfg = load_config(write_config(tmp_path, tree), data_dir=str(data))
    assert cfg.students[0].tokenizer == "word"


def test_word_tokenizer_with_default_svd_embeddings_is_refused(tmp_path):
    # embeddings defaults to svd: leaving it out must not slip past the rule.
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "a", "tokenizer": "word"}])
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "students.0.embeddings" in message and "wordpiece" in message
    with pytest.raises(ValueError):
        student_config(tokenizer="word")


def test_duplicate_student_names_are_refused(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "a"}, {"name": "b"}, {"name": "a", "hidden_size": 10}])
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "students:" in message and "unique" in message
    assert "repeated: ['a']" in message  # only the repeated name


def test_bad_student_name_is_refused(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "has space"}])
    message = config_error(write_config(tmp_path, tree), data_dir=str(data))
    assert "students.0.name" in message


def test_partial_student_train_section_keeps_student_defaults(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "a", "train": {"epochs": 4}}])
    cfg = load_config(write_config(tmp_path, tree), data_dir=str(data))
    assert cfg.students[0].train.epochs == 4
    assert cfg.students[0].train.learning_rate == pytest.approx(1e-3)
    assert cfg.students[0].train.grad_clip == pytest.approx(5.0)



# -- one settings class per student kind ----------------------------------------------------

@pytest.mark.parametrize("student, key, owners", [
    ({"kind": "cnn", "hidden_size": 10}, "hidden_size", "kind 'bilstm' students (this one is 'cnn')"),
    ({"kind": "bilstm", "filter_widths": [2]}, "filter_widths", "kind 'cnn' students (this one is 'bilstm')"),
    ({"kind": "static", "pooling": "max"}, "pooling", "kind 'bilstm' and 'hf' students (this one is 'static')"),
    ({"kind": "transformer", "lowercase": False}, "lowercase", "kind 'bilstm', 'cnn' and 'static' students"),
    ({"recipe": "pkd-skip", "num_filters": 5}, "num_filters", "(this one is 'transformer')"),  # the recipe's kind
])
def test_a_key_of_another_kind_names_the_key_and_its_kinds(tmp_path, student, key, owners):
    data = make_data(tmp_path / "data")
    message = config_error(write_config(tmp_path, minimal(students=[{"name": "a", **student}])), data_dir=str(data))
    assert f"students.0.{key}: unknown key" in message and f"{key} is a setting of " in message
    assert owners in message


def test_a_key_of_another_kind_in_an_override_names_the_key(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "c", "kind": "cnn"}])
    message = config_error(write_config(tmp_path, tree), ["students.c.fc_dim=64"], data_dir=str(data))
    assert "students.0.fc_dim: unknown key: fc_dim is a setting of kind 'bilstm' students" in message


def test_unknown_kind_lists_the_kinds(tmp_path):
    data = make_data(tmp_path / "data")
    message = config_error(write_config(tmp_path, minimal(students=[{"name": "a", "kind": "lstm"}])),
                           data_dir=str(data))
    assert "students.0.kind: got 'lstm', allowed: 'bilstm', 'cnn', 'transformer', 'hf' or 'static'" in message


def test_each_kind_validates_to_its_own_class():
    from taskdistil.config import STUDENT_CONFIGS
    from taskdistil.students.registry import STUDENT_KINDS

    assert set(STUDENT_CONFIGS) == set(STUDENT_KINDS)  # a kind: one line, its settings class names its model
    for kind, cls in STUDENT_CONFIGS.items():
        assert STUDENT_KINDS[kind].kind == kind and callable(STUDENT_KINDS[kind].build)  # it builds itself
        settings = {"checkpoint": "x"} if kind == "hf" else {}
        student = student_config(kind=kind, **settings)
        assert type(student) is cls and student.kind == kind
        assert student_config(**student.model_dump(mode="json")) == student  # config.yaml reloads the same
    assert type(student_config()) is STUDENT_CONFIGS["bilstm"]  # no kind: bilstm
    assert type(student_config(recipe="pkd-last")) is STUDENT_CONFIGS["transformer"]  # the recipe's kind
    assert "hidden_size" not in STUDENT_CONFIGS["cnn"].model_fields  # no silent keys of other kinds
    assert "tokenizer" not in STUDENT_CONFIGS["transformer"].model_fields
    assert student_config(kind="cnn").dropout == pytest.approx(0.1)  # defaults as before


def test_run_configs_keep_their_students_kinds(tmp_path):
    data = make_data(tmp_path / "data")
    tree = minimal(students=[{"name": "b"}, {"name": "c", "kind": "cnn", "num_filters": 8},
                             {"name": "t", "kind": "transformer", "layers": 2}])
    cfg = load_config(write_config(tmp_path, tree), data_dir=str(data))
    assert [type(s).__name__ for s in cfg.students] == ["BiLSTMStudentConfig", "CNNStudentConfig",
                                                        "TransformerStudentConfig"]
    assert cfg.students[1].num_filters == 8 and cfg.students[2].layers == 2

# -- data directory resolution ------------------------------------------------------------

def test_env_var_resolves_relative_data_paths(tmp_path, monkeypatch):
    data = make_data(tmp_path / "envdata")
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    cfg = load_config(write_config(tmp_path, minimal()))
    assert cfg.data.dir == str(data.resolve())
    assert cfg.data_path("train") == str(data.resolve() / "train.tsv")


def test_data_dir_argument_resolves_relative_data_paths(tmp_path):
    data = make_data(tmp_path / "argdata")
    cfg = load_config(write_config(tmp_path, minimal()), data_dir=str(data))
    assert cfg.data.dir == str(data.resolve())


def test_data_dir_argument_wins_over_env(tmp_path, monkeypatch):
    good = make_data(tmp_path / "good")
    empty = tmp_path / "empty"
    empty.mkdir()
    path = write_config(tmp_path, minimal())

    monkeypatch.setenv(DATA_DIR_ENV, str(empty))
    cfg = load_config(path, data_dir=str(good))
    assert cfg.data_path("train") == str(good.resolve() / "train.tsv")

    monkeypatch.setenv(DATA_DIR_ENV, str(good))
    message = config_error(path, data_dir=str(empty))
    assert str(empty.resolve() / "train.tsv") in message


def test_env_wins_over_yaml_data_dir(tmp_path, monkeypatch):
    good = make_data(tmp_path / "good")
    empty = tmp_path / "empty"
    empty.mkdir()
    tree = minimal()
    tree["data"]["dir"] = str(empty)
    monkeypatch.setenv(DATA_DIR_ENV, str(good))
    cfg = load_config(write_config(tmp_path, tree))
    assert cfg.data_path("dev") == str(good.resolve() / "dev.tsv")


def test_yaml_data_dir_is_used_without_env_or_argument(tmp_path):
    good = make_data(tmp_path / "good")
    tree = minimal()
    tree["data"]["dir"] = str(good)
    cfg = load_config(write_config(tmp_path, tree))
    assert cfg.data_path("test") == str(good.resolve() / "test.tsv")
