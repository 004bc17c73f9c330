"""A BERT-base-sized reference encoder (``BertConfig()`` defaults: 12 layers, hidden 768, 110M
parameters) with random weights, saved as a teacher directory with the teacher's tokenizer.

The papers distil BERT-base teachers; timing one on the same inputs makes speed-ups
comparable to theirs. Speed does not depend on weight values, so no download is needed.
Its quality is meaningless and never reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from taskdistil.io import read_json


def build_reference(teacher_dir: Path, out_dir: Path, labels: Sequence[str]) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from taskdistil.hf_checkpoint import quiet_transformers
    from taskdistil.model_files import TEACHER_META
    from taskdistil.teacher.model import save_teacher

    out_dir = Path(out_dir)
    if (out_dir / TEACHER_META).is_file():
        return out_dir
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    meta = read_json(Path(teacher_dir) / TEACHER_META)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), num_labels=len(labels))
    model = BertForSequenceClassification(config).eval()
    tmp = out_dir.with_name(out_dir.name + ".partial")
    save_teacher(model, tokenizer, tmp, labels, meta["max_length"], origin="random BertConfig() weights (speed "
                 "reference)", task=meta.get("task", "single_sentence"))
    tmp.rename(out_dir)
    return out_dir
