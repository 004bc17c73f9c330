"""External teachers: a model taskdistil cannot run (an LLM behind an API, another framework, a labeling service),
given as its outputs (``teacher.outputs``: a JSONL file) or as a command that labels texts (``teacher.command``:
JSONL texts on stdin, JSONL outputs on stdout; schema in ``taskdistil.teacher.outputs``).

- The teacher stage fine-tunes nothing. It writes what students take from a teacher into the teacher directory:
  the tokenizer and input-embedding table of ``teacher.tokenizer_from`` (default: the embedded MiniLM-L6's
  WordPiece vocabulary, for ``tokenizer: wordpiece`` and ``embeddings: svd``) and ``taskdistil.json`` with
  ``kind: external-teacher``, the labels and a fingerprint of the source (the file's hash, or the command string
  with the hash of every file it names): a changed source redoes annotation and the students.
- Annotation (``annotate_external``) writes the annotation cache of ``taskdistil.teacher.annotate`` (checksummed
  ``logits-NNNNN.npy`` shards, ``shards.json``, resumable shard by shard), plus ``targets`` in ``shards.json``:
  ``logits``, ``probs`` or ``labels`` (a hard teacher). A file is matched against the whole transfer set before any
  shard is written; a command runs once per unfinished shard (a failure stops the stage, finished shards stay).
- Students needing the teacher's weights or states (transformer students, Patient KD, representation stages) are
  refused by the configuration; a hard teacher's students train with hard distillation (``teacher_objective``).
  A model2vec-style table (``embeddings: model2vec``) reads each vocabulary entry through the encoder of
  ``teacher.tokenizer_from`` (``vocabulary_encoder``).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from taskdistil import __version__, distributed
from taskdistil.config import RunConfig, StageConfig
from taskdistil.data.pairs import Example
from taskdistil.errors import StageError
from taskdistil.hf_checkpoint import quiet_transformers, resolve_checkpoint
from taskdistil.io import load_tensors, read_json, save_tensors, sha256_file, sha256_tensors, write_json
from taskdistil.model_files import TEACHER_META
from taskdistil.progress import progress
from taskdistil.teacher.annotate import SHARDS, _open_index, _save, _valid
from taskdistil.teacher.model import Teacher
from taskdistil.teacher.outputs import HARD, TARGETS, OutputsFile, Schema, run_command

EXTERNAL_KIND = "external-teacher"
EMBEDDINGS = "embeddings.safetensors"  # the input-embedding table of teacher.tokenizer_from, (V, H)


def _log(message: str) -> None:
    if distributed.is_main():
        print(message, file=sys.stderr, flush=True)


def source_fingerprint(config: RunConfig) -> dict:
    """What identifies the external teacher's outputs: the outputs file's hash, or the command string and the hash
    of every existing file among its arguments (an edited labeler script counts as another teacher)."""
    teacher = config.teacher
    if teacher.outputs:
        path = Path(config.data_file(teacher.outputs))
        return {"outputs": str(path), "sha256": sha256_file(path)}
    files = {arg: sha256_file(Path(arg)) for arg in shlex.split(teacher.command) if Path(arg).is_file()}
    return {"command": teacher.command, "files": files}


def prepare_external_teacher(config: RunConfig, labels: Sequence[str], out_dir: Path) -> dict:
    """The teacher stage of an external teacher: no fine-tuning; ``out_dir`` gets the tokenizer and input
    embeddings of ``teacher.tokenizer_from`` and ``taskdistil.json`` (labels, source fingerprint)."""
    from transformers import AutoModel, AutoTokenizer

    teacher = config.teacher
    source = source_fingerprint(config)
    _log(f"[teacher] external teacher ({'outputs file' if teacher.outputs else 'command'}): no fine-tuning; "
         f"students' vocabulary and embeddings from {teacher.tokenizer_from}")
    quiet_transformers()
    path = resolve_checkpoint(teacher.tokenizer_from, "teacher.tokenizer_from")
    tokenizer = AutoTokenizer.from_pretrained(path)
    weight = AutoModel.from_pretrained(path).get_input_embeddings().weight.detach()  # (V, H)
    out_dir = Path(out_dir)
    if distributed.is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(out_dir)
        save_tensors(out_dir / EMBEDDINGS, {"weight": weight})
        write_json(out_dir / TEACHER_META, {
            "kind": EXTERNAL_KIND, "task": config.data.task, "labels": list(labels),
            "max_length": teacher.max_length, "origin": teacher.outputs or teacher.command, "source": source,
            "tokenizer_from": teacher.tokenizer_from, "embeddings_sha256": sha256_file(out_dir / EMBEDDINGS),
            "taskdistil_version": __version__})
    return {"labels": list(labels), "finetuned_here": False, "external": source}


def is_external(teacher_dir: Path) -> bool:
    meta = Path(teacher_dir) / TEACHER_META
    return meta.is_file() and read_json(meta).get("kind") == EXTERNAL_KIND


class _InputEmbeddings(torch.nn.Module):
    """Stands in for a teacher model where students read only its input embeddings (``get_input_embeddings``)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.embeddings = torch.nn.Embedding.from_pretrained(weight, freeze=True)
        self.config = None

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embeddings


