#!/usr/bin/env bash
# The device check (BENCHMARKS.md, "GPU check"): SST-2 teacher fine-tuning (1 epoch), annotation of the SST-2
# training set and 150,000 IMDB sentences, one BiLSTM student, on the GPU; writes bench/results/gpu.json.
# Needs only the working tree and .gpu/ (bench/gpu_pack.sh): no network. Arguments go to bench/gpu_check.py:
#     bash bench/gpu_check.sh                          # device cuda, full sizes (under 8 minutes on one H100)
#     bash bench/gpu_check.sh --smoke --device cpu     # tiny sizes: seconds, any machine
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${GPU_ASSETS:-.gpu}
[ -f "$ASSETS/manifest.json" ] || { echo "gpu_check: $ASSETS/manifest.json missing: run bench/gpu_pack.sh first" >&2; exit 2; }
# Python packages the machine lacks (pydantic and its parts) from the packed wheels, into a private folder
if ! python -c "import pydantic, yaml" 2>/dev/null || [ -n "${GPU_CHECK_INSTALL:-}" ]; then
    SITE=${TMPDIR:-/tmp}/taskdistil-gpu-site
    python -m pip install --quiet --no-index --find-links "$ASSETS/wheels" --target "$SITE" pydantic
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    python -c "import pydantic, yaml" || { echo "gpu_check: pydantic or PyYAML still missing" >&2; exit 2; }
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec python bench/gpu_check.py --assets "$ASSETS" "$@"
