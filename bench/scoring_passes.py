"""Milliseconds per text of each way the exam can score one model: alone (batch 1), in length-bucketed batches, and
(int8) alone in parts side by side; what bounds the exam's quality pass (``taskdistil.exam.scoring``).

    python bench/scoring_passes.py RUN_DIR/export/teacher/model TEST.tsv --examples 1000 --threads 1 2

One process; each pass scores the same first ``--examples`` texts of the file (first column) after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from taskdistil.artifact import load


def ms_per_text(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return round(1000 * (time.perf_counter() - t0) / n, 2)


def passes(model: Path, texts: list[str], threads: int, batch_sizes: list[int]) -> dict:
    torch.set_num_threads(threads)
    out = {}
    for runtime in ("torch", "onnx", "onnx-int8"):
        predictor = load(model) if runtime == "torch" else load(model, runtime, threads=threads)
        encoded = predictor.encode(texts)
        predictor.outputs(encoded[:20], 1)  # warm-up
        row = {f"batch {bs}": ms_per_text(lambda: predictor.outputs(encoded, bs), len(encoded)) for bs in batch_sizes}
        if runtime == "onnx-int8" and threads > 1:
            sessions = [load(model, runtime, threads=1) for _ in range(threads)]
            bounds = [len(encoded) * i // threads for i in range(threads + 1)]

            def side_by_side():
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(lambda i: sessions[i].outputs(encoded[bounds[i]:bounds[i + 1]], 1), range(threads)))

            row[f"batch 1, {threads} one-thread parts side by side"] = ms_per_text(side_by_side, len(encoded))
        out[runtime] = row
        print(threads, runtime, row, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    texts = [line.split("\t")[0] for line in args.test.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = texts[:args.examples]
    results = {"model": str(args.model), "examples": len(texts),
               "ms_per_text": {str(t): passes(args.model, texts, t, args.batch_sizes) for t in args.threads}}
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
