"""Building a student before training: its tokenizer (its settings' kind builds it), its model (the kind's model
class builds itself from the teacher: ``cls.build(settings, BuildContext)``), and the Patient KD term that trains
beside it when its settings name teacher layers (``taskdistil.distill`` trains them). No branch on the kind."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from taskdistil.config import StudentConfig
from taskdistil.data.pairs import Example
from taskdistil.errors import StageError
from taskdistil.progress import log
from taskdistil.students.build import BuildContext
from taskdistil.students.registry import STUDENT_KINDS, check_head, reads_windows
from taskdistil.tasks import student_head, task_kind
from taskdistil.teacher.external import vocabulary_encoder
from taskdistil.teacher.model import Teacher

# run: the pipeline's Run (its config and paths; not imported, the pipeline sits above this module)


def build_tokenizer(student: StudentConfig, teacher: Teacher, transfer_texts: list[Example], task: str):
    """The student's tokenizer (its kind builds it); for sentence pairs, encoding each text alone (siamese
    bilstm/cnn) or a pair as one sequence (transformer, hf): the kind's ``PAIRS``."""
    tokenizer = student.build_tokenizer(teacher.tokenizer, transfer_texts, student.max_length or teacher.max_length)
    if task_kind(task).pairs:
        tokenizer.pairs = student.PAIRS
    tokenizer.windows = reads_windows(student.kind) and task_kind(task).unit == "word"
    return tokenizer


class PatientKD(nn.Module):
    """The Patient KD term of a student (Sun et al. 2019): forward(ids, mask, teacher_cls) -> (the student's
    output, pkd_weight * PatientLoss(its layers 1..k-1, teacher_cls)), and ``targets(idx)`` the teacher [CLS] states
    of ``layers`` cached in the annotations. When the loss has parameters (the projection of an hf student whose
    hidden size differs from the teacher's) this module is what the logits stage trains, so that the projection
    learns with the student (data-parallel: through DDP too); the projection is not part of the saved student."""

    def __init__(self, student: nn.Module, loss: nn.Module, weight: float, hidden, layers: list[int]):
        super().__init__()
        self.student = student
        self.loss = loss
        self.weight = weight
        self.hidden = hidden  # HiddenStore
        self.layers = layers

    @property
    def has_parameters(self) -> bool:
        return any(True for _ in self.loss.parameters())

    def targets(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.hidden.read(idx, self.layers))  # (B, k-1, H_t) float16

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, teacher_cls: torch.Tensor):
        out = self.student(ids, mask)
        # student layers 1..k-1; the top one has the logits
        return out, self.weight * self.loss(out.layer_cls[:, :-1], teacher_cls)


def hidden_store(run, student: StudentConfig, layers: list):
    """The cached teacher states (checksums verified), checked to hold the states named ``layers``."""
    from taskdistil.teacher.annotate import HiddenStore, sorted_states

    hidden = HiddenStore(run.annotate_dir, verify=True)
    missing = sorted_states(set(layers) - set(hidden.layers))
    if missing:
        raise StageError(f"{run.annotate_dir}: the annotations hold teacher layers {hidden.layers}, student "
                         f"{student.name!r} needs {missing}; rerun `taskdistil annotate`")
    return hidden


def build_student_model(run, student: StudentConfig, teacher: Teacher, tokenizer, seed: int):
    """(the student of ``student.kind`` for the run's task kind, its Patient KD term or None): the kind's model
    class builds itself (``cls.build(settings, context)``); the Patient KD term follows its settings'
    ``patient_kd_layers``."""
    head = student_head(task_kind(run.config.data.task))
    check_head(student.kind, head, f"students.{student.name}.kind")
    context = BuildContext(teacher=teacher, teacher_dir=run.teacher_model_dir, tokenizer=tokenizer, head=head,
                           seed=seed, cache_dir=run.dir / "cache", data_file=run.config.data_file,
                           vocabulary_encoder=lambda: vocabulary_encoder(teacher, run.teacher_model_dir))
    model = STUDENT_KINDS[student.kind].build(student, context)
    weight = student.loss.pkd_weight
    layers = (student.patient_kd_layers(context.teacher_config(), f"teacher ({run.teacher_model_dir})")
              if student.reads_teacher_layers() else [])  # an external teacher has no model: none read
    if not (weight and layers):
        return model, None
    from taskdistil.losses import PatientLoss

    teacher_hidden = teacher.model.config.hidden_size
    loss = PatientLoss(getattr(model, "hidden_size", None), teacher_hidden)
    log(f"[distill:{student.name}] Patient KD (weight {weight:g}) to teacher layers {layers}" + (
        f" through a learned {model.hidden_size} -> {teacher_hidden} projection" if loss.projection is not None
        else ""))
    return model, PatientKD(model, loss, weight, hidden_store(run, student, layers), layers)
