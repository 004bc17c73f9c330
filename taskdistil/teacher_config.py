"""The teacher's settings (fine-tuned, or external) and the annotation stage's."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from taskdistil.data_config import _Strict
from taskdistil.external_config import EXTERNAL_TEACHER_SETTINGS, check_external_teacher
from taskdistil.train_config import STAGE_DEVICE, STAGE_PRECISION, Device, Precision, TrainConfig, _merge_over_default

EMBEDDED_TEACHER = "embedded:minilm-l6"


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
