"""Teacher fine-tuning through the one training loop (cross-entropy on gold labels), on the device and at the
precision of ``teacher.device`` / ``teacher.precision`` (``taskdistil.devices``); the teacher is saved from CPU.

What the teacher's head learns depends on the task kind's unit (``taskdistil.tasks.base``): one label per
example (``example_objective``, here), per word (``taskdistil.teacher.words.word_objective``) or per aspect
(``taskdistil.teacher.aspects.aspect_objective``); each returns
the training lengths, the loss of a batch and the dev evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from taskdistil import distributed
from taskdistil.config import RunConfig
from taskdistil.devices import Placement, log_placement, teacher_placement
from taskdistil.inference import batched_logits
from taskdistil.tasks import TaskData, label_meta, task_kind
from taskdistil.teacher.aspects import aspect_objective
from taskdistil.teacher.model import (
    encode_texts,
    hf_forward,
    load_finetuned,
    load_pretrained,
    pair_aware,
    pair_separator,
    save_teacher,
)
from taskdistil.teacher.words import word_objective
from taskdistil.train.batching import LengthBuckets, pad_ids
from taskdistil.train.loop import fit


def example_objective(config: RunConfig, data: TaskData, model, tokenizer, placement: Placement):
    """(training lengths, loss of a batch of training rows, dev evaluation) of a sequence-classification head."""
    tcfg = config.teacher
    kind = task_kind(config.data.task)
    pad = tokenizer.pad_token_id or 0
    forward_model = pair_aware(model, pair_separator(model, tokenizer, config.data.task))  # token types for pairs
    too_long = config.data.too_long
    train_ids = encode_texts(tokenizer, data.train.texts, tcfg.max_length, too_long, data.train.where)
    dev_ids = encode_texts(tokenizer, data.dev.texts, tcfg.max_length, too_long, data.dev.where)
    train_y = placement.to(torch.as_tensor(data.label_ids("train")))
    dev_y = data.label_ids("dev")

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        ids, mask = pad_ids([train_ids[i] for i in idx], pad)
        logits = forward_model(input_ids=placement.to(ids), attention_mask=placement.to(mask)).logits  # (B, C)
        return F.cross_entropy(logits, train_y[idx])

    def evaluate():
        logits = batched_logits(hf_forward(forward_model), dev_ids, pad, batch_size=128, placement=placement)
        return kind.evaluate(logits, dev_y, data.labels)

    return [len(s) for s in train_ids], loss_fn, evaluate


OBJECTIVES = {"example": example_objective, "word": word_objective, "aspect": aspect_objective}  # by TaskKind.unit


def prepare_teacher(config: RunConfig, data: TaskData, out_dir: Path, work_dir: Path) -> dict:
    """Fine-tune (or adopt an already fine-tuned) teacher and save it to ``out_dir``."""
    tcfg = config.teacher
    kind = task_kind(config.data.task)
    labels = list(data.labels.labels)
    torch.manual_seed(config.seed)
    if tcfg.finetuned:
        model, tokenizer, order = load_finetuned(tcfg.model, labels, tcfg.trust_remote_code, kind.hf_head)
        if distributed.is_main():
            save_teacher(model, tokenizer, out_dir, order, tcfg.max_length, origin=tcfg.model, task=config.data.task,
                         label_meta=label_meta(data.labels))
        return {"labels": order, "finetuned_here": False}

    model, tokenizer = load_pretrained(tcfg.model, labels, tcfg.trust_remote_code, kind.hf_head)
    placement = teacher_placement(config)
    log_placement("teacher", placement)
    placement.module(model)
    lengths, loss_fn, evaluate = OBJECTIVES[kind.unit](config, data, model, tokenizer, placement)
    batches = LengthBuckets(lengths, tcfg.train.batch_size, seed=config.seed)
    result = fit(model, loss_fn, batches, evaluate, tcfg.train, work_dir, desc="teacher fine-tuning",
                 placement=placement)
    model.cpu()
    if distributed.is_main():
        save_teacher(model, tokenizer, out_dir, labels, tcfg.max_length, origin=tcfg.model, task=config.data.task,
                     label_meta=label_meta(data.labels))
    return {"labels": labels, "finetuned_here": True, "dev": result.best, "best_step": result.best_step,
            "steps": result.steps, "history": result.history}