def load_teacher(path: Path) -> Teacher:
    """A teacher directory as students use it: a built-in teacher (``Teacher.load``), or for an external teacher a
    ``Teacher`` whose ``model`` holds only the input embeddings (no forward pass: nothing can run it)."""
    path = Path(path)
    if not is_external(path):
        return Teacher.load(path)
    from transformers import AutoTokenizer

    meta = read_json(path / TEACHER_META)
    model = _InputEmbeddings(load_tensors(path / EMBEDDINGS)["weight"])
    return Teacher(model, AutoTokenizer.from_pretrained(path), meta["labels"], meta["max_length"], path,
                   meta["task"])


def vocabulary_encoder(teacher: Teacher, teacher_dir: Path) -> tuple[torch.nn.Module, str]:
    """(the encoder that reads each vocabulary entry for a model2vec-style table, a name for its weights): the
    teacher's own model, or for an external teacher (outputs only) the encoder of ``teacher.tokenizer_from``, whose
    tokenizer the students use; checked to be the checkpoint whose input embeddings the teacher stage stored."""
    teacher_dir = Path(teacher_dir)
    if not is_external(teacher_dir):
        return teacher.model, sha256_file(teacher_dir / "model.safetensors")[:16]
    from transformers import AutoModel

    meta = read_json(teacher_dir / TEACHER_META)
    quiet_transformers()
    encoder = AutoModel.from_pretrained(resolve_checkpoint(meta["tokenizer_from"], "teacher.tokenizer_from"))
    stored = teacher.model.get_input_embeddings().weight
    current = encoder.get_input_embeddings().weight.detach()
    if current.shape != stored.shape or not torch.equal(current, stored):
        raise StageError(f"teacher.tokenizer_from {meta['tokenizer_from']}: its input embeddings differ from those "
                         f"the teacher stage stored in {teacher_dir}; the checkpoint changed: rerun "
                         "`taskdistil teacher`")
    return encoder, sha256_tensors(encoder.state_dict())[:16]


class _Source:
    """The external teacher's outputs for a sequence of texts, shard by shard."""

    def __init__(self, config: RunConfig, labels: Sequence[str], kind: str | None = None):
        self.command = config.teacher.command
        self.file = None if self.command else OutputsFile(Path(config.data_file(config.teacher.outputs)), labels)
        origin = "the finished shards (shards.json)"
        self.schema = self.file.schema if self.file else Schema(labels, kind, origin)
        self.rows: np.ndarray | None = None

    @property
    def targets(self) -> str | None:
        return TARGETS[self.schema.kind] if self.schema.kind else None

    def cover(self, texts: Sequence[Example], where: Callable[[int], str] | None, required: bool = True) -> int:
        """Match a file against ``texts`` (DataError naming the first missing one if ``required``); returns how
        many of the file's texts are not among them."""
        if self.file is None:
            return 0
        self.rows = self.file.rows_for(texts, where, required)
        return len(self.file.table) - len(np.unique(self.rows[self.rows >= 0]))  # lines no text took

    def outputs(self, start: int, texts: Sequence[Example], what: str) -> np.ndarray:
        if self.file is not None:
            return self.file.table[self.rows[start:start + len(texts)]]
        return run_command(self.command, texts, self.schema, what)


