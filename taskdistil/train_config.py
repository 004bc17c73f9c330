"""The training loop's settings, and the device and precision types every stage's settings use."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from taskdistil.data_config import _Strict


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
