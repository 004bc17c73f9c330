"""Self-contained model directories and ``taskdistil.load``.

A student directory holds ``config.json`` (kind, model settings, tokenizer settings,
labels, provenance, library version), ``model.safetensors`` and its tokenizer file.
``load(path)`` rebuilds the model from these alone: no teacher, no training state, no
pickle. A teacher directory (``taskdistil.json`` beside HF files) loads the same way.
With ``runtime="onnx"`` or ``"onnx-int8"`` (an exported directory) neither PyTorch nor
transformers is imported: onnxruntime, numpy and the ``tokenizers`` library suffice.
A sentence-pair model predicts pairs: ``load(path).predict([("text a", "text b"), ...])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from taskdistil import __version__
from taskdistil.data.pairs import SINGLE_SENTENCE, Example
from taskdistil.errors import ArtifactError
from taskdistil.inference import batched_logits, softmax
from taskdistil.io import load_tensors, read_json, save_tensors, write_json
from taskdistil.model_files import CONFIG, STUDENT_FORMAT, TEACHER_META, TEACHER_TOKENIZER, WEIGHTS
from taskdistil.tasks import task_kind
from taskdistil.train.batching import pad_ids_numpy

if TYPE_CHECKING:
    from torch import nn


def save_student(out_dir: Path, model: nn.Module, tokenizer, labels: Sequence[str], task: str,
                 provenance: dict, label_meta: dict | None = None) -> None:
    """``label_meta``: the label space's settings besides its names (a tagging scheme), saved when given. A CRF
    tagger's transition scores are also saved in ``config.json`` (``decoding``), for runtimes without PyTorch."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_meta = tokenizer.save(out_dir)
    save_tensors(out_dir / WEIGHTS, model.state_dict(), metadata={"format": "pt"})
    write_json(out_dir / CONFIG, {
        "format": STUDENT_FORMAT, "taskdistil_version": __version__, "kind": model.kind,
        "model": asdict(model.config), "tokenizer": tokenizer_meta, "task": task, "labels": list(labels),
        "provenance": provenance, **({"label_meta": label_meta} if label_meta else {}),
        **({"decoding": model.crf.decoding()} if getattr(model, "crf", None) is not None else {}),
    })


class Predictor:
    """What ``load`` returns: ``predict``, ``predict_proba`` and ``logits`` over raw texts, or for a sentence-pair
    model (``task`` "sentence_pair") over pairs ``(text_a, text_b)``."""

    def __init__(self, forward, encode, pad_id: int, labels: Sequence[str], model: nn.Module | None, path: Path,
                 kind: str, runtime: str = "torch", task: str = SINGLE_SENTENCE):
        self.runtime = runtime  # model is None unless the runtime is torch
        self._pad = None if runtime == "torch" else pad_ids_numpy  # onnxruntime takes numpy
        self._forward = forward
        self._encode = encode
        self.pad_id = pad_id
        self.labels = list(labels)
        self.model = model
        self.path = Path(path)
        self.kind = kind
        self.task = task

    def encode(self, texts: Sequence[Example]) -> list:
        """Encoded examples (a text alone, or a list of them; pairs for a sentence-pair model)."""
        return self._encode(task_kind(self.task).as_inputs(texts))

    def forward(self, ids, mask):
        """Logits of padded ids and mask (torch tensors; numpy arrays also for ONNX runtimes)."""
        return self._forward(ids, mask)

    def outputs(self, encoded: Sequence, batch_size: int = 256, labels: Sequence[str] | None = None) -> np.ndarray:
        """Logits (N, C) of encoded examples, their columns in the order of ``labels`` (default: the model's)."""
        logits = batched_logits(self._forward, encoded, self.pad_id, batch_size, pad=self._pad)
        return logits if labels is None else logits[:, [self.labels.index(label) for label in labels]]

    def logits(self, texts: Sequence[Example], batch_size: int = 256) -> np.ndarray:
        return self.outputs(self.encode(texts), batch_size)

    def predict_proba(self, texts: Sequence[Example], batch_size: int = 256) -> np.ndarray:
        return softmax(self.logits(texts, batch_size))

    def predict(self, texts: Sequence[Example], batch_size: int = 256) -> list[str]:
        return [self.labels[i] for i in self.logits(texts, batch_size).argmax(-1)]


