"""Settings of kind ``transformer`` students (``taskdistil.students.transformer``: Patient KD, Sun et al. 2019)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from taskdistil.student_base import StudentBase
from taskdistil.students.table_config import TABLE_KEYS
from taskdistil.train_config import TrainConfig

# A transformer student trains like BERT fine-tuning (Sun et al. 2019: batch 32, 4 epochs, lr 5e-5), not
# with the small students' Adam at 1e-3, which wrecks copied BERT layers.
TRANSFORMER_TRAIN = TrainConfig(
    epochs=4, batch_size=32, learning_rate=5e-5, optimizer="adamw", weight_decay=0.01, scheduler="linear",
    warmup_ratio=0.1, evals_per_epoch=2, grad_clip=1.0,
)
TRANSFORMER_DEFAULTS = {"layers": 3, "init_layers": "first", "layer_map": "skip"}
LAYER_CHOICES = {"init_layers": ("first",), "layer_map": ("skip", "last")}


def layer_choice_or_list(v: Any, key: str) -> Any:
    """A named choice of teacher layers (``LAYER_CHOICES[key]``) or a list of 1-based layer numbers."""
    choices = LAYER_CHOICES[key]
    if v is None or (isinstance(v, str) and v in choices):
        return v
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v):
        return v
    raise ValueError(f"expected one of {list(choices)} or a list of 1-based teacher layer numbers")


def check_layer_map_length(layer_map: Any, layers: int | None) -> None:
    """A layer_map list names one teacher layer per student layer below the top (when ``layers`` is known)."""
    if isinstance(layer_map, list) and layers is not None and len(layer_map) != layers - 1:
        raise ValueError(f"layer_map: a student of {layers} layers matches {layers - 1} teacher layers "
                         f"(all but its top one), got {len(layer_map)}: {layer_map}")


class TransformerStudentConfig(StudentBase):
    """A BERT of ``layers`` layers copied from the teacher's (embeddings, vocabulary, pooler and classifier too);
    its ``train`` defaults are ``TRANSFORMER_TRAIN``, ``dropout`` its hidden dropout (attention dropout stays the
    teacher's). It reads the teacher's WordPiece vocabulary with the teacher's embeddings."""

    NULL_IS_DEFAULT = ("layers", "init_layers", "layer_map", "train")
    KEY_HINTS = dict.fromkeys(TABLE_KEYS, "kind 'transformer' uses the teacher's WordPiece vocabulary and embeddings")
    PAIRS = "joint"
    MODEL = "taskdistil.students.transformer:TransformerStudent"

    kind: Literal["transformer"] = "transformer"
    layers: int = Field(TRANSFORMER_DEFAULTS["layers"], ge=1, description="number of layers k")
    init_layers: Literal["first"] | list[int] = Field(
        TRANSFORMER_DEFAULTS["init_layers"], description="teacher layers (1-based) copied into the student's "
        "layers: 'first' (default: the teacher's first k, as in PKD) or a list of k layer numbers")
    layer_map: Literal["skip", "last"] | list[int] = Field(
        TRANSFORMER_DEFAULTS["layer_map"], description="teacher layers (1-based) that student layers 1..k-1 learn "
        "from under Patient KD: 'skip' (default: every N/k-th), 'last' (the k-1 below the top) or a list of k-1 "
        "numbers")
    train: TrainConfig = TRANSFORMER_TRAIN

    def teacher_model_need(self) -> str | None:
        return "kind 'transformer' (built from the teacher's layers)"

    def reads_teacher_layers(self) -> bool:
        return True  # init_layers and layer_map, with or without Patient KD

    def patient_kd_layers(self, teacher_config: dict, where: str) -> list[int]:
        from taskdistil.students.layer_maps import bert_depth, student_layers

        _, matched = student_layers(self, bert_depth(teacher_config, where))
        return matched if self.loss.pkd_weight else []

    @field_validator("init_layers", "layer_map", mode="before")
    @classmethod
    def _layer_choice_or_list(cls, v: Any, info: Any) -> Any:
        return layer_choice_or_list(v, info.field_name)

    @model_validator(mode="after")
    def _layer_lists_fit(self) -> "TransformerStudentConfig":
        if isinstance(self.init_layers, list) and len(self.init_layers) != self.layers:
            raise ValueError(f"init_layers: a student of {self.layers} layers copies {self.layers} teacher layers, "
                             f"got {len(self.init_layers)}: {self.init_layers}")
        check_layer_map_length(self.layer_map, self.layers)
        if self.loss.pkd_weight and self.layers < 2:
            raise ValueError("loss.pkd_weight needs layers >= 2: a 1-layer student has no layer below the top "
                             "(which the logits cover)")
        return self
