"""The teacher of word-level task kinds (token tagging, question tagging): a token-classification head read through
the word alignment of the kind's ``encode_words`` (``taskdistil.tasks.words``: the first sub-token of a word carries
its label; the others, and a question's words, are ignored, label -100), with over-long sentences (passages) split
into overlapping windows and rejoined (counted in the log).

``word_objective``: fine-tuning (cross-entropy over the first sub-tokens of the words of each window);
``word_rows``: one annotation shard's rows (the words' logits, flat, with per-example offsets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from taskdistil.errors import ArtifactError
from taskdistil.progress import log
from taskdistil.tasks import task_kind
from taskdistil.tasks.words import WordEncoding
from taskdistil.teacher.model import hf_forward, pair_aware, pair_separator
from taskdistil.train.batching import pad_ids
from taskdistil.word_inference import word_logits

IGNORE = -100  # the label of sub-tokens that are not a word's first


def backend_of(tokenizer):
    """A copy of a Hugging Face fast tokenizer's ``tokenizers`` backend, without truncation or padding."""
    from tokenizers import Tokenizer

    if not getattr(tokenizer, "is_fast", False):
        raise ArtifactError("token tagging needs a fast (tokenizer.json) teacher tokenizer: words are aligned "
                            "to sub-tokens through it")
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def encode_teacher_words(tokenizer, sentences: Sequence, max_length: int, overlap_words: int, what: str,
                         task: str) -> WordEncoding:
    """The teacher's windows of ``sentences`` (a word-level kind's inputs, encoded by the kind of ``task``)."""
    encoding = task_kind(task).encode_words(backend_of(tokenizer), sentences, max_length, overlap_words)
    if encoding.eventful():
        log(f"[teacher] {what}: {encoding.summary()} (max_length {max_length} sub-tokens)")
    return encoding


def word_objective(config, data, model, tokenizer, placement=None):
    """(training lengths, loss of a batch of training windows, dev evaluation) of a token-classification head."""
    tcfg, overlap = config.teacher, config.data.window_overlap
    kind = task_kind(config.data.task)
    pad = tokenizer.pad_token_id or 0
    task = config.data.task
    train = encode_teacher_words(tokenizer, data.inputs("train"), tcfg.max_length, overlap, "training split", task)
    dev = encode_teacher_words(tokenizer, data.inputs("dev"), tcfg.max_length, overlap, "dev split", task)
    forward_model = pair_aware(model, pair_separator(model, tokenizer, task))  # token types for question + passage
    gold, dev_gold = data.gold("train"), data.gold("dev")
    targets = []
    for piece in train.pieces:
        labels = np.full(len(piece.ids), IGNORE, dtype=np.int64)
        labels[piece.positions] = gold[piece.sentence][piece.start:piece.end]
        targets.append(labels)

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        ids, mask = pad_ids([train.pieces[i].ids for i in idx], pad)
        labels = torch.full(ids.shape, IGNORE, dtype=torch.long)
        for row, i in enumerate(idx):
            labels[row, : len(targets[i])] = torch.from_numpy(targets[i])
        to = placement.to if placement is not None else (lambda t: t)
        logits = forward_model(input_ids=to(ids), attention_mask=to(mask)).logits  # (B, T, C)
        return F.cross_entropy(logits.flatten(0, 1), to(labels).flatten(), ignore_index=IGNORE)

    def evaluate():
        outputs = word_logits(hf_forward(forward_model), dev, pad, batch_size=128, placement=placement)
        return kind.evaluate(outputs, dev_gold, data.labels)

    return [len(p.ids) for p in train.pieces], loss_fn, evaluate


def word_rows(teacher, batch_size: int, layers: Sequence, overlap_words: int, placement=None, max_tokens=None):
    """A shard's sentences -> {"logits": (words, C) float32, "offsets": (n + 1,) int64}."""
    if layers:
        raise ArtifactError("teacher hidden states (Patient KD, representation stages) are not stored for "
                            "word-level tasks")
    forward = hf_forward(teacher.forward_model)

    def rows(sentences: Sequence[Sequence[str]], too_long, where) -> dict[str, np.ndarray]:
        encoding = encode_teacher_words(teacher.tokenizer, sentences, teacher.max_length, overlap_words,
                                        "annotation shard", teacher.task)
        outputs = word_logits(forward, encoding, teacher.pad_id, batch_size, placement=placement)
        offsets = np.zeros(len(outputs) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(o) for o in outputs])
        flat = np.concatenate(outputs) if outputs else np.zeros((0, len(teacher.labels)), np.float32)
        return {"logits": np.ascontiguousarray(flat, dtype=np.float32), "offsets": offsets}

    return rows
