"""Settings of kind ``hf`` students (``taskdistil.students.hf_encoder``: any Hugging Face encoder checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from taskdistil.errors import ConfigError
from taskdistil.hf_checkpoint import looks_like_path, resolve_checkpoint
from taskdistil.student_base import StudentBase
from taskdistil.students.table_config import TABLE_KEYS
from taskdistil.students.transformer_config import check_layer_map_length, layer_choice_or_list
from taskdistil.teacher_config import EMBEDDED_TEACHER
from taskdistil.train_config import TrainConfig

# An hf student (a pretrained small encoder: BERT-Tiny/Mini/Small...) fine-tunes like BERT too; small BERTs take a
# larger rate than BERT-base (Turc et al. 2019 searched 3e-5..3e-4), hence 1e-4.
HF_TRAIN = TrainConfig(
    epochs=4, batch_size=32, learning_rate=1e-4, optimizer="adamw", weight_decay=0.01, scheduler="linear",
    warmup_ratio=0.1, evals_per_epoch=2, grad_clip=1.0,
)
HF_DEFAULTS = {"layer_map": "skip", "pooling": "cls"}
HF_SETTINGS = ("layers", "layer_map")  # the transformer settings that hf students take too


class HFStudentConfig(StudentBase):
    """Any Hugging Face encoder ``checkpoint`` with its own tokenizer and layers; ``train`` defaults ``HF_TRAIN``;
    ``layers`` keeps the checkpoint's first k, ``layer_map`` matches them to teacher layers (Patient KD), ``dropout``
    comes before the classifier. (Its layer_map length and Patient KD depth are checked against the checkpoint once
    it is read.)"""

    NULL_IS_DEFAULT = ("layer_map", "pooling", "train")
    KEY_HINTS = dict.fromkeys(TABLE_KEYS, "kind 'hf' uses its checkpoint's own tokenizer and embeddings")
    PAIRS = "joint"
    MODEL = "taskdistil.students.hf_encoder:HFEncoderStudent"

    kind: Literal["hf"] = "hf"
    checkpoint: str | None = Field(None, description="the student's Hugging Face encoder checkpoint, a local "
                                   "directory, a hub name (e.g. google/bert_uncased_L-2_H-128_A-2) or "
                                   "embedded:minilm-l6 (the pre-trained MiniLM-L6, not fine-tuned)")
    layers: int | None = Field(None, ge=1, description="keep the checkpoint's first k layers (default: all of them)")
    layer_map: Literal["skip", "last"] | list[int] = Field(
        HF_DEFAULTS["layer_map"], description="teacher layers (1-based) that student layers 1..k-1 learn from under "
        "Patient KD, by the transformer student's rules")
    pooling: Literal["cls", "mean"] = Field(
        HF_DEFAULTS["pooling"], description="cls (the checkpoint's pooler, else the [CLS] state) or mean (over the "
        "top layer's tokens)")
    train: TrainConfig = HF_TRAIN

    @field_validator("layer_map", mode="before")
    @classmethod
    def _layer_choice_or_list(cls, v: Any, info: Any) -> Any:
        return layer_choice_or_list(v, info.field_name)

    @field_validator("pooling", mode="before")
    @classmethod
    def _pooling(cls, v: Any) -> Any:
        if v not in ("cls", "mean"):
            raise ValueError(f"an hf student pools by 'cls' (its pooler or [CLS] state) or 'mean', got {v!r}")
        return v

    @model_validator(mode="after")
    def _needs_a_checkpoint(self) -> "HFStudentConfig":
        if not self.checkpoint:
            raise ValueError("kind 'hf' needs the key 'checkpoint': a Hugging Face encoder checkpoint (a local "
                             "directory or a hub name)")
        check_layer_map_length(self.layer_map, self.layers)
        return self

    def build_tokenizer(self, teacher_tokenizer, texts: list, max_length: int):
        """Its own: the checkpoint's fast tokenizer."""
        from taskdistil.students.hf_files import checkpoint_tokenizer

        return checkpoint_tokenizer(self.checkpoint, max_length, f"students.{self.name}.checkpoint")

    def input_files(self, data_file) -> dict[str, Any]:
        """A local or embedded checkpoint's directory (a hub name: none; its name is in the key)."""
        path = Path(resolve_checkpoint(self.checkpoint))
        return {"checkpoint": path} if path.is_dir() else {}

    def reads_teacher_layers(self) -> bool:
        return bool(self.loss.pkd_weight)

    def patient_kd_layers(self, teacher_config: dict, where: str) -> list[int]:
        if not self.loss.pkd_weight:
            return []
        from taskdistil.students.layer_maps import student_pkd_layers

        return student_pkd_layers(self, int(teacher_config["num_hidden_layers"]))

    def check_files(self) -> None:
        """ConfigError naming the key: an unknown embedded model, a missing local directory, one that is not a
        Hugging Face checkpoint, or ``layers`` beyond its depth (hub names are checked when loaded)."""
        key, name = f"students.{self.name}.checkpoint", self.checkpoint
        if name.startswith("embedded:") and name != EMBEDDED_TEACHER:
            raise ConfigError(f"{key}: unknown embedded model {name!r}, allowed: {EMBEDDED_TEACHER!r}")
        if name != EMBEDDED_TEACHER and not looks_like_path(name):
            return
        path = Path(resolve_checkpoint(name, key))
        if not path.is_dir():
            raise ConfigError(f"{key}: no such directory: {name}")
        if not (path / "config.json").is_file():
            raise ConfigError(f"{key}: {name} is not a Hugging Face checkpoint (no config.json)")
        depth = json.loads((path / "config.json").read_text()).get("num_hidden_layers")
        if self.layers is not None and isinstance(depth, int) and self.layers > depth:
            raise ConfigError(f"students.{self.name}.layers: {self.layers}, but the checkpoint {name} has "
                              f"{depth} layers")
