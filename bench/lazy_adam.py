"""Training-step time of the SST-2 example's BiLSTM and CNN students under Adam and lazy Adam, one core.

The students of examples/sst2-transfer.yaml (tuned 30,522 x 300 WordPiece table, BiLSTM 150 units per direction /
Kim CNN 3-4-5 x 100) take the same batches of 50 real texts (SST-2 training phrases and IMDB sentences, shuffled,
in length buckets as the training loop makes them). One step is what the loop does: forward, logit MSE against
fixed targets, zero_grad, backward, clipping at 1.0, optimizer step. After a warm-up, rounds alternate between
the optimizers, so each ratio (Adam ms / lazy Adam ms per step) comes from one process on one pinned core; the
median over rounds is reported. Writes bench/results/lazy_adam.json.

    TASKDISTIL_DATA=../shared/data python bench/lazy_adam.py [--steps 40] [--rounds 5]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch loads

import argparse  # noqa: E402
import csv  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import TrainConfig  # noqa: E402
from taskdistil.io import write_json  # noqa: E402
from taskdistil.students.registry import build_student  # noqa: E402
from taskdistil.students.tokenizer import WordPieceTokenizer  # noqa: E402
from taskdistil.train.batching import LengthBuckets, pad_ids  # noqa: E402
from taskdistil.train.lazy_adam import clip_grad_norm  # noqa: E402
from taskdistil.train.loop import build_optimizer  # noqa: E402

STUDENTS = {  # the example's students (examples/sst2-transfer.yaml)
    "bilstm": dict(embedding_dim=300, embedding_mode="tuned", hidden_size=150, fc_dim=200, pooling="last"),
    "cnn": dict(embedding_dim=300, embedding_mode="tuned", dropout=0.5),
}
OPTIMIZERS = ("adam", "lazyadam")


def texts(data_dir: Path, n: int, seed: int) -> list[str]:
    """n texts, half SST-2 training phrases and half IMDB sentences (3-50 words), in a seeded order."""
    with (data_dir / "sst2" / "train.tsv").open(encoding="utf-8", newline="") as fh:
        phrases = [row["sentence"] for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]
    sentences = []
    with (data_dir / "imdb-unlabeled" / "unsup.txt").open(encoding="utf-8") as fh:
        for line in fh:
            for sentence in line.replace("<br />", " ").split(". "):
                if 3 <= len(sentence.split()) <= 50:
                    sentences.append(sentence)
            if len(sentences) >= n:
                break
    rng = np.random.default_rng(seed)
    chosen = [phrases[i] for i in rng.choice(len(phrases), n // 2, replace=False)] + sentences[: n - n // 2]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def one_core() -> str:
    torch.set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "unpinned (no sched_setaffinity)"


class Trainer:
    """One student and its optimizer, stepping through a fixed list of batches."""

    def __init__(self, kind: str, optimizer: str, vocab_size: int, batches: list, targets: torch.Tensor):
        torch.manual_seed(0)
        self.model = build_student(kind, vocab_size=vocab_size, num_labels=2, **STUDENTS[kind])
        self.model.train()
        self.optimizer = build_optimizer(self.model, TrainConfig(optimizer=optimizer, learning_rate=1e-3))
        self.batches, self.targets, self.position = batches, targets, 0

    def steps(self, n: int) -> float:
        """Seconds for n steps."""
        start = time.perf_counter()
        for _ in range(n):
            (ids, mask), rows = self.batches[self.position % len(self.batches)]
            self.position += 1
            loss = torch.nn.functional.mse_loss(self.model(ids, mask).logits, self.targets[rows])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm(self.model.parameters(), 1.0)
            self.optimizer.step()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TASKDISTIL_DATA",
                                                                             REPO.parent / "shared" / "data")))
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per optimizer and round")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "lazy_adam.json")
    args = parser.parse_args()

    core = one_core()
    from transformers import AutoTokenizer

    from taskdistil.teacher.model import resolve_checkpoint

    tokenizer = WordPieceTokenizer.from_teacher(AutoTokenizer.from_pretrained(resolve_checkpoint("embedded:minilm-l6")),
                                                128)
    sample = texts(args.data_dir, args.texts, seed=0)
    ids = tokenizer.encode(sample, "truncate")
    buckets = LengthBuckets([len(x) for x in ids], 50, seed=0).epoch(0)
    batches = [(pad_ids([ids[i] for i in rows], tokenizer.pad_id), torch.as_tensor(rows)) for rows in buckets]
    targets = torch.randn(len(ids), 2, generator=torch.Generator().manual_seed(0)) * 3

    result = {"core": core, "texts": len(ids), "mean_tokens": round(float(np.mean([len(x) for x in ids])), 1),
              "batch_size": 50, "steps_per_round": args.steps, "rounds": args.rounds, "warmup": args.warmup,
              "vocab_size": tokenizer.vocab_size, "students": {}}
    for kind in STUDENTS:
        trainers = {name: Trainer(kind, name, tokenizer.vocab_size, batches, targets) for name in OPTIMIZERS}
        for trainer in trainers.values():
            trainer.steps(args.warmup)
        ms: dict[str, list[float]] = {name: [] for name in OPTIMIZERS}
        ratios = []
        for _ in range(args.rounds):
            for name, trainer in trainers.items():
                trainer.position = 0  # the same batches for both, every round
                ms[name].append(trainer.steps(args.steps) / args.steps * 1000)
            ratios.append(ms["adam"][-1] / ms["lazyadam"][-1])
        result["students"][kind] = {
            "ms_per_step_median": {name: round(statistics.median(v), 2) for name, v in ms.items()},
            "speedup_median": round(statistics.median(ratios), 2),
            "speedup_per_round": [round(r, 2) for r in ratios]}
        print(kind, result["students"][kind], file=sys.stderr, flush=True)
    result["command"] = "python bench/lazy_adam.py " + " ".join(sys.argv[1:])
    write_json(args.out, result)


if __name__ == "__main__":
    main()
