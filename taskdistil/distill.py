"""Student distillation: cached teacher logits (and [CLS] states) -> student, through the one training loop.

A bilstm/cnn student gets an embedding table (SVD of the teacher's, word vectors or random). A
transformer student is built from the teacher's own layers (``TransformerStudent.from_teacher``) and,
with ``loss.pkd_weight`` > 0, also learns the teacher's [CLS] states (Patient KD, Sun et al. 2019):

    L = DistillLoss(z_s, z_t, y) + pkd_weight * PatientLoss(h_s^{1..k-1}, h_t^{layer_map})

An hf student (``HFEncoderStudent.from_checkpoint``: any Hugging Face encoder checkpoint) brings its own tokenizer
(the transfer texts are encoded with it) and layers; under Patient KD its layers 1..k-1 learn the teacher layers of
its ``layer_map`` the same way, through a learned projection of its [CLS] states to the teacher's hidden size where
the two differ (``PatientLoss(student_dim, teacher_dim)``: the loss's parameters, trained beside the student in the
logits stage by ``PatientKD``, not saved with it).

Multi-stage training (``stages:``, XtremeDistil) keeps one loop: a stage is data (an objective, its train
settings, an unfreezing rule) that ``fit`` runs in its own work dir ``stages/<n>-<objective>`` under the
student's stage dir. ``fit`` leaves a stage's best-on-dev weights in the model, where the next stage starts; a
finished stage returns at once on resume. Each stage reseeds torch (seed + n), so a run killed in or between
stages resumes to the same result. Objectives (batch of transfer-set rows; dev selection):

    representation  RepresentationLoss(pooled_s, h_t^l)       dev: -(the same loss on the teacher's dev states)
    logits          DistillLoss(z_s, z_t, y) [+ Patient KD]   dev: accuracy (a and T may follow a Ramp)
    hard_distill    HardDistillation: CE(argmax z_t, z_s)     dev: accuracy
    hard_labels     HardCE: CE(y, z_s), unlabeled rows out    dev: accuracy

Without ``stages`` the student trains in one logits stage in ``work``, exactly as before stages existed.

Sentence pairs: bilstm and cnn students are siamese (one encoder over each text, ``taskdistil.students.pairs``), their
tokenizer encodes each text alone; transformer and hf students read a pair as one sequence with token types, as
the teacher does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from taskdistil import distributed
from taskdistil.artifact import save_student
from taskdistil.config import StageConfig, StudentConfig, representation_stages, scheduled
from taskdistil.devices import log_placement, student_placement
from taskdistil.distill_crf import crf_term
from taskdistil.distill_targets import TARGETS
from taskdistil.errors import ConfigError, StageError
from taskdistil.inference import batched_logits
from taskdistil.losses import DistillLoss, HardCE, HardDistillation, RepresentationLoss
from taskdistil.progress import log
from taskdistil.student_build import build_student_model, build_tokenizer, hidden_store
from taskdistil.tasks import label_meta, load_task_data, task_kind
from taskdistil.teacher.external import load_teacher, stored_targets, teacher_objective
from taskdistil.teacher.model import Teacher
from taskdistil.teacher.word_store import open_logit_store
from taskdistil.train.batching import LengthBuckets
from taskdistil.train.hooks import GradualUnfreezing, chain
from taskdistil.train.loop import Evaluation, FitResult, fit
from taskdistil.transfer.store import ORIGIN_NAMES, TransferSet

if TYPE_CHECKING:
    from taskdistil.run_dir import Run


def distill_student(run: "Run", student: StudentConfig, stage_dir: Path) -> dict:
    config = run.config
    seed = config.seed if student.seed is None else student.seed
    torch.manual_seed(seed)
    data = load_task_data(config)
    teacher = load_teacher(run.teacher_model_dir)  # an external teacher: its tokenizer and input embeddings only
    store = open_logit_store(run.annotate_dir, verify=True)
    targets = stored_targets(run.annotate_dir)  # "labels": a hard teacher, trained by hard distillation
    transfer = TransferSet(run.transfer_dir)
    transfer_texts = transfer.texts()
    if len(store) != len(transfer_texts):
        raise StageError(f"{run.annotate_dir}: annotations hold {len(store)} rows, the transfer set has "
                         f"{len(transfer_texts)}; rerun `taskdistil annotate`")

    tokenizer = build_tokenizer(student, teacher, transfer_texts, config.data.task)
    kind = task_kind(config.data.task)
    placement = student_placement(config, student)  # fp32; CPU: every move below is the identity
    unit = TARGETS[kind.unit](kind, data, teacher.labels, transfer, transfer_texts, tokenizer, store,
                              config.data.too_long, placement)  # the unit's inputs, logit rows, teacher rows, gold
    model, patient = build_student_model(run, student, teacher, tokenizer, seed)  # patient: Patient KD term or None
    if hasattr(model, "from_transfer_set"):  # a static student's SIF weights: the transfer set's token statistics
        model.from_transfer_set(unit.train_ids)
    representations = _representation_targets(run, student, teacher, data)
    crf = crf_term(model, unit, teacher.labels, label_meta(data.labels))  # None unless students.<name>.crf
    del teacher.model  # the teacher's weights are not needed past this point
    log_placement(f"distill:{student.name}", placement)
    placement.module(patient if patient is not None else model)
    inputs = unit.inputs

    def forward(idx: np.ndarray):
        return model(*inputs(idx))

    def evaluate():
        return unit.evaluate(model)

    def objective(stage: StageConfig, number: int):
        """(the module fit trains, loss_fn, evaluate, per-step hook or None) of one stage."""
        if stage.objective == "logits":
            loss, hook = _logits_loss(student)

            def logits_loss(idx: np.ndarray) -> torch.Tensor:
                if patient is None:
                    rows = unit.rows(forward(idx).logits, idx)
                    value = loss(rows, unit.teacher(idx), unit.gold(idx))
                    return value if crf is None else value + crf(rows, idx)  # a CRF tagger: its NLL too
                out, term = patient(*inputs(idx), placement.to(patient.targets(idx)))
                return loss(unit.rows(out.logits, idx), unit.teacher(idx), unit.gold(idx)) + term

            # a Patient KD loss with parameters (an hf student's projection) trains beside the student
            return (patient if patient is not None and patient.has_parameters else model), logits_loss, evaluate, hook
        if stage.objective == "hard_distill":
            hard = HardDistillation()
            return model, lambda idx: hard(unit.rows(forward(idx).logits, idx), unit.teacher(idx)), evaluate, None
        if stage.objective == "hard_labels":
            ce = HardCE()
            return model, lambda idx: ce(unit.rows(forward(idx).logits, idx), unit.gold(idx)), evaluate, None
        layer, hidden, dev_states = representations[number]
        with torch.no_grad():
            model.eval()
            student_dim = forward(np.arange(1)).pooled.shape[-1]
        representation = placement.module(RepresentationLoss(student_dim, dev_states.shape[-1]))
        trained = _WithProjection(model, representation)

        def representation_loss(idx: np.ndarray) -> torch.Tensor:
            return trained(*inputs(idx), placement.to(torch.from_numpy(hidden.read(idx, [layer])[:, 0])))

        def evaluate_representation() -> Evaluation:
            pooled = batched_logits(lambda ids, mask: model(ids, mask).pooled, unit.dev_ids, tokenizer.pad_id, 512,
                                    placement=placement)
            mse = representation(placement.to(torch.from_numpy(pooled)), placement.to(dev_states))
            return Evaluation({"neg_representation_mse": -float(mse)}, "neg_representation_mse")

        return trained, representation_loss, evaluate_representation, None

    lengths = unit.lengths
    rows_kept = _training_rows(student, transfer)
    if not student.stages:  # one logits stage in "work", exactly as before stages existed
        trained, loss_fn, stage_evaluate, hook = objective(
            teacher_objective(StageConfig(objective="logits"), targets, student.name), 1)
        batches = LengthBuckets(lengths, student.train.batch_size, seed=seed, rows=rows_kept)
        result = fit(trained, loss_fn, batches, stage_evaluate, student.train, stage_dir / "work",
                     desc=f"student {student.name}", on_step=hook, placement=placement)
        dev, summaries = result.best, None
    else:
        results = []
        for number, stage in enumerate(student.stages, 1):
            stage = teacher_objective(stage, targets, student.name)
            torch.manual_seed(seed + number)  # each stage's randomness independent of how the run got here
            trained, loss_fn, stage_evaluate, hook = objective(stage, number)
            batches = LengthBuckets(lengths, stage.train.batch_size, seed=seed, rows=rows_kept)
            unfreezing = None
            if stage.unfreeze == "gradual":
                unfreezing = GradualUnfreezing(_reached_groups(model, trained, loss_fn, batches.epoch(0)[0]))
            _log_stage(student, number, stage, representations, unfreezing)
            result = fit(trained, loss_fn, batches, stage_evaluate, stage.train, stage_work_dir(stage_dir, number,
                         stage), desc=f"student {student.name} stage {number} ({stage.objective})",
                         on_step=chain(hook, unfreezing), placement=placement)
            if unfreezing is not None:
                unfreezing.release()
            results.append(result)
        dev = result.best
        if student.stages[-1].objective == "representation":  # the final model's classification metrics
            model.eval()
            with torch.no_grad():
                dev = evaluate().metrics
        summaries = [_summary(stage, r) for stage, r in zip(student.stages, results)]
    origin = config.teacher.outputs or config.teacher.command or config.teacher.model  # external: its source
    provenance = {"teacher": str(run.teacher_model_dir), "teacher_origin": origin,
                  "transfer_set": config.data_path("train"), "transfer_size": len(transfer_texts),
                  "transfer_origins": transfer.counts(),
                  "trained_on": len(transfer_texts) if rows_kept is None else len(rows_kept),
                  "recipe": student.model_dump(mode="json"), "seed": seed, "dev": dev}
    if distributed.is_main():
        save_student(run.student_model_dir(student.name), model, tokenizer, teacher.labels, config.data.task,
                     provenance, label_meta(data.labels))
    n_params = sum(p.numel() for p in model.parameters())
    outputs = {"dev": dev, "best_step": result.best_step, "steps": result.steps,
               "stopped_early": result.stopped_early, "parameters": n_params, "history": result.history}
    if summaries is not None:
        outputs["stages"] = summaries
    return outputs


def _training_rows(student: StudentConfig, transfer: TransferSet) -> np.ndarray | None:
    """The transfer-set rows of the student's ``transfer_origins`` (None: all rows)."""
    if student.transfer_origins is None:
        return None
    codes = [ORIGIN_NAMES.index(origin) for origin in student.transfer_origins]
    rows = np.flatnonzero(np.isin(np.asarray(transfer.origins), codes))
    if not len(rows):
        raise ConfigError(f"students.{student.name}.transfer_origins: the transfer set has no "
                          f"{' or '.join(student.transfer_origins)} rows ({transfer.counts()})")
    return rows


