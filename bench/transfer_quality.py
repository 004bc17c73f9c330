"""Which transfer-set ingredient buys how much: SST-2 students over 4 transfer sets, several seeds each.

Variants of examples/sst2-transfer.yaml (its adopted teacher, its students, one run directory each):

    train       the 60,614 labeled training phrases only
    unlabeled   + 150,000 IMDB sentences (the example config itself)
    augment     + 150,000 Tang et al. augmentations of the training phrases (mask / POS / n-gram, n_iter 20)
    both        + 75,000 IMDB sentences + 75,000 augmentations (the same size as the two above)

Students train for about the same number of examples in every variant (10 epochs of the
training set, 3 of the 210k sets). Stages run through the CLI
(`python -m taskdistil ...`): teacher, transfer and annotate on all cores, then the students
two at a time, one thread each. Test accuracy (SST-2 test = GLUE dev, 872 sentences) of each
student is computed from its saved artifact; mean and population std over seeds per kind. Results merge
into bench/results/transfer.json (``quality``; headline keys from ``--headline``).

    TASKDISTIL_DATA=../shared/data python bench/transfer_quality.py --variants train unlabeled augment both
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "transfer.json"
BASE = REPO / "examples" / "sst2-transfer.yaml"
# Epochs per variant: about the same number of training examples seen (~600k) whatever the set's size.
EPOCHS = {"train": 10, "unlabeled": 3, "augment": 3, "both": 3}
AUGMENT = {"n_iter": 20, "p_mask": 0.1, "p_pos": 0.1, "p_ng": 0.25, "pos": "spacy", "max_examples": 150000}


def variant_config(base: dict, variant: str, seeds: list[int], kinds: list[str]) -> dict:
    tree = copy.deepcopy(base)
    unlabeled = tree["transfer"]["unlabeled"]
    half = [{**source, "max_examples": source["max_examples"] // 2} for source in unlabeled]
    tree["transfer"] = {
        "train": {}, "unlabeled": {"unlabeled": unlabeled}, "augment": {"augment": AUGMENT},
        "both": {"unlabeled": half, "augment": {**AUGMENT, "max_examples": AUGMENT["max_examples"] // 2}}}[variant]
    if variant != "unlabeled":
        tree["name"] = f"{base['name']}-{variant}"
    tree["students"] = [s for s in tree["students"] if s["kind"] in kinds and s["seed"] in seeds]
    for student in tree["students"]:
        student["train"] = {**student["train"], "epochs": EPOCHS[variant]}
    return tree


def cli(*args: str, threads: int, log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with log.open("a") as fh:
        done = subprocess.run([sys.executable, "-m", "taskdistil", *args], stdout=fh, stderr=subprocess.STDOUT,
                              env=env, check=False, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"`taskdistil {' '.join(args)}` failed (rc {done.returncode}); see {log}")


def test_accuracy(model_dir: Path, texts: list[str], gold: list[str]) -> float:
    import taskdistil

    predicted = taskdistil.load(model_dir).predict(texts)
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


def prepare(tree: dict, log_dir: Path) -> tuple[Path, float]:
    """Write the variant's config beside its run dir and run teacher, transfer and annotate on all cores;
    returns (config path, minutes taken)."""
    run_dir = REPO / tree["run_dir"].replace("${name}", tree["name"])
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir.parent / f"{tree['name']}.bench.yaml"
    config_path.write_text(yaml.safe_dump(tree, sort_keys=False))
    t0 = time.perf_counter()
    for stage in ("teacher", "transfer", "annotate"):
        cli(stage, str(config_path), threads=os.cpu_count() or 1, log=log_dir / f"{tree['name']}.log")
    return config_path, (time.perf_counter() - t0) / 60


def score(config_path: Path, tree: dict) -> dict:
    """Test accuracy of the teacher and each student; mean and population std over seeds per kind."""
    from taskdistil.config import load_config
    from taskdistil.pipeline import Run
    from taskdistil.tasks import load_task_data

    config = load_config(config_path)
    run = Run(config)
    data = load_task_data(config)
    gold = data.test.labels
    result = {"run_dir": str(run.dir.relative_to(REPO)), "transfer": read_json(run.transfer_dir / "summary.json")
              ["by_origin"], "teacher": round(test_accuracy(run.teacher_model_dir, data.test.texts, gold), 4),
              "students": {}, "test_examples": len(gold)}
    for student in tree["students"]:
        acc = test_accuracy(run.student_model_dir(student["name"]), data.test.texts, gold)
        result["students"].setdefault(student["kind"], {})[str(student["seed"])] = round(acc, 4)
    for kind, by_seed in result["students"].items():
        values = list(by_seed.values())
        result["students"][kind] = {"mean": round(statistics.fmean(values), 4),
                                    "std": round(statistics.pstdev(values), 4), "seeds": by_seed}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["train", "unlabeled", "augment", "both"],
                        choices=["train", "unlabeled", "augment", "both"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--kinds", nargs="+", default=["bilstm", "cnn"])
    parser.add_argument("--workers", type=int, default=2, help="students trained at once (one thread each)")
    parser.add_argument("--headline", default="unlabeled", help="the variant of the headline keys")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    base = yaml.safe_load(BASE.read_text())
    log_dir = REPO / "runs" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    merged = read_json(args.out) if args.out.is_file() else {}
    quality = merged.setdefault("quality", {})
    trees = {v: variant_config(base, v, args.seeds, args.kinds) for v in args.variants}
    prepared = {}
    for variant, tree in trees.items():  # teacher, transfer set and annotation: one variant at a time
        print(f"variant {variant}: preparing ...", file=sys.stderr, flush=True)
        prepared[variant] = prepare(tree, log_dir)
    jobs = [(variant, s["name"]) for variant, tree in trees.items() for s in tree["students"]]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:  # every student of every variant, one process, one thread each
        list(pool.map(lambda job: cli("distill", str(prepared[job[0]][0]), "--student", job[1], threads=1,
                                      log=log_dir / f"{trees[job[0]]['name']}-{job[1]}.log"), jobs))
    for variant, tree in trees.items():
        quality[variant] = {**score(prepared[variant][0], tree),
                            "minutes_to_prepare": round(prepared[variant][1], 1),
                            "minutes_students_all_variants": round((time.perf_counter() - t0) / 60, 1)}
        print(f"variant {variant}: {quality[variant]}", file=sys.stderr, flush=True)
    write_json(args.out, merged)
    headline = quality.get(args.headline)
    if headline:
        merged["sst2_teacher_acc"] = headline["teacher"]
        merged["sst2_student_acc"] = headline["students"].get("bilstm", {}).get("mean")
        merged["sst2_cnn_acc"] = headline["students"].get("cnn", {}).get("mean")
        merged["sst2_headline_variant"] = args.headline
        merged["quality_command"] = "python bench/transfer_quality.py " + " ".join(sys.argv[1:])
    write_json(args.out, merged)


if __name__ == "__main__":
    main()
