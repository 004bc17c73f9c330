"""Print the stage keys of example configs without running any stage: a refactor must leave them unchanged.

    PYTHONPATH=CHECKOUT python bench/stage_keys.py examples/sst2.yaml [...] > keys.json

Every stage's key is computed from its config and input fingerprints as ``taskdistil.pipeline`` computes it; the
outputs of earlier stages (teacher weights, completed stage keys) are replaced by fixed stand-ins and the teacher by
a 6-layer BERT config, so two checkouts print the same keys exactly when they key the same configs alike.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from taskdistil import pipeline
from taskdistil.config import load_config
from taskdistil.exam import report
from taskdistil.io import sha256_json
from taskdistil.run_dir import Run

TEACHER = {"model_type": "bert", "num_hidden_layers": 6, "hidden_size": 384}


def stage_keys(config_path: str, run_dir: Path) -> dict[str, str]:
    config = load_config(config_path, [f"run_dir={run_dir}"])
    keys: dict[str, str] = {}

    def stage(self, name, stage_dir, key_inputs, body, force=False, damage=None, every_rank=False):
        keys[name] = sha256_json(key_inputs)
        return {}

    Run.stage = stage
    Run.completed_key = lambda self, stage_dir: f"stand-in:{Path(stage_dir).relative_to(run_dir)}"
    pipeline._teacher_fingerprint = lambda run: "stand-in:teacher-weights"
    report.finalize_report = lambda run, budgets: None
    run = Run(config)
    run.teacher_model_dir.mkdir(parents=True, exist_ok=True)
    (run.teacher_model_dir / "config.json").write_text(json.dumps(TEACHER))
    pipeline.teacher_stage(run)
    pipeline.transfer_stage(run)
    pipeline.annotate_stage(run)
    for student in config.students:
        pipeline.distill_stage(run, student)
    pipeline.exam_stage(run)
    return keys


def main(paths: list[str]) -> None:
    out = {}
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            out[path] = stage_keys(path, Path(tmp) / "run")
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
