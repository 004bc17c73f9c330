"""One run directory: its paths, and the stage runner that keeps its books.

Each stage writes into its own directory under the run directory with a
``manifest.json``: the stage's key (a hash of its configuration and input
fingerprints), status, timing and outputs. A rerun skips a complete stage with the same
key, resumes an unfinished one from its checkpoints, and redoes a stage whose inputs
changed (its directory is cleared first, so no stale file survives).

Under a multi-process launch (``taskdistil.distributed``) rank 0 alone keeps the books (manifests, clearing,
log lines) and every rank follows its decisions; the annotation and training stages run on every rank and
share their work, the others run on rank 0 while the rest wait.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

from taskdistil import __version__, distributed
from taskdistil.config import RunConfig
from taskdistil.errors import StageError
from taskdistil.io import read_json, sha256_file, sha256_json, write_json
from taskdistil.progress import log
from taskdistil.stage_lock import stage_lock

MANIFEST = "manifest.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def source_fingerprint(source: str) -> str:
    """Content hash of a data file; for ``hf:`` sources the spec (plus local files, if a directory)."""
    if source.startswith("hf:"):
        name = source[3:].split("@")[0].split(":")[0]
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            return sha256_json([source] + [(str(p.relative_to(path)), sha256_file(p)) for p in files])
        return sha256_json(source)
    return sha256_file(Path(source))


class Run:
    """Paths and stage bookkeeping of one run directory."""

    def __init__(self, config: RunConfig):
        self.config = config
        self.dir = config.resolved_run_dir()
        self._fingerprints: dict[str, str] = {}

    # -- paths --------------------------------------------------------------------------
    @property
    def teacher_dir(self) -> Path:
        return self.dir / "teacher"

    @property
    def teacher_model_dir(self) -> Path:
        return self.teacher_dir / "model"

    @property
    def transfer_dir(self) -> Path:
        return self.dir / "transfer"

    @property
    def annotate_dir(self) -> Path:
        return self.dir / "annotations"

    def student_dir(self, name: str) -> Path:
        return self.dir / "students" / name

    def student_model_dir(self, name: str) -> Path:
        return self.student_dir(name) / "model"

    def export_stage_dir(self, name: str) -> Path:
        return self.dir / "export" / name

    def export_dir(self, name: str) -> Path:
        """The shippable directory of a model ("teacher" or a student's name)."""
        return self.export_stage_dir(name) / "model"

    @property
    def exam_dir(self) -> Path:
        return self.dir / "exam"

    # -- fingerprints -------------------------------------------------------------------
    def data_fingerprint(self, split: str) -> str:
        if split not in self._fingerprints:
            self._fingerprints[split] = source_fingerprint(self.config.data_path(split))
        return self._fingerprints[split]

    def data_reading(self) -> dict:
        from taskdistil.tasks import task_kind

        return task_kind(self.config.data.task).reading(self.config.data)

    def completed_key(self, stage_dir: Path) -> str:
        manifest = stage_dir / MANIFEST
        if not manifest.is_file():
            raise StageError(f"{stage_dir}: stage has not run; run `taskdistil run` or its earlier stages first")
        m = read_json(manifest)
        if m.get("status") != "complete":
            raise StageError(f"{stage_dir}: stage did not finish; rerun it to resume")
        return m["key"]

    # -- the stage runner ---------------------------------------------------------------
    def stage(self, name: str, stage_dir: Path, key_inputs: dict, body: Callable[[Path], dict],
              force: bool = False, damage: Callable[[Path], str | None] | None = None,
              every_rank: bool = False) -> dict:
        """Run ``body(stage_dir)`` unless a complete stage with the same key exists.

        ``damage(stage_dir)`` describes what is wrong with a complete stage's outputs (None if
        nothing); a damaged stage is resumed, so ``body`` redoes just the damaged part.
        Rank 0 holds the stage's lock (``stage_lock``) throughout: a second process on the same stage fails at
        once instead of racing this one. In a multi-process run rank 0 decides and prepares the stage, then
        ``body`` runs on every rank if ``every_rank`` (it shares its work out itself), else on rank 0 alone;
        every rank returns rank 0's manifest.
        """
        key = sha256_json(key_inputs)
        main = distributed.is_main()
        with stage_lock(stage_dir) if main else nullcontext():
            return self._run_stage(name, stage_dir, key, key_inputs, body, force, damage, every_rank)

    def _run_stage(self, name: str, stage_dir: Path, key: str, key_inputs: dict, body: Callable[[Path], dict],
                   force: bool, damage: Callable[[Path], str | None] | None, every_rank: bool) -> dict:
        main = distributed.is_main()
        skipped, manifest = distributed.broadcast(
            self._open(name, stage_dir, key, key_inputs, force, damage) if main else None)
        if skipped:
            return manifest
        t0 = time.perf_counter()
        outputs = body(stage_dir) if every_rank or main else None
        distributed.barrier()  # every rank's part of the body is done
        if main:
            manifest.update(status="complete", finished=_now(), seconds=round(time.perf_counter() - t0, 2),
                            outputs=outputs)
            write_json(stage_dir / MANIFEST, manifest)
            log(f"[{name}] done in {manifest['seconds']:.1f} s")
        return distributed.broadcast(manifest)

    def _open(self, name: str, stage_dir: Path, key: str, key_inputs: dict, force: bool,
              damage: Callable[[Path], str | None] | None) -> tuple[bool, dict]:
        """(True, the manifest) of an up-to-date stage; else (False, the manifest of the run now started), after
        clearing the directory of a stage whose inputs changed."""
        manifest_path = stage_dir / MANIFEST
        previous = read_json(manifest_path) if manifest_path.is_file() else None
        attempts = 1
        if previous and not force:
            complete = previous.get("key") == key and previous.get("status") == "complete"
            problem = damage(stage_dir) if complete and damage else None
            if complete and problem is None:
                log(f"[{name}] up to date, skipped ({stage_dir})")
                return True, previous
            if problem is not None:
                attempts = previous.get("attempts", 1) + 1
                log(f"[{name}] stored outputs are damaged ({problem}); recomputing them ({stage_dir})")
            elif previous.get("key") == key:
                attempts = previous.get("attempts", 1) + 1
                log(f"[{name}] resuming an unfinished stage ({stage_dir})")
            else:
                log(f"[{name}] inputs changed: redoing ({stage_dir})")
                shutil.rmtree(stage_dir)
        elif previous and force:
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True, exist_ok=True)
        manifest = {"stage": name, "status": "running", "key": key, "inputs": key_inputs, "attempts": attempts,
                    "started": _now(), "taskdistil_version": __version__}
        write_json(manifest_path, manifest)
        log(f"[{name}] running ({stage_dir})")
        return False, manifest
