"""Which transfer-set ingredient buys how much: SST-2 BiLSTM and CNN students, several seeds.

Four measurements, all from examples/sst2-transfer.yaml (its adopted teacher and its students):

    headline   the example config itself: the 60,614 training phrases + 150,000 IMDB sentences;
               BiLSTM (3 epochs) and CNN (2 epochs), both with tuned embeddings, seeds 1-3
               (``--variants unlabeled``)
    gold       the headline's students with a = GOLD_WEIGHT (0.2) of cross-entropy on the training phrases' gold
               labels beside the logit MSE (``--variants gold``; same run and annotation as the headline)
    both       the example + Tang et al.'s augmentation (n_iter 20) of every training phrase: 971,939
               examples; students train 2 epochs (``--variants both``; ``--kinds bilstm-augmented`` adds
               BiLSTMs on the phrases and their augmentations alone)
    ablation   ONE annotated transfer set (training phrases + 40,000 IMDB sentences + 40,000 Tang et al.
               augmentations of the phrases) and BiLSTM students that train on chosen origins of it
               (``transfer_origins``): labeled only / + unlabeled / + augmented / all; each sees 100-140k
               examples (2 epochs of the phrases, 1 of the 100k subsets, 1 of the 140k set); their
               embeddings stay frozen, as when the recorded ablation was measured

Stages run through the CLI (`python -m taskdistil ...`): teacher, transfer and annotate, then the
students one after the other on all cores (on 2 cores, faster than two at a time on one core
each). Test accuracy (SST-2 test = GLUE dev, 872 sentences) of each student is computed from its
saved artifact; mean and population std over seeds. Results merge into
bench/results/transfer.json (``quality``; headline keys ``sst2_teacher_acc``, ``sst2_student_acc``).

    TASKDISTIL_DATA=../shared/data python bench/transfer_quality.py --variants unlabeled
    TASKDISTIL_DATA=../shared/data python bench/transfer_quality.py --variants ablation --seeds 1
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cli, recipe_name  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "transfer.json"
BASE = REPO / "examples" / "sst2-transfer.yaml"
# The ablation's students: (transfer origins, epochs), about 240k examples seen each.
ABLATION = {"train": (["labeled"], 2), "unlabeled": (["labeled", "unlabeled"], 1),
            "augmented": (["labeled", "augmented"], 1), "both": (["labeled", "unlabeled", "augmented"], 1)}
ABLATION_EXTRA = 40000  # IMDB sentences, and augmentations, in the ablation's transfer set
AUGMENT = {"n_iter": 20, "p_mask": 0.1, "p_pos": 0.1, "p_ng": 0.25, "pos": "spacy"}
BOTH_EPOCHS = 2  # the both variant's students: its transfer set is 4.6x the example's, so 2 epochs see 3x more
AUGMENTED_ONLY = "bilstm-augmented"  # the both variant's BiLSTMs on the phrases and their augmentations alone
GOLD_WEIGHT = 0.2  # the gold variant's a in L = a * CE(y, z_s) + (1 - a) * MSE(z_t, z_s), labeled rows only


def variant_config(base: dict, variant: str, seeds: list[int], kinds: list[str]) -> dict:
    tree = copy.deepcopy(base)
    chosen = [s for s in tree["students"] if s["seed"] in seeds]
    picked = [s for s in chosen if s["kind"] in kinds]  # the example's students of the chosen seeds and kinds
    if variant == "unlabeled":  # the example config itself
        tree["students"] = picked
        return tree
    if variant == "gold":  # the example's students, also learning the training phrases' gold labels
        tree["students"] = [
            {**s, "name": f"{s['kind']}-gold-s{s['seed']}", "loss": {**s["loss"], "hard_weight": GOLD_WEIGHT}}
            for s in picked]
        return tree
    if variant == "both":  # the example + Tang et al.'s augmentation of every training phrase (n_iter 20)
        tree["name"] = f"{base['name']}-both"
        tree["transfer"] = {**tree["transfer"], "augment": dict(AUGMENT)}
        tree["students"] = [{**s, "train": {**s["train"], "epochs": BOTH_EPOCHS}} for s in picked]
        if AUGMENTED_ONLY in kinds:
            tree["students"] += [
                {**s, "name": f"{AUGMENTED_ONLY}-s{s['seed']}", "transfer_origins": ["labeled", "augmented"],
                 "train": {**s["train"], "epochs": BOTH_EPOCHS}} for s in chosen if s["kind"] == "bilstm"]
        return tree
    unlabeled = tree["transfer"]["unlabeled"]
    tree["name"] = f"{base['name']}-ablation"
    tree["transfer"] = {"unlabeled": [{**source, "max_examples": ABLATION_EXTRA} for source in unlabeled],
                        "augment": {**AUGMENT, "max_examples": ABLATION_EXTRA}}
    bilstm = next(s for s in base["students"] if s["kind"] == "bilstm")
    tree["students"] = [
        {**bilstm, "name": f"bilstm-{name}-s{seed}", "seed": seed, "transfer_origins": origins,
         "embedding_mode": "frozen", "train": {**bilstm["train"], "epochs": epochs}}
        for name, (origins, epochs) in ABLATION.items() for seed in seeds]
    return tree


def test_accuracy(model_dir: Path, texts: list[str], gold: list[str]) -> float:
    import taskdistil

    predicted = taskdistil.load(model_dir).predict(texts)
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)


def prepare(tree: dict, variant: str, log_dir: Path, threads: int) -> tuple[Path, float]:
    """Write the variant's config beside its run dir and run teacher, transfer and annotate on all cores;
    returns (config path, minutes taken)."""
    run_dir = REPO / tree["run_dir"].replace("${name}", tree["name"])
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir.parent / f"{tree['name']}.{variant}.{len(tree['students'])}.bench.yaml"
    config_path.write_text(yaml.safe_dump(tree, sort_keys=False))
    t0 = time.perf_counter()
    for stage in ("teacher", "transfer", "annotate"):
        cli(stage, str(config_path), threads=threads, log=log_dir / f"{tree['name']}.log")
    return config_path, (time.perf_counter() - t0) / 60


def score(config_path: Path, tree: dict) -> dict:
    """Test accuracy of the teacher and each student; mean and population std over seeds per student group."""
    from taskdistil.config import load_config
    from taskdistil.pipeline import Run
    from taskdistil.tasks import load_task_data

    config = load_config(config_path)
    run = Run(config)
    data = load_task_data(config)
    gold = data.test.labels
    result = {"run_dir": str(run.dir), "transfer": read_json(run.transfer_dir / "summary.json")
              ["by_origin"], "teacher": round(test_accuracy(run.teacher_model_dir, data.test.texts, gold), 4),
              "students": {}, "test_examples": len(gold)}
    for student in tree["students"]:
        acc = test_accuracy(run.student_model_dir(student["name"]), data.test.texts, gold)
        group = recipe_name(student["name"])  # bilstm-s1 -> bilstm, bilstm-train-s1 -> bilstm-train
        result["students"].setdefault(group, {})[str(student["seed"])] = round(acc, 4)
        manifest = read_json(run.student_dir(student["name"]) / "manifest.json")
        result.setdefault("train_seconds_last_attempt", {})[student["name"]] = manifest["seconds"]
    for kind, by_seed in result["students"].items():
        values = list(by_seed.values())
        result["students"][kind] = {"mean": round(statistics.fmean(values), 4),
                                    "std": round(statistics.pstdev(values), 4), "seeds": by_seed}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["unlabeled", "ablation"],
                        choices=["unlabeled", "gold", "both", "ablation"])
    parser.add_argument("--prepare-threads", type=int, default=os.cpu_count() or 1,
                        help="threads of the transfer and annotate stages")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--kinds", nargs="+", default=["bilstm", "cnn"], choices=["bilstm", "cnn", AUGMENTED_ONLY],
                        help=f"student groups ({AUGMENTED_ONLY}: the both variant's BiLSTMs without the IMDB rows)")
    parser.add_argument("--workers", type=int, default=1, help="students trained at once")
    parser.add_argument("--student-threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads per student (one student on all cores beats two on one each)")
    parser.add_argument("--headline", default="unlabeled", help="the variant of the headline keys")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    base = yaml.safe_load(BASE.read_text())
    log_dir = REPO / "runs" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    trees = {v: variant_config(base, v, args.seeds, args.kinds) for v in args.variants}
    prepared = {}
    for variant, tree in trees.items():  # teacher, transfer set and annotation: one variant at a time
        print(f"variant {variant}: preparing ...", file=sys.stderr, flush=True)
        prepared[variant] = prepare(tree, variant, log_dir, args.prepare_threads)
    jobs = [(variant, s["name"]) for variant, tree in trees.items() for s in tree["students"]]
    with ThreadPoolExecutor(args.workers) as pool:  # every student of every variant, one process each
        list(pool.map(lambda job: cli("distill", str(prepared[job[0]][0]), "--student", job[1],
                                      threads=args.student_threads,
                                      log=log_dir / f"{trees[job[0]]['name']}-{job[1]}.log"), jobs))
    quality = {}
    for variant, tree in trees.items():
        quality[variant] = {**score(prepared[variant][0], tree),
                            "command": "python bench/transfer_quality.py " + " ".join(sys.argv[1:])}
        print(f"variant {variant}: {quality[variant]}", file=sys.stderr, flush=True)
    merged = read_json(args.out) if args.out.is_file() else {}  # read now: other benches write here too
    for variant, result in quality.items():  # a run of some kinds (--kinds cnn) keeps the other kinds' figures
        previous = merged.setdefault("quality", {}).get(variant, {})
        for per_kind in ("students", "train_seconds_last_attempt"):
            result[per_kind] = {**previous.get(per_kind, {}), **result[per_kind]}
        merged["quality"][variant] = result
    headline = merged["quality"].get(args.headline)
    if headline:
        merged["sst2_teacher_acc"] = headline["teacher"]
        merged["sst2_student_acc"] = headline["students"].get("bilstm", {}).get("mean")
        merged["sst2_cnn_acc"] = headline["students"].get("cnn", {}).get("mean")
        merged["sst2_headline_variant"] = args.headline
    write_json(args.out, merged)

if __name__ == "__main__":
    main()
