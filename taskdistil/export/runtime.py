"""onnxruntime inference of an exported model, without PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taskdistil.errors import ArtifactError


class OnnxForward:
    """An onnxruntime session as a ``Forward``: ``(ids, mask) -> logits``.

    Numpy inputs give numpy logits (no PyTorch anywhere); torch tensors give a torch tensor,
    so the exam can time it beside PyTorch models on the same batches.
    """

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"{path}: no such ONNX file; export the model first (`taskdistil export`)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise ArtifactError(f"{path}: onnxruntime cannot load it ({err})") from None
        self.path = path
        self.threads = threads

    def __call__(self, ids, mask):
        if isinstance(ids, np.ndarray):
            return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        import torch

        feed = {"input_ids": np.ascontiguousarray(ids.numpy(), dtype=np.int64),
                "attention_mask": np.ascontiguousarray(mask.numpy(), dtype=np.int64)}
        return torch.from_numpy(self.session.run(None, feed)[0])