def annotate_external(config: RunConfig, labels: Sequence[str], texts: Sequence[Example], out_dir: Path,
                      shard_size: int, where: Callable[[int], str] | None = None, desc: str = "external teacher"
                      ) -> dict:
    """The external teacher's outputs for ``texts`` in the annotation cache's layout (``annotate.py``), resumable
    at shard granularity; ``shards.json`` also records ``targets``. Runs in one process (rank 0 of a launch)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = _open_index(out_dir, shard_size, len(texts), [])
    source = _Source(config, labels, _kind_of(index.get("targets")))
    extra = source.cover(texts, where)
    if extra:
        _log(f"[annotate] {config.teacher.outputs}: {extra:,} lines answer no transfer-set text, ignored")
    if source.targets and index.get("targets") not in (None, source.targets):
        index = {"shard_size": shard_size, "count": len(texts), "shards": {}}  # another file's shards: stale
    n_shards = (len(texts) + shard_size - 1) // shard_size
    with progress(len(texts), desc, unit="ex") as bar:
        for s in range(n_shards):
            start, stop = s * shard_size, min(len(texts), (s + 1) * shard_size)
            name = f"logits-{s:05d}.npy"
            if _valid(out_dir, name, index["shards"]):
                bar.update(stop - start)
                continue
            values = source.outputs(start, texts[start:stop], f"shard {s} (texts {start}..{stop - 1})")
            index["targets"] = source.targets
            index["shards"][name] = _save(out_dir, name, np.ascontiguousarray(values, dtype=np.float32))
            write_json(out_dir / SHARDS, index)
            bar.update(stop - start)
    targets = read_json(out_dir / SHARDS).get("targets") if n_shards else source.targets
    summary = {"count": len(texts), "shards": n_shards, "num_labels": len(labels), "targets": targets}
    if source.file is not None:
        summary["extra_texts"] = extra
    return summary


def _kind_of(targets: str | None) -> str | None:
    return next((kind for kind, name in TARGETS.items() if name == targets), None)


def stored_targets(annotate_dir: Path) -> str:
    """What the annotation cache holds: "logits" (built-in teachers), "probs" or "labels" (a hard teacher)."""
    return read_json(Path(annotate_dir) / SHARDS).get("targets") or "logits"


def teacher_objective(stage: StageConfig, targets: str, student: str) -> StageConfig:
    """A stage as the teacher's outputs allow: a hard teacher (labels only) turns the logits objective into hard
    distillation (CE to the teacher's label; the ``loss`` section does not apply), said in the log."""
    if targets != HARD or stage.objective != "logits":
        return stage
    _log(f"[distill:{student}] the teacher gave labels only: hard distillation (cross-entropy to the teacher's "
         "label) instead of the logits loss")
    return stage.model_copy(update={"objective": "hard_distill"})


def teacher_test_outputs(config: RunConfig, labels: Sequence[str], texts: Sequence[Example], work_dir: Path,
                 where: Callable[[int], str] | None = None) -> tuple[np.ndarray | None, str]:
    """(the external teacher's (n, C) outputs for the test texts, or None where it does not cover them; what was
    done) for the exam. A file is looked up; a command labels them into ``work_dir`` (resumable shards)."""
    if config.teacher.outputs:
        source = _Source(config, labels)
        source.cover(texts, where, required=False)
        covered = int((source.rows >= 0).sum())
        if covered < len(texts):
            return None, f"the outputs file covers {covered} of {len(texts)} test texts: no teacher quality row"
        return source.file.table[source.rows], f"the outputs file's rows for the {len(texts)} test texts"
    annotate_external(config, labels, texts, work_dir, config.annotate.shard_size, where,
                      desc="external teacher on the test texts")
    from taskdistil.teacher.annotate import LogitStore

    return LogitStore(work_dir, verify=True)[np.arange(len(texts))], f"the command's outputs on {len(texts)} " \
                                                                     "test texts"