def stage_work_dir(stage_dir: Path, number: int, stage: StageConfig) -> Path:
    """The work dir (checkpoints, best weights, fit.json) of stage ``number`` (1-based) of a student."""
    return Path(stage_dir) / "stages" / f"{number}-{stage.objective}"


class _WithProjection(nn.Module):
    """A student and the representation loss's projection, trained together in a representation stage
    (the projection is the loss's own parameters; it is not part of the saved student). Its forward is the
    stage's loss, so that the loss is computed through the module ``fit`` trains (data-parallel: through DDP)."""

    def __init__(self, student: nn.Module, loss: RepresentationLoss):
        super().__init__()
        self.student = student
        self.loss = loss

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(self.student(ids, mask).pooled, target)


def _logits_loss(student: StudentConfig):
    """(DistillLoss of the student's ``loss`` section, the hook moving a and T along their schedules)."""
    settings = student.loss
    loss = DistillLoss(settings.soft, scheduled(settings.temperature, 0, 1), scheduled(settings.hard_weight, 0, 1))

    def hook(step: int, total: int) -> None:
        loss.set(scheduled(settings.hard_weight, step, total), scheduled(settings.temperature, step, total))

    return loss, hook


def _reached_groups(model: nn.Module, trained: nn.Module, loss_fn, idx: np.ndarray) -> list[list[nn.Parameter]]:
    """The student's unfreeze groups (top to bottom) that the stage's loss reaches, from one backward pass in eval
    mode (no dropout: no randomness drawn). A group without gradient (the classifier in a representation stage)
    would spend its share of the stage training nothing, so it is left out of the schedule."""
    groups = model.unfreeze_groups()
    trained.eval()
    trained.zero_grad(set_to_none=True)
    loss_fn(idx).backward()
    reached = [group for group in groups if any(p.grad is not None for p in group)]
    trained.zero_grad(set_to_none=True)
    return reached


