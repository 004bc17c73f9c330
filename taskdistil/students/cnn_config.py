"""Settings of kind ``cnn`` students (``taskdistil.students.cnn``: Kim 2014)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from taskdistil.students.table_config import TableStudentConfig


class CNNStudentConfig(TableStudentConfig):
    """Convolutions of ``filter_widths`` (``num_filters`` each) over the student's token table, max-pooled over
    time, dropout (``dropout``), then the head."""

    MODEL = "taskdistil.students.cnn:CNNStudent"
    kind: Literal["cnn"] = "cnn"
    filter_widths: list[int] = Field([3, 4, 5], min_length=1, description="convolution widths")
    num_filters: int = Field(100, ge=1, description="filters per width")
    question: Literal["inline", "pooled"] | None = Field(
        None, description="task question_tagging: the head reads each token of [CLS] question [SEP] passage [SEP] "
        "alone ('inline', the default) or beside the question's mean state ('pooled'; taskdistil.students.question)")
    crf: bool = Field(False, description="token_tagging: a CRF over the per-word logits (transitions learned by CRF "
                      "likelihood on gold tags, Viterbi decoding; taskdistil.students.crf)")
