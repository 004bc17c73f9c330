"""Fidelity: how often a model predicts what the teacher predicts, on unlabeled in-domain texts.

The texts are ``exam.fidelity.path`` when set, else the transfer set's ``heldout.jsonl`` (unlabeled texts set
aside when the transfer set was built: no student trained on them); a run with neither has no fidelity set and
the report says so. (``run``: a ``taskdistil.run_dir.Run``.)
At most ``exam.fidelity.max_examples`` texts are used: a uniform sample under the run's seed,
in file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taskdistil.config import UnlabeledSource
from taskdistil.data.readers import jsonl_objects
from taskdistil.errors import DataError
from taskdistil.io import sha256_file

NO_SET = ("no fidelity set: the run has no unlabeled transfer texts to hold out and exam.fidelity.path is not set")


@dataclass
class FidelitySet:
    texts: list
    source: str  # where the texts come from, in words
    available: int  # texts in the source, before sampling


def _heldout_path(run) -> Path:
    from taskdistil.transfer.store import HELDOUT

    return run.transfer_dir / HELDOUT


def fidelity_key(run) -> str | None:
    """What the fidelity texts are (for the exam stage's key): the source's content hash, None without a set."""
    path = run.config.exam.fidelity.path
    if path:
        resolved = run.config.data_source(path)
        return resolved if resolved.startswith("hf:") else sha256_file(Path(resolved))
    heldout = _heldout_path(run)
    return sha256_file(heldout) if heldout.is_file() else None


def _read_heldout(path: Path) -> list:
    texts = []
    for line, row in jsonl_objects(path):
        if isinstance(row.get("words"), list):  # a word-level task's sentence
            texts.append(row["words"])
            continue
        text = row.get("text")
        if not isinstance(text, (str, list)):
            raise DataError(f"{path}, line {line}: expected a 'text' string")
        texts.append(text if isinstance(text, str) else tuple(text))
    return texts


def load_fidelity_set(run) -> FidelitySet | None:
    """The fidelity texts of ``run`` (sampled down to ``max_examples``), or None when it has none."""
    settings = run.config.exam.fidelity
    if settings.path:
        from taskdistil.transfer.sources import read_unlabeled

        resolved = run.config.data_source(settings.path)
        source = UnlabeledSource(path=settings.path, column=settings.column, clean_html=False)
        texts, where = [text for text, _ in read_unlabeled(source, resolved)], f"`{settings.path}`"
    else:
        heldout = _heldout_path(run)
        if not heldout.is_file():
            return None
        texts, where = _read_heldout(heldout), "unlabeled transfer texts held out when the transfer set was built"
    available = len(texts)
    if available > settings.max_examples:
        rng = np.random.default_rng(run.config.seed)
        keep = np.sort(rng.choice(available, settings.max_examples, replace=False))
        texts = [texts[i] for i in keep]
    return FidelitySet(texts, where, available) if texts else None
