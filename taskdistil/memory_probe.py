"""Child process of the exam's memory measurement: load one model, predict one batch, print peak
RSS as JSON. It lives outside ``taskdistil.exam`` so that its imports are only what loading needs.

``python -m taskdistil.memory_probe MODEL_DIR BATCH_JSON --runtime R --threads N``
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path


def _peak_rss_bytes() -> int:
    """Peak RSS of this process image: VmHWM (Linux), else ru_maxrss.

    ``ru_maxrss`` is not used on Linux: it carries over the parent's RSS from before
    ``exec``, so every child of a large exam process would report the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir")
    parser.add_argument("batch_file", help="JSON list of texts: the one batch to predict")
    parser.add_argument("--runtime", default="torch")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    from taskdistil.artifact import load  # numpy, tokenizers: what every runtime needs

    texts = json.loads(Path(args.batch_file).read_text(encoding="utf-8"))
    baseline = _peak_rss_bytes()
    if args.runtime == "torch":
        import torch

        torch.set_num_threads(args.threads)
    model = load(args.model_dir, runtime=args.runtime, threads=args.threads)
    model.logits(texts, batch_size=len(texts))
    print(json.dumps({"peak_rss_bytes": _peak_rss_bytes(), "baseline_rss_bytes": baseline,
                      "torch_imported": "torch" in sys.modules}))


if __name__ == "__main__":
    main()
