"""A student's settings: its kind and model, its loss (with ramps) and its training stages."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from taskdistil.data_config import _Strict
from taskdistil.errors import ConfigError
from taskdistil.recipes import apply_recipe
from taskdistil.static_config import TEACHER_TABLES, TOKEN_WEIGHTS, check_static_settings
from taskdistil.train_config import STAGE_DEVICE, Device, TrainConfig, _merge_over_default


class Ramp(_Strict):
    """A value moving linearly over the S steps of a training stage: x(s) = start + (end - start) * s / (S - 1).

    (An annealing schedule, e.g. of the temperature or the hard-label weight; not from the papers of
    METHODS.md.) A pure function of the step, so a resumed stage reproduces it.
    """

    start: float
    end: float

    def at(self, step: int, total: int) -> float:
        return self.start + (self.end - self.start) * min(1.0, step / max(1, total - 1))


def scheduled(value: float | Ramp, step: int, total: int) -> float:
    """A loss setting's value at ``step`` of ``total``: the number itself, or the ramp's point."""
    return value.at(step, total) if isinstance(value, Ramp) else float(value)


class LossConfig(_Strict):
    """L = hard_weight * CE(y, z_s) + (1 - hard_weight) * soft(z_t, z_s) + pkd_weight * PKD(h_s, h_t).

    PKD is Patient KD (Sun et al. 2019) over matched layers' [CLS] states (transformer and hf students; an hf
    student's states are projected to the teacher's hidden size where it differs);
    in the paper's terms hard_weight = 1 - a and pkd_weight = b, with soft 'kl' at temperature T.
    ``temperature`` and ``hard_weight`` are a number or ``{start: x, end: y}`` (a ``Ramp`` over the stage's steps).
    """

    soft: Literal["mse", "kl"] = "mse"
    temperature: float | Ramp = Field(1.0, description="T > 0, or {start, end}: linear over the stage's steps")
    hard_weight: float | Ramp = Field(0.0, description="a in [0, 1], or {start, end}: linear over the stage's steps")
    pkd_weight: float = Field(0.0, ge=0, description="b: weight of the Patient KD loss between the student's "
                              "[CLS] states and the teacher layers of layer_map (transformer and hf students; 0: "
                              "plain KD)")

    @field_validator("temperature")
    @classmethod
    def _positive_temperature(cls, v: float | Ramp) -> float | Ramp:
        if min(_ends(v)) <= 0:
            raise ValueError("temperature must be > 0 (both ends of a {start, end} schedule)")
        return v

    @field_validator("hard_weight")
    @classmethod
    def _weight_in_unit_interval(cls, v: float | Ramp) -> float | Ramp:
        if not all(0 <= x <= 1 for x in _ends(v)):
            raise ValueError("hard_weight must be in [0, 1] (both ends of a {start, end} schedule)")
        return v

    def uses_hard_labels(self) -> bool:
        return max(_ends(self.hard_weight)) > 0


def _ends(v: float | Ramp) -> tuple[float, float]:
    return (v.start, v.end) if isinstance(v, Ramp) else (v, v)


OBJECTIVES = ("representation", "logits", "hard_distill", "hard_labels")
XTREMEDISTIL_LAYER = (7, 12)  # XtremeDistil's best representation layer: 7 of a 12-layer teacher


class StageConfig(_Strict):
    """One stage of multi-stage training (XtremeDistil, Mukherjee & Hassan Awadallah 2020), run by the one loop.

    objective: ``representation`` (the student's pooled state -> GELU projection -> the teacher's state of
    ``teacher_layer``: its [CLS] state, or with ``teacher_pooling: mean`` the mean of its token states;
    ``RepresentationLoss``), ``logits`` (the student's ``loss`` section: ``DistillLoss``, plus
    Patient KD for transformers), ``hard_distill`` (CE to the teacher's argmax: ``HardDistillation``) or
    ``hard_labels`` (CE to gold labels, unlabeled rows ignored: ``HardCE``). ``train``: keys over the student's
    ``train`` (resolved when the student is validated, so it always holds every key). ``unfreeze: gradual``
    trains the student's top parameter group first and unfreezes the next one every (stage steps / groups) steps.
    """

    objective: Literal["representation", "logits", "hard_distill", "hard_labels"]
    teacher_layer: int | None = Field(None, ge=1, description="representation: the teacher layer (1-based) "
                                      "learned; default ceil(7/12 of the teacher's depth), XtremeDistil's 7 of 12")
    teacher_pooling: Literal["cls", "mean"] | None = Field(
        None, description="representation: the teacher state learned: 'cls' (default: the [CLS] state, as "
        "XtremeDistil) or 'mean' (the mean of the layer's token states: for teachers whose [CLS] hardly varies, "
        "such as mean-pooled sentence encoders)")
    unfreeze: Literal["all", "gradual"] = "all"
    train: TrainConfig | None = None

    @model_validator(mode="after")
    def _layer_for_representation(self) -> "StageConfig":
        for key in ("teacher_layer", "teacher_pooling"):
            if getattr(self, key) is not None and self.objective != "representation":
                raise ValueError(f"{key} is a setting of objective 'representation' (this stage is "
                                 f"{self.objective!r})")
        return self

    def resolved_teacher_layer(self, depth: int, key: str) -> int:
        """The representation target for a teacher of ``depth`` layers; ConfigError naming ``key`` if out of range."""
        num, den = XTREMEDISTIL_LAYER
        layer = self.teacher_layer or max(1, math.ceil(num * depth / den))
        if not 1 <= layer <= depth:
            raise ConfigError(f"{key}: teacher layer {layer} out of range: the teacher has layers 1..{depth}")
        return layer


# A transformer student trains like BERT fine-tuning (Sun et al. 2019: batch 32, 4 epochs, lr 5e-5), not
# with the small students' Adam at 1e-3, which wrecks copied BERT layers.
TRANSFORMER_TRAIN = TrainConfig(
    epochs=4, batch_size=32, learning_rate=5e-5, optimizer="adamw", weight_decay=0.01, scheduler="linear",
    warmup_ratio=0.1, evals_per_epoch=2, grad_clip=1.0,
)
TRANSFORMER_DEFAULTS = {"layers": 3, "init_layers": "first", "layer_map": "skip"}
# An hf student (a pretrained small encoder: BERT-Tiny/Mini/Small...) fine-tunes like BERT too; small BERTs take a
# larger rate than BERT-base (Turc et al. 2019 searched 3e-5..3e-4), hence 1e-4.
HF_TRAIN = TrainConfig(
    epochs=4, batch_size=32, learning_rate=1e-4, optimizer="adamw", weight_decay=0.01, scheduler="linear",
    warmup_ratio=0.1, evals_per_epoch=2, grad_clip=1.0,
)
HF_DEFAULTS = {"layer_map": "skip", "pooling": "cls"}
HF_SETTINGS = ("layers", "layer_map")  # the transformer settings that hf students take too
_LAYER_CHOICES = {"init_layers": ("first",), "layer_map": ("skip", "last")}


class StudentConfig(_Strict):
    """One student. kind 'transformer' (Patient KD, Sun et al. 2019) is a BERT of ``layers`` layers copied from
    the teacher's (embeddings, vocabulary, pooler and classifier too); its ``train`` defaults are
    ``TRANSFORMER_TRAIN``. ``layers``, ``init_layers`` and ``layer_map`` are its settings only. kind 'hf' wraps any
    Hugging Face encoder ``checkpoint`` (its own tokenizer and layers; ``taskdistil.students.hf_encoder``; ``train``
    defaults ``HF_TRAIN``); of those settings it takes ``layers`` (keep the checkpoint's first k) and ``layer_map``
    (Patient KD), and ``checkpoint`` is its alone."""

    name: str = Field("bilstm", pattern=r"^[A-Za-z0-9_.-]+$")
    recipe: Literal["tang", "pkd-skip", "pkd-last", "xtremedistil", "hard"] | None = Field(
        None, description="a paper's settings (taskdistil.recipes) under the keys given here")
    seed: int | None = Field(None, description="training seed of this student (default: the run's seed)")
    device: Device | None = Field(None, description=STAGE_DEVICE + " (students train in fp32)")
    kind: Literal["bilstm", "cnn", "transformer", "hf", "static"] = "bilstm"
    layers: int | None = Field(None, ge=1, description="transformer: number of layers k (default 3); hf: keep the "
                               "checkpoint's first k layers (default: all of them)")
    init_layers: Literal["first"] | list[int] | None = Field(
        None, description="transformer: teacher layers (1-based) copied into the student's layers: 'first' "
        "(default: the teacher's first k, as in PKD) or a list of k layer numbers")
    layer_map: Literal["skip", "last"] | list[int] | None = Field(
        None, description="transformer: teacher layers (1-based) that student layers 1..k-1 learn from under "
        "Patient KD: 'skip' (default: every N/k-th), 'last' (the k-1 below the top) or a list of k-1 numbers")
    checkpoint: str | None = Field(None, description="hf: the student's Hugging Face encoder checkpoint, a local "
                                   "directory, a hub name (e.g. google/bert_uncased_L-2_H-128_A-2) or "
                                   "embedded:minilm-l6 (the pre-trained MiniLM-L6, not fine-tuned)")
    transfer_origins: list[Literal["labeled", "unlabeled", "augmented"]] | None = Field(
        None, min_length=1, description="train on these rows of the transfer set only (default: all); one "
        "annotation then answers which ingredient buys how much")
    tokenizer: Literal["wordpiece", "word"] = "wordpiece"
    lowercase: bool = True
    max_vocab: int = Field(50000, ge=10, description="word tokenizer: largest vocabulary kept")
    min_freq: int = Field(1, ge=1, description="word tokenizer: least frequency kept")
    max_length: int | None = Field(None, ge=1, description="default: the teacher's")
    # validate_default: the svd/word rule below must also catch the default "svd".
    embeddings: Literal["random", "svd", "vectors", "model2vec"] = Field(
        "svd", validate_default=True, description="model2vec: each vocabulary entry encoded by the teacher, PCA")
    vectors: str | None = Field(None, description="embeddings 'vectors': a word2vec/GloVe/fastText file (text, "
                                ".gz or word2vec .bin); relative paths resolve against the data directory")
    embedding_dim: int = Field(300, ge=1)
    embedding_mode: Literal["tuned", "frozen", "multichannel"] = Field(
        "tuned", description="tune the table, freeze it, or both side by side (multichannel)")
    hidden_size: int = Field(150, ge=1, description="bilstm: units per direction")
    num_layers: int = Field(1, ge=1, description="bilstm: stacked layers")
    fc_dim: int = Field(200, ge=1, description="bilstm: ReLU layer units")
    dropout: float = Field(0.1, ge=0, lt=1, description="hf: dropout before the classifier; transformer: hidden "
                           "dropout (attention dropout stays "
                           "the teacher's)")
    pooling: Literal["last", "max", "mean", "cls"] = Field(
        "last", description="how states become one vector; bilstm: last, max or mean; hf: cls (the default: the "
        "checkpoint's pooler, else the [CLS] state) or mean (over the top layer's tokens)")
    token_weights: Literal[TOKEN_WEIGHTS] | None = Field(None, description="static: pooling weights (default sif)")
    sif_a: float | None = Field(None, gt=0, description="static: a of the SIF weights a / (a + p(w))")
    hidden_layer: int | None = Field(None, ge=1, description="static: units of a ReLU layer before the head")
    filter_widths: list[int] = Field([3, 4, 5], min_length=1, description="cnn: convolution widths")
    num_filters: int = Field(100, ge=1, description="cnn: filters per width")
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig(
        epochs=10, batch_size=50, learning_rate=1e-3, optimizer="adam", scheduler="constant",
        evals_per_epoch=2, patience=6, grad_clip=5.0,
    )
    stages: list[StageConfig] | None = Field(None, min_length=1, description="multi-stage training, in order "
                                             "(default: one logits stage, as without stages)")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """The recipe under the given keys, then the transformer (or hf) defaults, then each stage's train over
        the student's (in one validator: pydantic's order of several 'before' validators is easy to get wrong)."""
        if not isinstance(data, dict):
            return data
        data = apply_recipe(data)
        if data.get("kind") == "transformer":
            data = {**data, **{k: v for k, v in TRANSFORMER_DEFAULTS.items() if data.get(k) is None}}
            if data.get("train") is None or isinstance(data["train"], dict):
                data["train"] = {**TRANSFORMER_TRAIN.model_dump(), **(data.get("train") or {})}
        elif data.get("kind") == "hf":
            data = {**data, **{k: v for k, v in HF_DEFAULTS.items() if data.get(k) is None}}
            if data.get("train") is None or isinstance(data["train"], dict):
                data["train"] = {**HF_TRAIN.model_dump(), **(data.get("train") or {})}
        if isinstance(data.get("stages"), list):
            train = data.get("train")
            train = train.model_dump() if isinstance(train, BaseModel) else train
            if train is None or isinstance(train, dict):
                base = {**cls.model_fields["train"].default.model_dump(), **(train or {})}
                data["stages"] = [_stage_over(stage, base) for stage in data["stages"]]
        return data

    @field_validator("train", "loss", mode="before")
    @classmethod
    def _section_defaults(cls, v: Any, info: Any) -> Any:
        return _merge_over_default(cls, info.field_name, v)

    @field_validator("init_layers", "layer_map", mode="before")
    @classmethod
    def _layer_choice_or_list(cls, v: Any, info: Any) -> Any:
        choices = _LAYER_CHOICES[info.field_name]
        if v is None or (isinstance(v, str) and v in choices):
            return v
        if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v):
            return v
        raise ValueError(f"expected one of {list(choices)} or a list of 1-based teacher layer numbers")

    @field_validator("embeddings")
    @classmethod
    def _svd_needs_wordpiece(cls, v: str, info: Any) -> str:
        if v in TEACHER_TABLES and info.data.get("tokenizer") == "word" and info.data.get("kind") not in (
                "transformer", "hf"):
            raise ValueError(f"embeddings {v!r} needs tokenizer 'wordpiece' (the teacher's vocabulary)")
        return v

    @model_validator(mode="after")
    def _vectors_need_a_file(self) -> "StudentConfig":
        if self.embeddings == "vectors" and not self.vectors:
            raise ValueError("embeddings 'vectors' needs the key 'vectors': the word vectors file")
        return self

    @model_validator(mode="after")
    def _kind_settings(self) -> "StudentConfig":
        """Transformer-only (and hf-only) settings on other kinds, and layer lists that cannot fit ``layers``."""
        if self.loss.pkd_weight and self.stages and not any(s.objective == "logits" for s in self.stages):
            raise ValueError("loss.pkd_weight (Patient KD) is part of the 'logits' objective: add a logits stage")
        if self.checkpoint is not None and self.kind != "hf":
            raise ValueError(f"checkpoint is a setting of kind 'hf' students (this one is {self.kind!r})")
        check_static_settings(self)
        if self.kind == "hf":
            return self._hf_settings()
        if self.kind != "transformer":
            given = [k for k in TRANSFORMER_DEFAULTS if getattr(self, k) is not None]
            if given:
                also = " and 'hf'" if given[0] in HF_SETTINGS else ""
                raise ValueError(f"{given[0]} is a setting of kind 'transformer'{also} students (this one is "
                                 f"{self.kind!r})")
            if self.loss.pkd_weight:
                raise ValueError("loss.pkd_weight (Patient KD) needs kind 'transformer' or 'hf'")
            if self.pooling == "cls":
                raise ValueError(f"pooling 'cls' is a setting of kind 'hf' students (this one is {self.kind!r})")
            return self
        if self.tokenizer != "wordpiece" or self.embeddings != "svd":
            raise ValueError("kind 'transformer' uses the teacher's WordPiece vocabulary and embeddings: leave "
                             "tokenizer and embeddings at their defaults")
        if isinstance(self.init_layers, list) and len(self.init_layers) != self.layers:
            raise ValueError(f"init_layers: a student of {self.layers} layers copies {self.layers} teacher layers, "
                             f"got {len(self.init_layers)}: {self.init_layers}")
        self._check_layer_map_length()
        if self.loss.pkd_weight and self.layers < 2:
            raise ValueError("loss.pkd_weight needs layers >= 2: a 1-layer student has no layer below the top "
                             "(which the logits cover)")
        return self

    def _check_layer_map_length(self) -> None:
        """A layer_map list names one teacher layer per student layer below the top (when ``layers`` is known)."""
        if isinstance(self.layer_map, list) and self.layers is not None and len(self.layer_map) != self.layers - 1:
            raise ValueError(f"layer_map: a student of {self.layers} layers matches {self.layers - 1} teacher layers "
                             f"(all but its top one), got {len(self.layer_map)}: {self.layer_map}")

    def _hf_settings(self) -> "StudentConfig":
        """An hf student names its checkpoint and brings its own layers, tokenizer and embeddings. (Its layer_map
        list length and Patient KD depth are checked against the checkpoint once it is read.)"""
        if not self.checkpoint:
            raise ValueError("kind 'hf' needs the key 'checkpoint': a Hugging Face encoder checkpoint (a local "
                             "directory or a hub name)")
        given = [k for k in TRANSFORMER_DEFAULTS if k not in HF_SETTINGS and getattr(self, k) is not None]
        if given:
            raise ValueError(f"{given[0]} is a setting of kind 'transformer' students (an hf student's layers are "
                             f"its checkpoint's)")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling: an hf student pools by 'cls' (its pooler or [CLS] state) or 'mean', got "
                             f"{self.pooling!r}")
        self._check_layer_map_length()
        if self.tokenizer != "wordpiece" or self.embeddings != "svd":
            raise ValueError("kind 'hf' uses its checkpoint's own tokenizer and embeddings: leave tokenizer and "
                             "embeddings at their defaults")
        return self


def _stage_over(stage: Any, student_train: dict) -> Any:
    """A raw stage with its ``train`` keys over the student's (left alone if not a mapping: validation says why)."""
    if isinstance(stage, BaseModel):
        stage = stage.model_dump()
    if not isinstance(stage, dict):
        return stage
    train = stage.get("train")
    train = train.model_dump() if isinstance(train, BaseModel) else train
    if train is None or isinstance(train, dict):
        stage = {**stage, "train": {**student_train, **(train or {})}}
    return stage


def representation_stages(student: StudentConfig) -> list[tuple[str, StageConfig]]:
    """(config key of its teacher_layer, stage) of each representation stage of ``student``."""
    return [(f"students.{student.name}.stages.{i}.teacher_layer", stage)
            for i, stage in enumerate(student.stages or []) if stage.objective == "representation"]
