"""ONNX export (dynamic batch and length), int8 dynamic quantization, onnxruntime inference.

Every model exports as ``(input_ids, attention_mask) -> logits``, both inputs int64 ``(batch, length)``, the
logits ``(batch, C)`` or, for word-level task kinds (token tagging), per token ``(batch, length, C)`` (the words'
rows are picked outside the graph, ``taskdistil.word_inference``); for a siamese student (sentence pairs)
``batch`` is 2B for B pairs, the first texts stacked over the second texts (``taskdistil.students.pairs``), and the
logits (B, C). Students provide ``export_forward`` where their training forward has shape-dependent branches (the
BiLSTM's packing); others export their ``forward`` as is.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from taskdistil.train.batching import pad_ids

OPSET = 17
INPUTS = ("input_ids", "attention_mask")


class _Logits(nn.Module):
    """``(ids, mask) -> logits`` around a student or a Hugging Face sequence classifier."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if hasattr(self.model, "export_forward"):
            return self.model.export_forward(input_ids, attention_mask)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return out.logits if hasattr(out, "logits") else out


def export_onnx(model: nn.Module, path: Path, example: Sequence[Sequence[int]], pad_id: int) -> Path:
    """Write ``model`` to ``path`` as ONNX with dynamic batch and length axes.

    ``example`` (a few encoded texts of unequal length) is what the graph is traced with.
    """
    path = Path(path)
    was_training = model.training
    wrapper = _Logits(model).eval()
    ids, mask = pad_ids(example, pad_id)
    with torch.no_grad():
        per_token = wrapper(ids, mask).dim() == 3  # (B, T, C): token tagging
    logits_axes = {0: "batch", 1: "length"} if per_token else {0: "batch"}
    tmp = path.with_name(path.name + ".tmp")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, (ids, mask), str(tmp), input_names=list(INPUTS), output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
                              "logits": logits_axes},
                opset_version=OPSET, dynamo=False, do_constant_folding=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    return path


# Quantized: matrix products, LSTMs and embedding lookups. Not Conv: onnxruntime's ConvInteger
# ran a Kim CNN 2.9x slower than fp32 Conv on CPU here (bench/results/exam_sst2_per_tensor_int8.json).
INT8_OPS = ["MatMul", "Gemm", "LSTM", "Attention", "Gather"]


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantization (weights int8 per output channel, activations quantized at run time).

    Per-channel scales: with one scale per tensor the MiniLM teacher lost 1.5 points on SST-2
    test and a small BiLSTM 0.6; per channel, 0.0 (+0.2) and 0.3 (bench/exam.py, BENCHMARKS.md).
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = Path(target)
    tmp = target.with_name(target.name + ".tmp")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice ("consider pre-processing") goes to the root logger
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=INT8_OPS)
        os.replace(tmp, target)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
    return target


def max_abs_diff(reference, candidate, encoded: Sequence[Sequence[int]], pad_id: int, batch_size: int = 64) -> float:
    """Largest |logit difference| between two forwards over ``encoded`` (batched, padded; per-token logits
    (B, T, C) at real tokens only: what a padding position computes is never read)."""
    worst = 0.0
    with torch.inference_mode():
        for i in range(0, len(encoded), batch_size):
            ids, mask = pad_ids(encoded[i:i + batch_size], pad_id)
            a = reference(ids, mask).float()
            b = candidate(ids, mask).float()
            diff = (a - b).abs()
            if diff.dim() == 3:
                diff = diff[mask.bool()]
            worst = max(worst, float(diff.max()))
    return worst
