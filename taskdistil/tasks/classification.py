"""Classification of single sentences or sentence pairs: splits, label ids, metrics (accuracy primary, macro-F1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from taskdistil.config import RunConfig
from taskdistil.data import LabelMap, Split, read_split
from taskdistil.train.loop import Evaluation

PRIMARY_METRIC = "accuracy"


@dataclass
class TaskData:
    labels: LabelMap
    train: Split
    dev: Split
    test: Split

    def label_ids(self, split: str) -> np.ndarray:
        return np.asarray(self.labels.ids(getattr(self, split)), dtype=np.int64)


def load_task_data(config: RunConfig) -> TaskData:
    """Read all three splits and check every dev/test label against the training label map."""
    d = config.data
    splits = {}
    for name, hf_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        splits[name] = read_split(config.data_path(name), d.text_column, d.label_column, d.format, d.header,
                                  default_hf_split=hf_split, text_b_column=d.text_b_column)
    labels = LabelMap.from_split(splits["train"])
    data = TaskData(labels, **splits)
    for name in ("train", "dev", "test"):
        labels.ids(splits[name])  # raises on an unseen label, naming file and line
    return data


def classification_metrics(logits: np.ndarray, gold: np.ndarray) -> Evaluation:
    """Accuracy (primary) and macro-F1 over the classes present in gold or predictions."""
    pred = np.asarray(logits).argmax(-1)
    gold = np.asarray(gold)
    accuracy = float((pred == gold).mean()) if len(gold) else 0.0
    f1s = []
    for c in np.union1d(pred, gold):
        tp = float(((pred == c) & (gold == c)).sum())
        fp = float(((pred == c) & (gold != c)).sum())
        fn = float(((pred != c) & (gold == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return Evaluation({"accuracy": accuracy, "macro_f1": float(np.mean(f1s)) if f1s else 0.0}, PRIMARY_METRIC)
