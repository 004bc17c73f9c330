"""Command line: ``taskdistil run|teacher|transfer|annotate|distill|export|exam|predict``."""

from __future__ import annotations

import argparse
import json
import sys

from taskdistil import __version__, distributed
from taskdistil.errors import TaskDistilError


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="run configuration (YAML), or a run directory (its config.yaml is used)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set teacher.train.epochs=1 (repeatable)")
    p.add_argument("--data-dir", default=None, help="directory relative data paths resolve against "
                   "(default: $TASKDISTIL_DATA, then data.dir)")
    p.add_argument("--force", action="store_true", help="redo the stage(s) even if up to date")
    p.add_argument("--device", default=None, metavar="DEVICE", help="the run's default device: auto (CUDA, then "
                   "MPS, then CPU), cpu, cuda, cuda:N or mps (same as --set device=DEVICE)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskdistil", description=__doc__)
    parser.add_argument("--version", action="version", version=f"taskdistil {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="all stages: teacher -> transfer -> annotate -> distill -> exam")
    _config_args(p)
    for stage, text in (("teacher", "fine-tune (or adopt) the teacher"),
                        ("transfer", "build the transfer set: training text + unlabeled text + augmentation"),
                        ("annotate", "teacher logits for the transfer set (cached on disk)"),
                        ("distill", "train the student(s)"),
                        ("export", "ONNX fp32 + int8 copies of the teacher and student(s), parity-checked"),
                        ("exam", "examine teacher and students in every runtime; write report.md/json/html")):
        p = sub.add_parser(stage, help=text)
        _config_args(p)
        if stage in ("distill", "export"):
            p.add_argument("--student", default=None, help="only this student (by name)")
        if stage in ("exam",):
            p.add_argument("--max-latency-ms", type=float, default=None,
                           help="budget: batch-1 p50 latency at 1 thread (recommendation only)")
            p.add_argument("--max-size-mb", type=float, default=None, help="budget: on-disk size of the runtime")
            p.add_argument("--min-retention", type=float, default=None,
                           help="budget: student metric / teacher metric, e.g. 0.97")

    p = sub.add_parser("predict", help="predict with a saved student (or teacher) directory")
    p.add_argument("model_dir")
    p.add_argument("texts", nargs="*", help="texts to classify (default: one per line on stdin); for a "
                   "sentence-pair model each is a pair written text_a<TAB>text_b; for a tagger each is a sentence "
                   "(words separated by whitespace)")
    p.add_argument("--proba", action="store_true", help="print class probabilities too")
    p.add_argument("--runtime", choices=("torch", "onnx", "onnx-int8"), default="torch",
                   help="onnx/onnx-int8: an exported directory (`taskdistil export`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest:  # texts after an option (`predict DIR --proba "text"`) are texts; anything else is an error
        if args.command != "predict" or any(r.startswith("-") for r in rest):
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.texts += rest
    try:
        if args.command == "predict":
            return _predict(args)
        from taskdistil.config import load_config
        from taskdistil.pipeline import run_all, run_one

        device = [f"device={args.device}"] if args.device else []
        config = load_config(_config_path(args.config), args.overrides + device + _budget_overrides(args),
                             args.data_dir)
        if args.command == "run":
            run_all(config, force=args.force)
        else:
            run_one(config, args.command, force=args.force, student=getattr(args, "student", None))
        report = config.resolved_run_dir() / "report.md"
        if args.command in ("run", "exam") and report.is_file() and distributed.is_main():
            print(report.read_text(encoding="utf-8"))
        distributed.barrier()  # every rank done with every collective before any leaves the group
        return 0
    except TaskDistilError as err:
        print(f"taskdistil: error{_which_rank()}: {err}", file=sys.stderr)  # every rank: one may fail alone
        return 2
    except KeyboardInterrupt:
        if distributed.is_main():
            print("taskdistil: interrupted; finished work is kept, rerun the same command to resume",
                  file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()


def _which_rank() -> str:
    """`` (rank r of n)`` in a multi-process run, else nothing."""
    try:
        world = distributed.world_size()
        return f" (rank {distributed.rank()} of {world})" if world > 1 else ""
    except TaskDistilError:  # a malformed $WORLD_SIZE: the error being reported
        return ""


def _config_path(given: str) -> str:
    """A run directory stands for the config.yaml the run wrote into it."""
    from pathlib import Path

    path = Path(given)
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            from taskdistil.errors import ConfigError

            raise ConfigError(f"{path}: a directory without config.yaml is not a run directory")
        return str(path / "config.yaml")
    return given


def _budget_overrides(args: argparse.Namespace) -> list[str]:
    keys = ("max_latency_ms", "max_size_mb", "min_retention")
    return [f"exam.{k}={getattr(args, k)}" for k in keys if getattr(args, k, None) is not None]


def _predict(args: argparse.Namespace) -> int:
    from taskdistil.artifact import load

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("taskdistil: error: no texts given (arguments or stdin)", file=sys.stderr)
        return 2
    model = load(args.model_dir, runtime=args.runtime)
    from taskdistil.tasks import task_kind

    kind = task_kind(model.task)
    if kind.pairs:
        texts = [_pair(text, i) for i, text in enumerate(texts, 1)]
    _PRINTERS[kind.unit](model, texts, args.proba)
    return 0


def _print_labels(model, texts: list, proba: bool) -> None:
    """One JSON line per text (or pair): its label, and with ``--proba`` every class's probability."""
    probs = model.predict_proba(texts)
    for text, row in zip(texts, probs):
        label = model.labels[int(row.argmax())]
        record = {"text": text, "label": label}
        if proba:
            record["proba"] = {lab: round(float(p), 4) for lab, p in zip(model.labels, row)}
        print(json.dumps(record, ensure_ascii=False))


def _print_tags(model, texts: list, proba: bool) -> None:
    """One JSON line per input (a sentence: a text, split on whitespace; a question and passage: two texts): the
    input as the task kind shows it (``shown``: words; question and passage), the tags and spans of its prediction
    (word indices, end exclusive, with their text; question tagging also the answer and character offsets); with
    ``--proba`` the probability of each word's tag."""
    from taskdistil.tasks import task_kind

    kind = task_kind(model.task)
    items = [kind.as_inputs([text])[0] for text in texts]  # one input per line
    probs = model.predict_proba(items) if proba else None
    for i, (item, found) in enumerate(zip(items, model.predict(items))):
        record = {**kind.shown(item), **found}
        if probs is not None:
            record["proba"] = [round(float(p), 4) for p in probs[i].max(-1)]
        print(json.dumps(record, ensure_ascii=False))


def _print_aspects(model, texts: list, proba: bool) -> None:
    """One JSON line per text: its label per aspect, and with ``--proba`` each aspect's label probabilities."""
    found = model.predict(texts)
    probs = model.predict_proba(texts) if proba else None
    for i, (text, labels) in enumerate(zip(texts, found)):
        record = {"text": text, "labels": labels}
        if probs is not None:
            record["proba"] = {a: {k: round(v, 4) for k, v in p.items()} for a, p in probs[i].items()}
        print(json.dumps(record, ensure_ascii=False))


_PRINTERS = {"example": _print_labels, "word": _print_tags, "aspect": _print_aspects}  # by the task kind's unit


def _pair(text: str, number: int) -> tuple[str, str]:
    """``a<TAB>b`` -> (a, b); DataError naming the input's number otherwise."""
    from taskdistil.errors import DataError

    first, tab, second = text.partition("\t")
    if not tab or not first.strip() or not second.strip():
        raise DataError(f"input {number}: a sentence-pair model reads text_a<TAB>text_b (a question-tagging model: "
                        f"question<TAB>passage), got {text!r:.80}")
    return first.strip(), second.strip()


if __name__ == "__main__":
    sys.exit(main())
