"""Settings of kind ``static`` students (``taskdistil.students.static``, which reads its defaults from here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from taskdistil.students.table_config import TableStudentConfig

TOKEN_WEIGHTS = ("sif", "learned", "none")
DEFAULT_TOKEN_WEIGHTS = "sif"
DEFAULT_SIF_A = 1e-3  # Arora et al. 2017: a in 1e-4..1e-3 works well


class StaticStudentConfig(TableStudentConfig):
    """A weighted mean of the token table's rows (``token_weights``), plus the mean of hashed bigram vectors
    (``bigram_buckets``), an optional ReLU layer (``hidden_layer`` units), dropout, then the head."""

    MODEL = "taskdistil.students.static:StaticStudent"
    kind: Literal["static"] = "static"
    token_weights: Literal[TOKEN_WEIGHTS] | None = Field(None, description="pooling weights (default sif)")
    sif_a: float | None = Field(None, gt=0, description="a of the SIF weights a / (a + p(w))")
    hidden_layer: int | None = Field(None, ge=1, description="units of a ReLU layer before the head")
    bigram_buckets: int | None = Field(None, ge=1, description="hashed bigram table: adjacent token pairs hashed "
                                       "into this many rows, their mean added to the pooled vector (fastText's "
                                       "bigram features; default none)")

    @model_validator(mode="after")
    def _sif_a_needs_weights(self) -> "StaticStudentConfig":
        if self.sif_a is not None and self.token_weights == "none":
            raise ValueError("sif_a sets the SIF weights a / (a + p(w)): it needs token_weights 'sif' or 'learned' "
                             "(this student has token_weights 'none')")
        return self
