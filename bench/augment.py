"""Tang et al. (2019) augmentation speed on one core, POS tagging excluded.

Tags SST-2 train with spaCy (the vocabulary of replacements is built from all of it), then times
``Augmenter`` over the first --parents sentences x n_iter copies after a warm-up, per-example generators
included. Prints JSON and merges ``augment_per_s`` (augmented examples kept after dedup, per second) and
``augment_settings`` into bench/results/transfer.json.

    python bench/augment.py [--data-dir ../shared/data] [--parents 5000] [--n-iter 20]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import AugmentConfig  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.transfer.augment import Augmenter, example_rng  # noqa: E402
from taskdistil.transfer.pos import PosVocabulary, spacy_tagger  # noqa: E402


def one_core() -> str:
    """Pin this process (and torch, if loaded) to one CPU; returns a description."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "unpinned (no sched_setaffinity)"


def read_sentences(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["sentence"] for row in rows]


def run(augmenter: Augmenter, tagged: list, seed: int) -> int:
    """Augmented examples produced (after dedup) for the given parents."""
    return sum(len(augmenter.augment(t, example_rng(seed, t.text))) for t in tagged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--parents", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--n-iter", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best counts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "transfer.json"))
    args = parser.parse_args()

    core = one_core()
    config = AugmentConfig(n_iter=args.n_iter)
    texts = read_sentences(Path(args.data_dir) / "sst2" / "train.tsv")
    start = time.perf_counter()
    tagged = spacy_tagger(config.spacy_model).tag(texts, desc="POS tagging SST-2 train")
    tag_seconds = time.perf_counter() - start
    augmenter = Augmenter(PosVocabulary.from_tagged(tagged), config)

    run(augmenter, tagged[-args.warmup:], args.seed)
    parents = tagged[: args.parents]
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        made = run(augmenter, parents, args.seed)
        timings.append(time.perf_counter() - start)
    seconds = min(timings)

    settings = {
        "parents": len(parents), "n_iter": config.n_iter, "p_mask": config.p_mask, "p_pos": config.p_pos,
        "p_ng": config.p_ng, "ngram_max": config.ngram_max, "pos": f"spacy:{config.spacy_model}",
        "vocabulary_from": f"sst2/train.tsv ({len(texts)} sentences)", "copies_kept": made,
        "copies_tried": len(parents) * config.n_iter, "seconds": round(seconds, 3),
        "repeats": args.repeats, "warmup_parents": args.warmup, "tagging_excluded": True,
        "tagging_texts_per_s": round(len(set(texts)) / tag_seconds, 1), "core": core,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                 text=True).stdout.strip(),
        "command": "python bench/augment.py",
    }
    result = {"augment_per_s": round(made / seconds, 1), "augment_settings": settings}
    out = Path(args.out)
    merged = read_json(out) if out.is_file() else {}
    merged.update(result)
    write_json(out, merged)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
