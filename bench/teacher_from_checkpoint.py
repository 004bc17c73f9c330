"""A teacher directory from a teacher fine-tuning checkpoint (``teacher/work/checkpoint.safetensors`` of a run that is
still training), to adopt with ``teacher.finetuned: true`` when a bench cannot wait for the fine-tuning to finish.

    python bench/teacher_from_checkpoint.py runs/sst2/teacher/work/checkpoint.safetensors runs/bench/teacher-ckpt \\
        --labels 0 1 [--base embedded:minilm-l6] [--max-length 128]

The checkpoint's ``model.*`` tensors are the classifier's weights (the optimizer state is left out); its step is
recorded in the teacher's ``origin``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.teacher.model import load_pretrained, save_teacher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--labels", nargs="+", required=True, help="the teacher's label order (the training split's)")
    parser.add_argument("--base", default="embedded:minilm-l6", help="the checkpoint the fine-tuning started from")
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    from safetensors import safe_open

    with safe_open(str(args.checkpoint), "pt") as fh:
        state = {key[len("model."):]: fh.get_tensor(key) for key in fh.keys() if key.startswith("model.")}
        step = json.loads(fh.metadata()["state"]).get("global_step")
    model, tokenizer = load_pretrained(args.base, args.labels)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise SystemExit(f"{args.checkpoint}: not a checkpoint of {args.base} (missing {missing}, unexpected "
                         f"{unexpected})")
    save_teacher(model, tokenizer, args.out, args.labels, args.max_length,
                 origin=f"{args.checkpoint} (fine-tuning step {step})")
    print(f"{args.out}: teacher at fine-tuning step {step}")


if __name__ == "__main__":
    main()