def read_student_meta(path: Path) -> dict:
    """A student directory's ``config.json``, checked to be one."""
    try:
        meta = read_json(Path(path) / CONFIG)
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{Path(path) / CONFIG}: cannot read ({err})") from None
    if meta.get("format") != STUDENT_FORMAT:
        raise ArtifactError(f"{Path(path) / CONFIG}: not a taskdistil student (format {meta.get('format')!r})")
    return meta


def load_student_model(path: Path) -> tuple[nn.Module, dict]:
    from taskdistil.students.registry import STUDENT_KINDS

    path = Path(path)
    meta = read_student_meta(path)
    if meta["kind"] not in STUDENT_KINDS:
        raise ArtifactError(f"{path}: unknown student kind {meta['kind']!r}; known: {sorted(STUDENT_KINDS)}")
    cls = STUDENT_KINDS[meta["kind"]]
    model = cls(cls.config_class(**meta["model"]))
    if not (path / WEIGHTS).is_file():
        raise ArtifactError(f"{path}: missing {WEIGHTS}")
    model.load_state_dict(load_tensors(path / WEIGHTS))
    model.eval()
    return model, meta


RUNTIMES = ("torch", "onnx", "onnx-int8")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}


def load(path: str | Path, runtime: str = "torch", threads: int | None = None) -> Predictor:
    """Load a saved student or teacher directory for prediction.

    ``runtime``: ``torch`` (the safetensors weights), ``onnx`` or ``onnx-int8`` (the files
    ``taskdistil export`` writes beside them; PyTorch weights are then not loaded).
    ``threads`` sets onnxruntime's intra-op threads (default: all cores).
    """
    from taskdistil.students.tokenizer import WordPieceTokenizer, load_student_tokenizer

    path = Path(path)
    if runtime not in RUNTIMES:
        raise ArtifactError(f"runtime {runtime!r} is not one of {list(RUNTIMES)}")
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such model directory")
    is_teacher = (path / TEACHER_META).is_file()
    if not is_teacher and not (path / CONFIG).is_file():
        raise ArtifactError(f"{path}: not a taskdistil model directory (no {CONFIG} or {TEACHER_META})")
    meta = read_json(path / TEACHER_META) if is_teacher else read_student_meta(path)
    task = meta.get("task", SINGLE_SENTENCE)
    if meta.get("kind") == "external-teacher":
        raise ArtifactError(f"{path}: an external teacher's directory holds no model to run (its outputs came from "
                            f"{meta['origin']})")
    if runtime != "torch":
        import os

        from taskdistil.export.runtime import OnnxForward

        forward = OnnxForward(path / ONNX_FILES[runtime], threads or os.cpu_count() or 1)
        model = None
        if is_teacher:  # the teacher's own WordPiece tokenizer.json, truncated as the teacher truncates
            tokenizer = WordPieceTokenizer.load(path, {"file": TEACHER_TOKENIZER, "max_length": meta["max_length"]})
            tokenizer.pairs = "joint" if task_kind(task).pairs else None  # pairs: its graph derives token types
        else:
            tokenizer = load_student_tokenizer(path, meta["tokenizer"])
        encode = lambda t: tokenizer.encode(t, "truncate")  # noqa: E731
    elif is_teacher:
        from taskdistil.teacher.model import Teacher, hf_forward

        teacher = Teacher.load(path)
        model = teacher.forward_model  # pairs: derives token types from the ids, also in its ONNX export
        forward, encode = hf_forward(model), lambda t: teacher.encode(t, "truncate")
        tokenizer = _TeacherTokens(teacher)
    else:
        model, meta = load_student_model(path)
        tokenizer = load_student_tokenizer(path, meta["tokenizer"])
        forward, encode = (lambda ids, mask: model(ids, mask).logits), lambda t: tokenizer.encode(t, "truncate")
    kind = "teacher" if is_teacher else meta["kind"]
    if task_kind(task).unit == "word":  # windows of max_length: the teacher and students with positions
        window = meta["max_length"] if is_teacher else (tokenizer.max_length if tokenizer.windows else None)
        return WordPredictor(forward, tokenizer.backend, window,
                             meta.get("label_meta", {}), tokenizer.pad_id, meta["labels"], model, path, kind,
                             runtime, task, decoding=None if is_teacher else meta.get("decoding"))
    if task_kind(task).unit == "aspect":  # a label per aspect
        return AspectPredictor(meta.get("label_meta", {}), forward, encode, tokenizer.pad_id, meta["labels"], model,
                               path, kind, runtime, task)
    return Predictor(forward, encode, tokenizer.pad_id, meta["labels"], model, path, kind, runtime, task)


