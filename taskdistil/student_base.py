"""What every student kind's settings share: the loss (with ramps), the training stages and the common keys.

Each kind's settings are a subclass of ``StudentBase`` beside its student (``taskdistil.students.<kind>_config``);
``taskdistil.student_config`` joins them into ``StudentConfig``, a union told apart by ``kind``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from taskdistil.data_config import _Strict
from taskdistil.errors import ConfigError
from taskdistil.recipes import apply_recipe
from taskdistil.train_config import STAGE_DEVICE, Device, TrainConfig, _merge_over_default

DEFAULT_KIND = "bilstm"  # a student without ``kind`` (nor a recipe naming one)
# The small students' training defaults (Adam at 1e-3); transformer and hf students fine-tune like BERT instead.
SMALL_STUDENT_TRAIN = TrainConfig(
    epochs=10, batch_size=50, learning_rate=1e-3, optimizer="adam", scheduler="constant",
    evals_per_epoch=2, patience=6, grad_clip=5.0,
)


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


class StudentBase(_Strict):
    """The keys every student kind takes. A kind's subclass sets ``kind`` (a one-value Literal), adds its own keys
    and may change the ``train`` default; a key of another kind fails validation as an unknown key."""

    # Keys whose null in a config means the kind's default (kinds whose defaults are filled in, as before).
    NULL_IS_DEFAULT: ClassVar[tuple[str, ...]] = ()
    # Extra words for the unknown-key error of a key of another kind: {key: why this kind has none}.
    KEY_HINTS: ClassVar[dict[str, str]] = {}
    # How the kind reads a sentence pair: "separate" (siamese: each text encoded alone, taskdistil.students.pairs)
    # or "joint" (one sequence with token types, as the teacher reads it).
    PAIRS: ClassVar[str] = "separate"
    # The kind's model class, "module:Class" (``taskdistil.students.registry`` imports it; the class builds itself
    # from these settings and the teacher: ``cls.build(settings, context)``).
    MODEL: ClassVar[str]

    name: str = Field("bilstm", pattern=r"^[A-Za-z0-9_.-]+$")
    recipe: Literal["tang", "pkd-skip", "pkd-last", "xtremedistil", "hard"] | None = Field(
        None, description="a paper's settings (taskdistil.recipes) under the keys given here")
    seed: int | None = Field(None, description="training seed of this student (default: the run's seed)")
    device: Device | None = Field(None, description=STAGE_DEVICE + " (students train in fp32)")
    kind: str
    transfer_origins: list[Literal["labeled", "unlabeled", "augmented"]] | None = Field(
        None, min_length=1, description="train on these rows of the transfer set only (default: all); one "
        "annotation then answers which ingredient buys how much")
    max_length: int | None = Field(None, ge=1, description="default: the teacher's")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout rate (where: the kind's docstring)")
    loss: LossConfig = LossConfig()
    train: TrainConfig = SMALL_STUDENT_TRAIN
    stages: list[StageConfig] | None = Field(None, min_length=1, description="multi-stage training, in order "
                                             "(default: one logits stage, as without stages)")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """The recipe under the given keys, then the kind's defaults for null keys, then each stage's train over
        the student's (in one validator: pydantic's order of several 'before' validators is easy to get wrong)."""
        if not isinstance(data, dict):
            return data
        data = apply_recipe(data)
        data = {k: v for k, v in data.items() if not (v is None and k in cls.NULL_IS_DEFAULT)}
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

    @model_validator(mode="after")
    def _patient_kd_in_a_logits_stage(self) -> "StudentBase":
        if self.loss.pkd_weight and self.stages and not any(s.objective == "logits" for s in self.stages):
            raise ValueError("loss.pkd_weight (Patient KD) is part of the 'logits' objective: add a logits stage")
        return self

    def input_files(self, data_file) -> dict[str, Any]:
        """Files or directories the student reads besides the run's (their contents go into its stage key), by
        key; ``data_file`` resolves a path against the data directory. None here."""
        return {}

    def build_tokenizer(self, teacher_tokenizer, texts: list, max_length: int):
        """The student's tokenizer (``taskdistil.students.tokenizer``) for ``texts`` (the transfer set's examples):
        here the teacher's WordPiece vocabulary."""
        from taskdistil.students.tokenizer import WordPieceTokenizer

        return WordPieceTokenizer.from_teacher(teacher_tokenizer, max_length)

    def teacher_model_need(self) -> str | None:
        """What of this student needs the teacher's model beyond its outputs (its layers, its encoder), or None
        (an external teacher gives outputs only). Patient KD and representation stages: checked for every kind."""
        return None

    def check_files(self) -> None:
        """ConfigError naming the key of an input this student names that cannot be read (checked with the run's
        input files, before any work). Nothing here."""

    def reads_teacher_layers(self) -> bool:
        """Whether its settings name teacher layers to check before annotation (``patient_kd_layers``)."""
        return False

    def patient_kd_layers(self, teacher_config: dict, where: str) -> list[int]:
        """The teacher layers (1-based) whose [CLS] states its Patient KD term learns from ([] without one), for
        a teacher of ``teacher_config`` (its config.json, ``where`` it was read); a layer setting the teacher cannot
        meet is a ConfigError naming its key. None here."""
        return []


def representation_stages(student: StudentBase) -> list[tuple[str, StageConfig]]:
    """(config key of its teacher_layer, stage) of each representation stage of ``student``."""
    return [(f"students.{student.name}.stages.{i}.teacher_layer", stage)
            for i, stage in enumerate(student.stages or []) if stage.objective == "representation"]


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
