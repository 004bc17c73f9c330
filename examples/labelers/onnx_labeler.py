"""An external-teacher labeler for ``teacher.command``: an exported ONNX classifier run by onnxruntime, no network.

    teacher:
      command: python examples/labelers/onnx_labeler.py runs/sst2/export/teacher/model

taskdistil starts it once per shard of texts: it reads JSONL lines ``{"text": "..."}`` (``"text": [a, b]`` for a
sentence pair) on stdin and writes, on stdout, a labels header ``{"labels": [...]}`` and then one line
``{"text": ..., "logits": [...]}`` per input line, in order (README, "External teachers"). Anything on stderr is
shown by taskdistil if the labeler fails (exit status != 0).

MODEL_DIR is any directory with ``model.onnx`` (inputs ``input_ids`` and ``attention_mask``, output logits),
``tokenizer.json`` (a Hugging Face ``tokenizers`` file with its [CLS]/[SEP] post-processor) and the label names in
``export.json`` or ``taskdistil.json`` (``"labels"``), or given with ``--labels``: e.g. a taskdistil export of a
BERT-family teacher (``taskdistil export CONFIG``) or a model exported by another framework. Needs only numpy,
onnxruntime and tokenizers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def read_labels(model_dir: Path, given: str | None) -> list[str]:
    if given:
        return given.split(",")
    for name in ("export.json", "taskdistil.json"):
        if (model_dir / name).is_file():
            return [str(x) for x in json.loads((model_dir / name).read_text())["labels"]]
    sys.exit(f"{model_dir}: no export.json or taskdistil.json with the labels; pass --labels a,b,...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--labels", default=None, help="comma-separated label names in the model's output order")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(args.max_length)
    tokenizer.no_padding()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(args.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    pad = tokenizer.token_to_id("[PAD]") or 0

    texts = [json.loads(line)["text"] for line in sys.stdin if line.strip()]
    out = sys.stdout
    out.write(json.dumps({"labels": read_labels(args.model_dir, args.labels)}) + "\n")
    for start in range(0, len(texts), args.batch_size):
        batch = texts[start:start + args.batch_size]
        encoded = [tokenizer.encode(*t) if isinstance(t, list) else tokenizer.encode(t) for t in batch]
        width = max(len(e.ids) for e in encoded)
        ids = np.full((len(batch), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for i, e in enumerate(encoded):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        logits = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]  # (B, C)
        for text, row in zip(batch, logits):
            out.write(json.dumps({"text": text, "logits": [round(float(x), 6) for x in row]}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
