"""Student distillation: cached teacher logits (and [CLS] states) -> student, through the one training loop.

A bilstm/cnn student gets an embedding table (SVD of the teacher's, word vectors or random). A
transformer student is built from the teacher's own layers (``TransformerStudent.from_teacher``) and,
with ``loss.pkd_weight`` > 0, also learns the teacher's [CLS] states (Patient KD, Sun et al. 2019):

    L = DistillLoss(z_s, z_t, y) + pkd_weight * PatientLoss(h_s^{1..k-1}, h_t^{layer_map})
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from taskdistil.artifact import save_student
from taskdistil.config import StudentConfig
from taskdistil.errors import ConfigError, StageError
from taskdistil.inference import batched_logits
from taskdistil.losses import DistillLoss
from taskdistil.students.embeddings import svd_reduce, teacher_input_embeddings
from taskdistil.students.registry import build_student
from taskdistil.students.tokenizer import WordPieceTokenizer, WordTokenizer
from taskdistil.students.vectors import read_vectors
from taskdistil.tasks import classification_metrics, load_task_data
from taskdistil.teacher.annotate import LogitStore
from taskdistil.teacher.model import Teacher
from taskdistil.train.batching import LengthBuckets, pad_ids
from taskdistil.train.loop import fit

if TYPE_CHECKING:
    from taskdistil.pipeline import Run


def build_tokenizer(student: StudentConfig, teacher: Teacher, transfer_texts: list[str]):
    max_length = student.max_length or teacher.max_length
    if student.tokenizer == "wordpiece":
        return WordPieceTokenizer.from_teacher(teacher.tokenizer, max_length)
    return WordTokenizer.build(transfer_texts, student.lowercase, student.max_vocab, student.min_freq, max_length)


def distill_student(run: "Run", student: StudentConfig, stage_dir: Path) -> dict:
    config = run.config
    seed = config.seed if student.seed is None else student.seed
    torch.manual_seed(seed)
    data = load_task_data(config)
    teacher = Teacher.load(run.teacher_model_dir)
    store = LogitStore(run.annotate_dir, verify=True)
    transfer_texts = data.train.texts
    if len(store) != len(transfer_texts):
        raise StageError(f"{run.annotate_dir}: annotations hold {len(store)} rows, the transfer set has "
                         f"{len(transfer_texts)}; rerun `taskdistil annotate`")

    tokenizer = build_tokenizer(student, teacher, transfer_texts)
    too_long = config.data.too_long
    train_ids = tokenizer.encode(transfer_texts, too_long, data.train.where)
    dev_ids = tokenizer.encode(data.dev.texts, too_long, data.dev.where)
    # Logit columns follow the teacher's label order (an adopted checkpoint may have its own).
    to_teacher = np.asarray([teacher.labels.index(label) for label in data.labels.labels])
    gold = torch.as_tensor(to_teacher[data.label_ids("train")])
    dev_gold = to_teacher[data.label_ids("dev")]

    patient = None  # the Patient KD term: (student output, example indices) -> scalar, or None
    if student.kind == "transformer":
        model, patient = _transformer_student(run, student, teacher, tokenizer)
    else:
        model = _embedding_student(run, student, teacher, tokenizer, seed)
    del teacher.model  # the teacher's weights are not needed past this point

    objective = DistillLoss(student.loss.soft, student.loss.temperature, student.loss.hard_weight)

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        ids, mask = pad_ids([train_ids[i] for i in idx], tokenizer.pad_id)
        out = model(ids, mask)
        loss = objective(out.logits, torch.from_numpy(store[idx]), gold[idx])
        return loss if patient is None else loss + patient(out, idx)

    def evaluate():
        logits = batched_logits(lambda ids, mask: model(ids, mask).logits, dev_ids, tokenizer.pad_id, 512)
        return classification_metrics(logits, dev_gold)

    batches = LengthBuckets([len(s) for s in train_ids], student.train.batch_size, seed=seed)
    result = fit(model, loss_fn, batches, evaluate, student.train, stage_dir / "work", desc=f"student {student.name}")
    provenance = {"teacher": str(run.teacher_model_dir), "teacher_origin": config.teacher.model,
                  "transfer_set": config.data_path("train"), "transfer_size": len(transfer_texts),
                  "recipe": student.model_dump(mode="json"), "seed": seed, "dev": result.best}
    save_student(run.student_model_dir(student.name), model, tokenizer, teacher.labels, config.data.task, provenance)
    n_params = sum(p.numel() for p in model.parameters())
    return {"dev": result.best, "best_step": result.best_step, "steps": result.steps,
            "stopped_early": result.stopped_early, "parameters": n_params, "history": result.history}


def _embedding_student(run: "Run", student: StudentConfig, teacher: Teacher, tokenizer, seed: int):
    """A bilstm or cnn student with its embedding table initialised (SVD of the teacher's, word vectors, random)."""
    model = build_student(student.kind, vocab_size=tokenizer.vocab_size, num_labels=len(teacher.labels),
                          pad_id=tokenizer.pad_id, **student.model_dump(exclude={"kind"}))
    if student.embeddings == "svd":
        model.embedding.initialize(svd_reduce(teacher_input_embeddings(teacher.model), student.embedding_dim))
    elif student.embeddings == "vectors":
        from taskdistil.pipeline import log

        table = read_vectors(run.config.data_file(student.vectors), tokenizer.vocabulary(), student.embedding_dim,
                             tokenizer.pad_id, seed)
        model.embedding.initialize(torch.from_numpy(table.matrix))
        log(f"[distill:{student.name}] word vectors for {table.found:,} of {tokenizer.vocab_size:,} vocabulary "
            f"entries ({table.lowercase_matches:,} by their lowercased form)")
    return model


def _transformer_student(run: "Run", student: StudentConfig, teacher: Teacher, tokenizer):
    """(the student built from the teacher's layers, its Patient KD term or None when pkd_weight is 0)."""
    from taskdistil.losses import PatientLoss
    from taskdistil.pipeline import log
    from taskdistil.students.transformer import TransformerStudent, bert_depth, student_layers
    from taskdistil.teacher.annotate import HiddenStore

    depth = bert_depth(teacher.model.config, f"teacher ({run.teacher_model_dir})")
    init, matched = student_layers(student, depth)
    model = TransformerStudent.from_teacher(teacher.model, init, pad_id=tokenizer.pad_id,
                                            hidden_dropout=student.dropout)
    positions = model.config.bert["max_position_embeddings"]
    if tokenizer.max_length > positions:
        raise ConfigError(f"students.{student.name}.max_length: {tokenizer.max_length} tokens, but the teacher's "
                          f"position embeddings cover {positions}")
    weight = student.loss.pkd_weight
    log(f"[distill:{student.name}] {len(init)}-layer transformer from teacher layers {init} (of {depth})"
        + (f"; Patient KD (weight {weight:g}) to teacher layers {matched}" if weight else ""))
    if not weight:
        return model, None
    hidden = HiddenStore(run.annotate_dir, verify=True)
    missing = sorted(set(matched) - set(hidden.layers))
    if missing:
        raise StageError(f"{run.annotate_dir}: the annotations hold teacher layers {hidden.layers}, student "
                         f"{student.name!r} needs {missing}; rerun `taskdistil annotate`")
    loss = PatientLoss()

    def term(out, idx: np.ndarray) -> torch.Tensor:
        teacher_cls = torch.from_numpy(hidden.read(idx, matched))  # (B, k-1, H) float16
        return weight * loss(out.layer_cls[:, :-1], teacher_cls)  # student layers 1..k-1; the top has the logits

    return model, term
