"""Teacher fine-tuning for multi-aspect classification (``taskdistil.tasks.multi_aspect``): a sequence head of
sum_a N_a logits over the pooled encoder output, trained with cross-entropy per aspect slice,

    L = (1/A) * sum_a CE(y^a, softmax(z^a))     (batch mean; the sum over aspects scaled by 1/A)

computed as one cross-entropy over the B*A per-aspect loss rows (``AspectLabels.row_index``, padded columns at
``PAD_LOGIT``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from taskdistil.config import RunConfig
from taskdistil.devices import Placement
from taskdistil.inference import batched_logits
from taskdistil.tasks import task_kind
from taskdistil.tasks.multi_aspect import PAD_LOGIT
from taskdistil.teacher.model import encode_texts, hf_forward
from taskdistil.train.batching import pad_ids


def aspect_rows(logits: torch.Tensor, row_index: torch.Tensor) -> torch.Tensor:
    """(B, C) logits -> (B*A, K) per-aspect loss rows; ``row_index`` (A, K) from ``AspectLabels.row_index`` (index
    C: padding, ``PAD_LOGIT``)."""
    padded = torch.cat([logits, logits.new_full((logits.shape[0], 1), PAD_LOGIT)], dim=1)
    return padded[:, row_index.reshape(-1)].reshape(-1, row_index.shape[1])


def aspect_objective(config: RunConfig, data, model, tokenizer, placement: Placement):
    """(training lengths, loss of a batch of training rows, dev evaluation) of the multi-aspect head."""
    tcfg = config.teacher
    kind = task_kind(config.data.task)
    pad = tokenizer.pad_token_id or 0
    too_long = config.data.too_long
    train_ids = encode_texts(tokenizer, data.train.texts, tcfg.max_length, too_long, data.train.where)
    dev_ids = encode_texts(tokenizer, data.dev.texts, tcfg.max_length, too_long, data.dev.where)
    row_index = placement.to(torch.as_tensor(data.labels.row_index(data.labels.labels)))
    train_y = placement.to(torch.as_tensor(data.gold("train")))  # (N, A)
    dev_y = data.gold("dev")

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        ids, mask = pad_ids([train_ids[i] for i in idx], pad)
        logits = model(input_ids=placement.to(ids), attention_mask=placement.to(mask)).logits  # (B, sum_a N_a)
        return F.cross_entropy(aspect_rows(logits, row_index), train_y[idx].reshape(-1))

    def evaluate():
        logits = batched_logits(hf_forward(model), dev_ids, pad, batch_size=128, placement=placement)
        return kind.evaluate(logits, dev_y, data.labels)

    return [len(s) for s in train_ids], loss_fn, evaluate
