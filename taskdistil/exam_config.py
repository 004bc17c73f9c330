"""How the exam measures, and the budgets that pick the recommended student."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from taskdistil.data_config import _Strict
from taskdistil.train_config import Device


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
