#!/usr/bin/env bash
# Fill .gpu/ (git-ignored) with what bench/gpu_check.sh needs on a GPU machine that gets only the working tree
# (64 MiB with it, no network): the embedded MiniLM in fp16, SST-2, 150,000 IMDB sentences (xz), and wheels of the
# Python packages such a machine lacks (pydantic and its dependencies, for CPython 3.11-3.13 on x86-64 Linux).
# Prints the folder's size and fails over 60 MiB.    TASKDISTIL_DATA=../shared/data bash bench/gpu_pack.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.gpu}
rm -rf "$OUT"
python bench/gpu_pack.py --out "$OUT" --no-manifest
PYDANTIC=$(python -c "import pydantic; print(pydantic.VERSION)")
for version in 3.11 3.12 3.13; do
    python -m pip download --quiet --only-binary=:all: --platform manylinux2014_x86_64 --implementation cp \
        --python-version "$version" --dest "$OUT/wheels" "pydantic==$PYDANTIC"
done
python bench/gpu_pack.py --manifest-only "$OUT"
du -sh "$OUT" "$OUT"/*
