"""Peak memory of encoding a whole transfer set with the student's WordPiece tokenizer: in chunks or in one call.

A student's fit encodes every text of its transfer set before training. The fast ``tokenizers`` backend returns
one ``Encoding`` per text (tokens, offsets, masks besides the ids), so one ``encode_batch`` call over a million
texts holds gigabytes at once; taskdistil encodes ``ENCODE_CHUNK`` texts per call and keeps only the ids.
Each setting runs in a fresh child process (peak RSS is per process): read the texts of a run's
``transfer/examples.jsonl``, build the tokenizer from the run's teacher, encode all texts, report peak RSS and
seconds. The ids of both settings are compared by checksum. Writes bench/results/tokenizer_memory.json.

    python bench/tokenizer_memory.py --run-dir runs/sst2-transfer-both   # 971,939 texts
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.io import read_json, write_json  # noqa: E402


def encode_in_this_process(run_dir: Path, chunk: int) -> dict:
    """Encode every transfer-set text of ``run_dir`` with ``chunk`` texts per backend call (0: one call)."""
    from transformers import AutoTokenizer

    from taskdistil.students import tokenizer as tokenizer_module

    with (run_dir / "transfer" / "examples.jsonl").open() as fh:
        texts = [json.loads(line)["text"] for line in fh]
    hf = AutoTokenizer.from_pretrained(run_dir / "teacher" / "model")
    tokenizer = tokenizer_module.WordPieceTokenizer.from_teacher(hf, max_length=128)
    tokenizer_module.ENCODE_CHUNK = chunk or len(texts)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    ids = tokenizer.encode(texts)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256()
    for row in ids:
        digest.update(len(row).to_bytes(2, "little") + b"".join(i.to_bytes(4, "little") for i in row))
    return {"texts": len(texts), "chunk": tokenizer_module.ENCODE_CHUNK, "seconds": round(seconds, 1),
            "peak_rss_mb_before_encoding": round(rss_before), "ids_sha256": digest.hexdigest(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, required=True, help="a run whose transfer and teacher stages ran")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tokenizer_memory.json")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(encode_in_this_process(args.run_dir, args.child)))
        return
    from taskdistil.students.tokenizer import ENCODE_CHUNK

    settings = {}
    for name, chunk in (("chunked", ENCODE_CHUNK), ("one_call", 0)):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, __file__, "--run-dir", str(args.run_dir), "--child", str(chunk)],
                              capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise SystemExit(f"encoding with chunk {chunk} failed:\n{done.stderr[-2000:]}")
        settings[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(name, settings[name], flush=True)
    result = {"run_dir": str(args.run_dir), **settings,
              "same_ids": settings["chunked"]["ids_sha256"] == settings["one_call"]["ids_sha256"],
              "peak_rss_ratio": round(settings["one_call"]["peak_rss_mb"] / settings["chunked"]["peak_rss_mb"], 2)}
    merged = read_json(args.out) if args.out.is_file() else {}
    merged[args.run_dir.name] = result
    write_json(args.out, merged)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
