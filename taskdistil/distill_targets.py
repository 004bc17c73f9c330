"""What a student learns from, per task-kind unit: its training inputs, the rows its logits are compared on, the
teacher's cached rows and the gold labels for them, and its dev evaluation (``taskdistil.distill`` runs the same
objectives over any of them).

- ``ExampleTargets``: one row per transfer example (classification): the student's logits (B, C) as they are.
- ``WordTargets``: one row per word (token tagging): the student reads a sentence's sub-words (the teacher's
  WordPiece, or an hf student's own) and its per-token logits (B, T, C) are taken at the first sub-token of each
  word (``taskdistil.tasks.words``): (words in the batch, C), against the teacher's word logits and gold tags; the
  losses are the classification ones over these rows (every word one row: padding and non-first sub-tokens
  masked out by never being gathered). A student without a position limit (bilstm, cnn) reads whole sentences; one
  with position embeddings (transformer, hf: its tokenizer's ``windows``) reads a sentence longer than its
  ``max_length`` in the teacher's overlapping windows (``data.window_overlap`` words shared), all windows of a
  sentence in its batch, each word taken from the one window that keeps it.
- ``AspectTargets``: one row per aspect of a transfer example (multi-aspect classification): the student's
  (B, sum_a N_a) logits read as B*A rows of each aspect's slice (``taskdistil.teacher.aspects.aspect_rows``,
  padded to the widest label set), against the teacher's rows and the gold label of each aspect; the losses are the
  classification ones over these rows, L = (1/A) sum_a loss_a (``taskdistil.tasks.multi_aspect``).

Logit columns follow the teacher's label order (an adopted checkpoint may have its own); evaluation reorders them
to the task's.
"""

from __future__ import annotations

import numpy as np
import torch

from taskdistil.errors import ConfigError, StageError
from taskdistil.evaluation import Evaluation
from taskdistil.inference import batched_logits
from taskdistil.progress import log
from taskdistil.students.tokenizer import WordPieceTokenizer
from taskdistil.tasks.tagging_crf import decode
from taskdistil.teacher.aspects import aspect_rows
from taskdistil.train.batching import example_length, pad_ids
from taskdistil.word_inference import word_logits


