"""Command line: ``taskdistil run|teacher|annotate|distill|exam|predict``."""

from __future__ import annotations

import argparse
import json
import sys

from taskdistil import __version__
from taskdistil.errors import TaskDistilError


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="run configuration (YAML)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set teacher.train.epochs=1 (repeatable)")
    p.add_argument("--data-dir", default=None, help="directory relative data paths resolve against "
                   "(default: $TASKDISTIL_DATA, then data.dir)")
    p.add_argument("--force", action="store_true", help="redo the stage(s) even if up to date")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskdistil", description=__doc__)
    parser.add_argument("--version", action="version", version=f"taskdistil {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="all stages: teacher -> annotate -> distill -> exam")
    _config_args(p)
    for stage, text in (("teacher", "fine-tune (or adopt) the teacher"),
                        ("annotate", "teacher logits for the transfer set (cached on disk)"),
                        ("distill", "train the student(s)"),
                        ("exam", "examine teacher and students; write report.md/report.json")):
        p = sub.add_parser(stage, help=text)
        _config_args(p)
        if stage == "distill":
            p.add_argument("--student", default=None, help="only this student (by name)")

    p = sub.add_parser("predict", help="predict with a saved student (or teacher) directory")
    p.add_argument("model_dir")
    p.add_argument("texts", nargs="*", help="texts to classify (default: one per line on stdin)")
    p.add_argument("--proba", action="store_true", help="print class probabilities too")
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

        config = load_config(args.config, args.overrides, args.data_dir)
        if args.command == "run":
            run_all(config, force=args.force)
        else:
            run_one(config, args.command, force=args.force, student=getattr(args, "student", None))
        report = config.resolved_run_dir() / "report.md"
        if args.command in ("run", "exam") and report.is_file():
            print(report.read_text(encoding="utf-8"))
        return 0
    except TaskDistilError as err:
        print(f"taskdistil: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("taskdistil: interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130


def _predict(args: argparse.Namespace) -> int:
    from taskdistil.artifact import load

    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("taskdistil: error: no texts given (arguments or stdin)", file=sys.stderr)
        return 2
    model = load(args.model_dir)
    probs = model.predict_proba(texts)
    for text, row in zip(texts, probs):
        label = model.labels[int(row.argmax())]
        record = {"text": text, "label": label}
        if args.proba:
            record["proba"] = {lab: round(float(p), 4) for lab, p in zip(model.labels, row)}
        print(json.dumps(record, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
