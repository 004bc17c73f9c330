"""An exported model directory: the saved artifact + ``model.onnx`` + ``model.int8.onnx`` + ``export.json``.

The directory loads with ``taskdistil.load(path, runtime=...)`` in any of the three
runtimes. ``export.json`` records where it came from and the fp32 parity check: the
largest |logit difference| between ONNX and PyTorch on real texts must be <= 1e-4.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnxruntime
import torch

from taskdistil import __version__
from taskdistil.artifact import ONNX_FILES, load
from taskdistil.errors import ArtifactError
from taskdistil.export.onnx import OPSET, export_onnx, max_abs_diff, quantize_int8
from taskdistil.export.runtime import OnnxForward
from taskdistil.io import sha256_file, write_json
from taskdistil.train.batching import example_length

EXPORT_META = "export.json"
PARITY_TOLERANCE = 1e-4


def _weights_file(model_dir: Path) -> Path:
    return Path(model_dir) / "model.safetensors"


def _trace_example(encoded: Sequence) -> list:
    """Three texts of different lengths (padding present), so no shape is traced as a constant."""
    by_length = sorted(encoded, key=example_length)
    return [by_length[0], by_length[len(by_length) // 2], by_length[-1]]


def export_model(source_dir: Path, out_dir: Path, sample_texts: Sequence) -> dict:
    """Copy ``source_dir`` to ``out_dir`` and add the ONNX fp32 and int8 files; returns export.json."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if not sample_texts:
        raise ArtifactError(f"{source_dir}: export needs sample texts for tracing and the parity check")
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source_dir, tmp)
    try:
        meta = _export_into(source_dir, tmp, sample_texts)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return meta


def _export_into(source_dir: Path, tmp: Path, sample_texts: Sequence) -> dict:
    predictor = load(tmp)
    encoded = predictor.encode(sample_texts)
    fp32 = export_onnx(predictor.model, tmp / ONNX_FILES["onnx"], _trace_example(encoded), predictor.pad_id)
    onnx.checker.check_model(str(fp32))
    int8 = quantize_int8(fp32, tmp / ONNX_FILES["onnx-int8"])
    threads = torch.get_num_threads()
    diff = max_abs_diff(predictor.forward, OnnxForward(fp32, threads), encoded, predictor.pad_id)
    diff_int8 = max_abs_diff(predictor.forward, OnnxForward(int8, threads), encoded, predictor.pad_id)
    if diff > PARITY_TOLERANCE:
        raise ArtifactError(f"{source_dir}: ONNX export differs from PyTorch by {diff:.2e} in logits "
                            f"(tolerance {PARITY_TOLERANCE:.0e}) on {len(encoded)} texts; not exported")
    meta = {
        "source": str(source_dir), "source_weights_sha256": sha256_file(_weights_file(source_dir)),
        "kind": predictor.kind, "labels": predictor.labels, "opset": OPSET,
        "parity": {"texts": len(encoded), "onnx_max_abs_diff": diff, "onnx_int8_max_abs_diff": diff_int8,
                   "tolerance": PARITY_TOLERANCE},
        "files": {"torch": "model.safetensors", **ONNX_FILES},
        "versions": {"taskdistil": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__},
    }
    write_json(tmp / EXPORT_META, meta)
    return meta


def runtime_size_bytes(model_dir: Path, runtime: str) -> int:
    """Bytes a deployment of one runtime ships: tokenizer/config files + that runtime's weights file."""
    model_dir = Path(model_dir)
    weights = {"torch": "model.safetensors", **ONNX_FILES}
    others = set(weights.values()) - {weights[runtime]}
    skip = others | {EXPORT_META, "README.md"}
    return sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file() and p.name not in skip)
