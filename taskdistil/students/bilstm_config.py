"""Settings of kind ``bilstm`` students (``taskdistil.students.bilstm``: Tang et al. 2019, XtremeDistil)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from taskdistil.students.table_config import TableStudentConfig


class BiLSTMStudentConfig(TableStudentConfig):
    """A BiLSTM over the student's token table: ``hidden_size`` units per direction, ``num_layers`` stacked,
    states pooled (``pooling``), a ReLU layer of ``fc_dim`` units, dropout, then the head."""

    MODEL = "taskdistil.students.bilstm:BiLSTMStudent"
    kind: Literal["bilstm"] = "bilstm"
    hidden_size: int = Field(150, ge=1, description="units per direction")
    num_layers: int = Field(1, ge=1, description="stacked layers")
    fc_dim: int = Field(200, ge=1, description="ReLU layer units")
    pooling: Literal["last", "max", "mean"] = Field("last", description="how states become one vector")
    question: Literal["inline", "pooled"] | None = Field(
        None, description="task question_tagging: the head reads each token of [CLS] question [SEP] passage [SEP] "
        "alone ('inline', the default) or beside the question's mean state ('pooled'; taskdistil.students.question)")
    crf: bool = Field(False, description="token_tagging: a CRF over the per-word logits (transitions learned by CRF "
                      "likelihood on gold tags, Viterbi decoding; taskdistil.students.crf)")

    @field_validator("pooling", mode="before")
    @classmethod
    def _cls_is_hf(cls, v: Any) -> Any:
        if v == "cls":
            raise ValueError("pooling 'cls' is a setting of kind 'hf' students (this one is 'bilstm')")
        return v
