"""A whole run's validated configuration: data, teacher, transfer set, annotation, students and exam."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from taskdistil.data_config import DataConfig, _Strict
from taskdistil.exam_config import ExamConfig
from taskdistil.external_config import check_external_students
from taskdistil.student_config import StudentConfig, default_student
from taskdistil.teacher_config import AnnotateConfig, TeacherConfig
from taskdistil.train_config import Device
from taskdistil.transfer_config import TransferConfig


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
    students: list[StudentConfig] = Field(default_factory=lambda: [default_student()], min_length=1)
    exam: ExamConfig = ExamConfig()

    @field_validator("transfer")
    @classmethod
    def _no_unlabeled_pairs(cls, v: TransferConfig, info: Any) -> TransferConfig:
        data = info.data.get("data")
        if data is not None and data.task == "sentence_pair" and v.unlabeled:
            raise ValueError("unlabeled text for sentence pairs is not supported: transfer.unlabeled lists "
                             f"{len(v.unlabeled)} source(s); use augmentation (transfer.augment) to grow the "
                             "transfer set")
        if data is not None and data.task == "question_tagging" and (v.unlabeled or v.augment is not None):
            raise ValueError("task 'question_tagging' distils on its labeled training examples for now: unlabeled "
                             "text and augmentation are not supported yet")
        return v

    @model_validator(mode="after")
    def _question_heads(self) -> "RunConfig":
        for s in self.students:
            if getattr(s, "question", None) is not None and self.data.task != "question_tagging":  # bilstm, cnn
                raise ValueError(f"students.{s.name}.question is a setting of task 'question_tagging' (this task is "
                                 f"{self.data.task!r})")
        return self

    @model_validator(mode="after")
    def _students_of_an_external_teacher(self) -> "RunConfig":
        check_external_students(self.students, self.teacher.external, self.data.task)
        return self

    @model_validator(mode="after")
    def _word_students_learn_logits(self) -> "RunConfig":
        """Token tagging annotates the teacher's word logits only: no [CLS] states for Patient KD or representation
        stages to learn."""
        if self.data.task != "token_tagging":
            return self
        for student in self.students:
            key = f"students.{student.name}"
            if student.loss.pkd_weight:
                raise ValueError(f"{key}.loss.pkd_weight: Patient KD (teacher [CLS] states) is not supported for "
                                 "task 'token_tagging', whose annotations hold word logits only; set it to 0 (a "
                                 "transformer or hf tagger learns the teacher's word logits)")
            if any(stage.objective == "representation" for stage in student.stages or []):
                raise ValueError(f"{key}.stages: objective 'representation' (teacher [CLS] states) is not supported "
                                 "for task 'token_tagging', whose annotations hold word logits only")
        return self

    @model_validator(mode="after")
    def _crf_on_word_students(self) -> "RunConfig":
        """A CRF reads per-word logits: task token_tagging (only bilstm and cnn students have the key)."""
        for student in self.students:
            if getattr(student, "crf", False) and self.data.task != "token_tagging":
                raise ValueError(f"students.{student.name}.crf: a CRF layer is for task 'token_tagging' (this is "
                                 f"task {self.data.task!r})")
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