class ExampleTargets:
    def __init__(self, kind, data, teacher_labels, transfer, texts, tokenizer, store, too_long: str, placement):
        self.kind, self.data, self.tokenizer, self.store, self.placement = kind, data, tokenizer, store, placement
        self.train_ids = tokenizer.encode(texts, transfer.too_long(too_long), transfer.where)
        self.dev_ids = tokenizer.encode(data.dev.texts, too_long, data.dev.where)
        to_teacher = np.asarray([teacher_labels.index(label) for label in data.labels.labels])
        train_labels = data.label_ids("train")
        labeled = np.asarray(transfer.labeled_rows)  # training-split row of each transfer example, -1: not labeled
        self.gold_rows = placement.to(torch.as_tensor(np.where(labeled >= 0,
                                                               to_teacher[train_labels[np.maximum(labeled, 0)]], -1)))
        self.dev_gold = to_teacher[data.label_ids("dev")]
        self.lengths = [example_length(s) for s in self.train_ids]

    def inputs(self, idx: np.ndarray):
        return tuple(map(self.placement.to, pad_ids([self.train_ids[i] for i in idx], self.tokenizer.pad_id)))

    def rows(self, logits: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return logits  # (B, C)

    def teacher(self, idx: np.ndarray) -> torch.Tensor:
        return self.placement.to(torch.from_numpy(self.store[idx]))

    def gold(self, idx: np.ndarray) -> torch.Tensor:
        return self.gold_rows[idx]

    def evaluate(self, model) -> Evaluation:
        logits = batched_logits(lambda ids, mask: model(ids, mask).logits, self.dev_ids, self.tokenizer.pad_id, 512,
                                placement=self.placement)
        return self.kind.evaluate(logits, self.dev_gold, self.data.labels)


class WordTargets:
    def __init__(self, kind, data, teacher_labels, transfer, texts, tokenizer, store, too_long: str, placement):
        if not isinstance(tokenizer, WordPieceTokenizer):
            raise ConfigError(f"task {kind.name!r}: students read words as sub-words (tokenizer: wordpiece, or an "
                              "hf student's own), first sub-token per word")
        self.kind, self.data, self.tokenizer, self.store, self.placement = kind, data, tokenizer, store, placement
        window = tokenizer.max_length if tokenizer.windows else None  # None: whole sentences
        self.train = kind.encode_words(tokenizer.backend, texts, window, data.window_overlap)  # in transfer order
        self.dev = kind.encode_words(tokenizer.backend, data.inputs("dev"), window, data.window_overlap)
        if self.train.windowed or self.train.cut_words:
            log(f"[distill] transfer set: {self.train.summary()} (max_length {window} sub-tokens)")
        stored = store.word_counts()
        if not np.array_equal(stored, np.asarray(self.train.words)):
            raise StageError("the annotations' words per sentence differ from the transfer set's; rerun "
                             "`taskdistil annotate`")
        self.to_teacher = np.asarray([teacher_labels.index(label) for label in data.labels.labels])
        train_gold = data.gold("train")
        self.gold_words = [self.to_teacher[train_gold[row]] if row >= 0 else np.full(n, -1, np.int64)
                           for row, n in zip(np.asarray(transfer.labeled_rows), self.train.words)]
        self.dev_gold = data.gold("dev")
        pieces = self.train.pieces
        self.lengths = [max(len(pieces[p].ids) for p in ps) for ps in self.train.by_sentence]  # the widest window

    def _pieces(self, idx: np.ndarray) -> list:
        """The windows of the sentences ``idx``, in order (one per sentence unless it is read in windows)."""
        return [self.train.pieces[p] for i in idx for p in self.train.by_sentence[i]]

    def inputs(self, idx: np.ndarray):
        return tuple(map(self.placement.to, pad_ids([p.ids for p in self._pieces(idx)], self.tokenizer.pad_id)))

    def rows(self, logits: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        """(windows, T, C) per-token logits -> (words of the batch, C) at each word's first sub-token in the window
        that keeps it (the sentences' words in order)."""
        kept = [p.positions[p.keep_start - p.start:p.keep_end - p.start] for p in self._pieces(idx)]
        batch = np.concatenate([np.full(len(k), row) for row, k in enumerate(kept)])
        position = np.concatenate(kept)
        return logits[torch.from_numpy(batch).to(logits.device), torch.from_numpy(position).to(logits.device)]

    def teacher(self, idx: np.ndarray) -> torch.Tensor:
        return self.placement.to(torch.from_numpy(np.concatenate(self.store.words(idx))))

    def gold(self, idx: np.ndarray) -> torch.Tensor:
        return self.placement.to(torch.from_numpy(np.concatenate([self.gold_words[i] for i in idx])))

    def evaluate(self, model) -> Evaluation:
        outputs = word_logits(lambda ids, mask: model(ids, mask).logits, self.dev, self.tokenizer.pad_id, 512,
                              placement=self.placement)
        if getattr(model, "crf", None) is not None:  # a CRF tagger: its Viterbi paths (one-hot rows)
            outputs = decode(outputs, model.crf.decoding())
        return self.kind.evaluate([o[:, self.to_teacher] for o in outputs], self.dev_gold, self.data.labels)


class AspectTargets(ExampleTargets):
    def __init__(self, kind, data, teacher_labels, transfer, texts, tokenizer, store, too_long: str, placement):
        self.kind, self.data, self.tokenizer, self.store, self.placement = kind, data, tokenizer, store, placement
        self.train_ids = tokenizer.encode(texts, transfer.too_long(too_long), transfer.where)
        self.dev_ids = tokenizer.encode(data.dev.texts, too_long, data.dev.where)
        self.row_index = placement.to(torch.as_tensor(data.labels.row_index(teacher_labels)))  # teacher's columns
        self.to_task = [teacher_labels.index(name) for name in data.labels.labels]
        train_gold = data.gold("train")  # (N, A)
        labeled = np.asarray(transfer.labeled_rows)
        gold = np.where((labeled >= 0)[:, None], train_gold[np.maximum(labeled, 0)], -1)
        self.gold_rows = placement.to(torch.as_tensor(gold))  # (N_transfer, A), -1: not labeled
        self.dev_gold = data.gold("dev")
        self.lengths = [example_length(s) for s in self.train_ids]

    def rows(self, logits: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return aspect_rows(logits, self.row_index)  # (B*A, K)

    def teacher(self, idx: np.ndarray) -> torch.Tensor:
        return aspect_rows(super().teacher(idx), self.row_index)

    def gold(self, idx: np.ndarray) -> torch.Tensor:
        return self.gold_rows[idx].reshape(-1)

    def evaluate(self, model) -> Evaluation:
        logits = batched_logits(lambda ids, mask: model(ids, mask).logits, self.dev_ids, self.tokenizer.pad_id, 512,
                                placement=self.placement)
        return self.kind.evaluate(logits[:, self.to_task], self.dev_gold, self.data.labels)


TARGETS = {"example": ExampleTargets, "word": WordTargets, "aspect": AspectTargets}  # by the task kind's unit