class AspectPredictor(Predictor):
    """A multi-aspect model: ``predict(texts)`` returns per text ``{aspect: label}``; ``predict_proba`` per text
    ``{aspect: {label: probability}}`` (softmax within each aspect); ``logits``: (N, sum_a N_a)."""

    def __init__(self, label_meta: dict, *args):
        super().__init__(*args)
        self.label_meta = label_meta

    def predict_proba(self, texts: Sequence[Example], batch_size: int = 256) -> list[dict]:
        return task_kind(self.task).probabilities(self.logits(texts, batch_size), self.labels, self.label_meta)

    def predict(self, texts: Sequence[Example], batch_size: int = 256) -> list[dict]:
        return task_kind(self.task).predictions(self.logits(texts, batch_size), self.labels, self.label_meta)


class _TeacherTokens:
    """A loaded teacher's pad id, and its ``tokenizers`` backend when asked (fast tokenizers only)."""

    def __init__(self, teacher):
        self.teacher = teacher
        self.pad_id = teacher.pad_id

    @property
    def backend(self):
        from taskdistil.students.tokenizer import WordPieceTokenizer

        return WordPieceTokenizer.from_teacher(self.teacher.tokenizer, self.teacher.max_length).backend


class EncodedWords(list):
    """Id lists of a word-level model's inputs (its windows, as the exam times them), with their word alignment
    (``encoding``: ``taskdistil.tasks.words.WordEncoding``)."""

    encoding: object


class WordPredictor(Predictor):
    """A word-level (token tagging) model: ``predict(sentences)`` returns per sentence ``{"tags": [...], "spans":
    [{"type", "start", "end"}, ...]}`` (tags in the training data's scheme; spans over word indices, end exclusive);
    ``logits`` / ``predict_proba`` per sentence a (n_words, C) array. A sentence is a list of words or a text
    (split on whitespace). A CRF tagger (``decoding``: its saved transition scores) predicts the Viterbi path of its
    per-word logits (``taskdistil.tasks.tagging_crf``, in numpy: the same in every runtime): ``outputs`` are then
    those paths as one-hot rows, ``logits`` the emissions and ``predict_proba`` their per-word softmax."""

    def __init__(self, forward, backend, max_length: int | None, label_meta: dict, *args, decoding: dict | None = None):
        super().__init__(forward, None, *args)
        self.backend = backend
        self.max_length = max_length
        self.label_meta = label_meta
        self.decoding = decoding

    def encode(self, sentences: Sequence) -> EncodedWords:
        kind = task_kind(self.task)
        encoding = kind.encode_words(self.backend, kind.as_inputs(sentences), self.max_length)
        out = EncodedWords(piece.ids for piece in encoding.pieces)
        out.encoding = encoding
        return out

    def outputs(self, encoded: EncodedWords, batch_size: int = 256, labels: Sequence[str] | None = None) -> list:
        """Per sentence its words' logits (a CRF tagger: its decoded tags, one-hot), columns in ``labels`` order."""
        outputs = self._emissions(encoded, batch_size)
        if self.decoding is not None:
            from taskdistil.tasks.tagging_crf import decode

            outputs = decode(outputs, self.decoding)
        if labels is None:
            return outputs
        order = [self.labels.index(label) for label in labels]
        return [o[:, order] for o in outputs]

    def _emissions(self, encoded: EncodedWords, batch_size: int) -> list[np.ndarray]:
        from taskdistil.word_inference import word_logits

        return word_logits(self._forward, encoded.encoding, self.pad_id, batch_size, pad=self._pad)

    def logits(self, sentences: Sequence, batch_size: int = 256) -> list[np.ndarray]:
        return self._emissions(self.encode(sentences), batch_size)

    def predict_proba(self, sentences: Sequence, batch_size: int = 256) -> list[np.ndarray]:
        return [softmax(o) for o in self.logits(sentences, batch_size)]

    def predict(self, sentences: Sequence, batch_size: int = 256) -> list[dict]:
        kind = task_kind(self.task)
        inputs = kind.as_inputs(sentences)
        # outputs: a CRF tagger's decoded paths; the emissions otherwise
        return kind.predictions(self.outputs(self.encode(inputs), batch_size), self.labels, self.label_meta,
                                inputs=inputs)