def _representation_targets(run: "Run", student: StudentConfig, teacher: Teacher, data) -> dict:
    """{stage number: (teacher state name, HiddenStore, the teacher's dev states (N_dev, H))} of the
    representation stages; the dev states are computed here, once, while the teacher is loaded."""
    from taskdistil.teacher.annotate import sorted_states, state_name, teacher_states

    stages = representation_stages(student)
    if not stages:
        return {}
    depth = teacher.model.config.num_hidden_layers
    numbers = [i for i, stage in enumerate(student.stages, 1) if stage.objective == "representation"]
    layers = [state_name(stage.resolved_teacher_layer(depth, key), stage.teacher_pooling) for key, stage in stages]
    hidden = hidden_store(run, student, layers)
    config = run.config
    order = sorted_states(layers)
    states = teacher_states(teacher, data.dev.texts, order, config.annotate.batch_size,
                            config.data.too_long, data.dev.where)  # (N_dev, L, H)
    return {n: (layer, hidden, torch.from_numpy(np.ascontiguousarray(states[:, order.index(layer)])))
            for n, layer in zip(numbers, layers)}


def _log_stage(student: StudentConfig, number: int, stage: StageConfig, targets: dict,
              unfreezing: GradualUnfreezing | None) -> None:
    what = ""
    if stage.objective == "representation":
        from taskdistil.teacher.annotate import parse_state

        layer, pooling = parse_state(targets[number][0])
        what = f"teacher layer {layer}, {'[CLS] state' if pooling == 'cls' else 'mean of its token states'}"
    if unfreezing is not None:
        what += (", " if what else "") + f"gradual unfreezing of {len(unfreezing.groups)} parameter groups"
    log(f"[distill:{student.name}] stage {number}/{len(student.stages)}: {stage.objective}"
        + (f" ({what})" if what else ""))


def _summary(stage: StageConfig, result: FitResult) -> dict:
    return {"objective": stage.objective, "dev": result.best, "best_step": result.best_step, "steps": result.steps,
            "stopped_early": result.stopped_early, "history": result.history}
