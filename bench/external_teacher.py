"""What a teacher's soft scores buy over its hard labels, with the same transfer set: an external teacher on SST-2.

Takes a finished built-in-teacher run of examples/sst2.yaml (its teacher and annotate stages complete; read only),
writes the MiniLM teacher's own outputs on the transfer set and the test texts to two outputs files, once as
logits and once as labels only, and distils the same student from each as an external teacher
(``teacher.outputs``; the students' WordPiece vocabulary and SVD embeddings from the same fine-tuned teacher via
``teacher.tokenizer_from``). The logits-file students must equal the built-in teacher's students of the same seed
and recipe where the teacher run holds one (``identical_to_builtin``: every weight bit for bit; training
threads must match the teacher run's, so leave OMP_NUM_THREADS as that run had it). Writes
bench/results/external_teacher.json: ``soft_acc`` and ``hard_acc`` (SST-2 test, mean over the seeds), per-seed
figures, the teacher's own test accuracy from both files (the exam's external-teacher row).

    OMP_NUM_THREADS=1 TASKDISTIL_DATA=../shared/data python bench/external_teacher.py --teacher-run runs/sst2 --seeds 42
    # --recipe small: the example's compact BiLSTM (bilstm-small) instead of its BiLSTM, when time is short
    # any student of another example: the static student over a run of examples/sst2-static.yaml
    OMP_NUM_THREADS=1 TASKDISTIL_DATA=../shared/data python bench/external_teacher.py --teacher-run runs/sst2-static \
        --example examples/sst2-static.yaml --recipe static-s1 --seeds 1 2 3

Any finished run of examples/sst2.yaml serves as the teacher run, e.g. one whose teacher was adopted
(``teacher.finetuned: true``) from a fine-tuning checkpoint by ``bench/teacher_from_checkpoint.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cli  # noqa: E402
from taskdistil.config import dump_config, load_config  # noqa: E402
from taskdistil.io import atomic_write_text, read_json, write_json  # noqa: E402

RECIPES = {"example": "bilstm", "small": "bilstm-small"}  # short names of students of examples/sst2.yaml
LIGHT_EXAM = {"runtimes": ["torch"], "threads": [1], "batch_sizes": [1], "reference": "none", "memory": False,
              "max_batches": 3, "max_seconds": 0.2}  # quality is what this bench reads


def write_outputs_files(teacher_run: Path, out_dir: Path) -> dict[str, Path]:
    """logits.jsonl and labels.jsonl: the teacher's annotations of the transfer set plus its logits on the test
    texts, a labels header first."""
    from taskdistil.tasks import load_task_data
    from taskdistil.teacher.annotate import LogitStore
    from taskdistil.teacher.model import Teacher
    from taskdistil.transfer.store import TransferSet

    files = {"logits": out_dir / "logits.jsonl", "label": out_dir / "labels.jsonl"}
    if all(path.is_file() for path in files.values()):
        return files
    texts = TransferSet(teacher_run / "transfer").texts()
    logits = LogitStore(teacher_run / "annotations", verify=True)[np.arange(len(texts))]
    teacher = Teacher.load(teacher_run / "teacher" / "model")
    test = load_task_data(load_config(teacher_run / "config.yaml")).test.texts
    test_logits = teacher.logits(teacher.encode(test, teacher_run_too_long(teacher_run)), desc="teacher on test")
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, path in files.items():
        with path.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"labels": teacher.labels}) + "\n")
            for text, row in zip([*texts, *test], np.concatenate([logits, test_logits])):
                value = teacher.labels[int(row.argmax())] if kind == "label" else [float(x) for x in row]
                fh.write(json.dumps({"text": text if isinstance(text, str) else list(text), kind: value}) + "\n")
    return files


def teacher_run_too_long(teacher_run: Path) -> str:
    return load_config(teacher_run / "config.yaml").data.too_long


def builtin_student(teacher_run: Path, recipe: dict, seed: int) -> Path | None:
    """The teacher run's weights file of a finished student with the settings of ``recipe`` (its name aside) trained
    with ``seed``; None when the teacher run has none."""
    config = load_config(teacher_run / "config.yaml")
    wanted = load_config(teacher_run / "config.yaml", [f"students={json.dumps([{**recipe, 'seed': seed}])}"])
    settings = wanted.students[0].model_dump(exclude={"name"})
    for student in config.students:
        if student.seed is None:
            student = student.model_copy(update={"seed": config.seed})
        if student.model_dump(exclude={"name"}) != settings:
            continue
        done = teacher_run / "students" / student.name / "manifest.json"
        if done.is_file() and read_json(done).get("status") == "complete":
            return teacher_run / "students" / student.name / "model" / "model.safetensors"
    return None


def disagreement(config, soft_dir: Path, hard_dir: Path) -> dict:
    """On the test split: how many sentences the soft and hard students of one seed label differently, and how many
    of those each gets right."""
    import taskdistil
    from taskdistil.tasks import load_task_data

    test = load_task_data(config).test
    gold = np.asarray(test.labels)
    soft, hard = (np.asarray(taskdistil.load(d).predict(test.texts)) for d in (soft_dir, hard_dir))
    return {"differ": int((soft != hard).sum()), "only_soft_right": int(((soft == gold) & (hard != gold)).sum()),
            "only_hard_right": int(((hard == gold) & (soft != gold)).sum())}


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.numpy import load_file

    x, y = load_file(a), load_file(b)
    return sorted(x) == sorted(y) and all(np.array_equal(x[k], y[k]) for k in x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-run", required=True, type=Path, help="a run of examples/sst2.yaml (read only)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--recipe", default="example", help=f"the student of --example to distil: its name, or "
                        f"one of {RECIPES} (examples/sst2.yaml)")
    parser.add_argument("--example", type=Path, default=REPO / "examples" / "sst2.yaml",
                        help="the config whose data and student recipe are used (a smoke test: a tiny run's)")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench" / "external_teacher")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "external_teacher.json")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (the teacher run's, for the "
                        "bit-for-bit check); the soft and hard runs go side by side")
    args = parser.parse_args()

    teacher_run, args.work = args.teacher_run.resolve(), args.work.resolve()
    for stage in ("teacher", "annotations"):
        manifest = teacher_run / stage / "manifest.json"
        if not manifest.is_file() or read_json(manifest).get("status") != "complete":
            raise SystemExit(f"{teacher_run}: its {stage} stage is not complete yet")
    files = write_outputs_files(teacher_run, args.work)
    example = yaml.safe_load(args.example.read_text())
    name = RECIPES.get(args.recipe, args.recipe)
    recipe = next((s for s in example["students"] if s["name"] == name), None)
    if recipe is None:
        raise SystemExit(f"{args.example}: no student named {name!r} (students: "
                         f"{', '.join(s['name'] for s in example['students'])})")
    students = [{**recipe, "name": f"{recipe['name']}-s{seed}", "seed": seed} for seed in args.seeds]
    results: dict = {"teacher_run": str(teacher_run), "teacher_origin": read_json(
        teacher_run / "teacher" / "model" / "taskdistil.json")["origin"], "recipe": recipe, "seeds": args.seeds,
        "threads": args.threads, "variants": {}}
    variants = (("soft", "logits"), ("hard", "label"))
    configs = {}
    for variant, kind in variants:
        teacher = {"outputs": str(files[kind]), "max_length": example.get("teacher", {}).get("max_length", 128),
                   "tokenizer_from": str(teacher_run / "teacher" / "model")}
        overrides = [f"name=external-{variant}", f"run_dir={args.work / variant}", f"teacher={json.dumps(teacher)}",
                     f"students={json.dumps(students)}", f"exam={json.dumps(LIGHT_EXAM)}"]
        configs[variant] = load_config(args.example, overrides)
        atomic_write_text(args.work / f"{variant}.yaml", dump_config(configs[variant]))
    with ThreadPoolExecutor(max_workers=len(variants)) as pool:  # each a `taskdistil run` child process
        list(pool.map(lambda v: cli("run", str(args.work / f"{v}.yaml"), threads=args.threads,
                                    log=args.work / f"{v}.log"), configs))
    for variant, kind in variants:
        run_dir = configs[variant].resolved_run_dir()
        report = read_json(run_dir / "report.json")
        rows = {m["name"]: m for m in report["models"] if m["runtime"] in ("torch", "external")}
        per_seed = {}
        for student, seed in zip(students, args.seeds):
            manifest = read_json(run_dir / "students" / student["name"] / "manifest.json")
            entry = {"test_acc": rows[student["name"]]["metrics"]["accuracy"],
                     "dev_acc": manifest["outputs"]["dev"]["accuracy"], "steps": manifest["outputs"]["steps"],
                     "train_seconds": manifest["seconds"]}
            builtin = builtin_student(teacher_run, recipe, seed) if variant == "soft" else None
            if variant == "soft":
                ours = run_dir / "students" / student["name"] / "model" / "model.safetensors"
                entry["identical_to_builtin"] = None if builtin is None else same_weights(ours, builtin)
            per_seed[str(seed)] = entry
        accs = [e["test_acc"] for e in per_seed.values()]
        results["variants"][variant] = {
            "outputs_file": str(files[kind]), "teacher_test_acc": rows["teacher"]["metrics"]["accuracy"],
            "test_acc_mean": statistics.fmean(accs),
            "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "per_seed": per_seed}
    from taskdistil.teacher.annotate import LogitStore

    builtin_rows = LogitStore(teacher_run / "annotations")
    file_rows = LogitStore(configs["soft"].resolved_run_dir() / "annotations")
    every = np.arange(len(builtin_rows))
    results["logits_file_annotation_rows_equal_builtin"] = int((file_rows[every] == builtin_rows[every]).all(1).sum())
    results["transfer_rows"] = len(builtin_rows)
    results["soft_vs_hard_test_predictions"] = {}
    for student, seed in zip(students, args.seeds):
        soft, hard = (configs[v].resolved_run_dir() / "students" / student["name"] / "model" for v in ("soft", "hard"))
        results["soft_vs_hard_test_predictions"][str(seed)] = disagreement(configs["soft"], soft, hard)
    results.update(soft_acc=results["variants"]["soft"]["test_acc_mean"],
                   hard_acc=results["variants"]["hard"]["test_acc_mean"],
                   teacher_acc=results["variants"]["soft"]["teacher_test_acc"],
                   test_examples=report["test"]["examples"],
                   command="TASKDISTIL_DATA=../shared/data python bench/external_teacher.py --teacher-run "
                           f"{args.teacher_run} --example {_shown(args.example.resolve())} --seeds "
                           f"{' '.join(map(str, args.seeds))} --recipe {args.recipe} --threads {args.threads} "
                           f"--work {_shown(args.work)}")
    write_json(args.out, results)
    print(json.dumps({k: results[k] for k in ("soft_acc", "hard_acc", "teacher_acc", "seeds")}, indent=2))


if __name__ == "__main__":
    main()
