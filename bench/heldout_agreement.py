"""Agreement with the teacher on unlabeled sentences the students never saw: a label-free quality probe.

SST-2's dev set holds phrases and its test set full sentences, and selection on the phrases can rank
students against their test order (BENCHMARKS.md). The unlabeled sources of a run's config hold far
more sentences than its transfer set samples; the ones left out are drawn like the transfer set's
sentences but unseen in training. This script samples ``--examples`` of them (seeded), has the
teacher predict them, and reports for each student model directory the fraction of sentences where
the student predicts the teacher's label. No gold label is read.

    TASKDISTIL_DATA=../shared/data python bench/heldout_agreement.py examples/sst2-transfer.yaml \
        runs/sst2-transfer/students/bilstm-s1/model runs/sst2-transfer/students/cnn-s1/model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import Run  # noqa: E402
from taskdistil.transfer.build import text_key  # noqa: E402
from taskdistil.transfer.sources import read_unlabeled  # noqa: E402
from taskdistil.transfer.store import TransferSet  # noqa: E402

RESULTS = REPO / "bench" / "results" / "heldout_agreement.json"


def held_out_sentences(config, run: Run, count: int, seed: int) -> list[str]:
    """``count`` sentences of the config's unlabeled sources that its transfer set does not hold."""
    seen = {text_key(text) for text in TransferSet(run.transfer_dir).texts()}  # the builder's duplicate test
    rest: list[str] = []
    for source in config.transfer.unlabeled:
        for text, _ in read_unlabeled(source, config.data_source(source.path)):
            key = text_key(text)
            if key not in seen:
                seen.add(key)
                rest.append(text)
    if len(rest) < count:
        raise SystemExit(f"only {len(rest)} unlabeled sentences are outside the transfer set; asked for {count}")
    picked = np.random.default_rng(seed).choice(len(rest), count, replace=False)
    return [rest[i] for i in sorted(picked)]


def main() -> None:
    import taskdistil

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("models", nargs="+", type=Path, help="student model directories")
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    run = Run(config)
    texts = held_out_sentences(config, run, args.examples, args.seed)
    teacher = taskdistil.load(run.teacher_model_dir).predict(texts)
    results = read_json(args.out) if args.out.is_file() else {}
    for model in args.models:
        predicted = taskdistil.load(model).predict(texts)
        agreement = float(np.mean([p == t for p, t in zip(predicted, teacher)]))
        results[str(model)] = {"agreement": round(agreement, 4), "examples": len(texts), "seed": args.seed,
                               "config": str(args.config)}
        print(f"{model}: {agreement:.4f} agreement with the teacher on {len(texts)} held-out sentences", flush=True)
    write_json(args.out, results)


if __name__ == "__main__":
    main()
