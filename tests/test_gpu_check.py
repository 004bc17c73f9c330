"""bench/gpu_check.sh end to end in its --smoke mode on CPU, from packed assets shaped as bench/gpu_pack.sh leaves
them (xz data, a manifest), with the tiny random teacher standing in for the packed MiniLM."""

from __future__ import annotations

import json
import lzma
import os
import subprocess

from conftest import REPO


def test_gpu_check_smoke_runs_every_stage_and_writes_figures(tmp_path, sst2_small, tiny_teacher):
    assets = tmp_path / "assets"
    for split in ("train", "dev", "test"):
        target = assets / "data" / "sst2" / f"{split}.tsv.xz"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(lzma.compress((sst2_small / "sst2" / f"{split}.tsv").read_bytes()))
    sentences = [f"sentence number {i} about a film that was {'good' if i % 2 else 'bad'}" for i in range(600)]
    (assets / "data" / "imdb150k.txt.xz").write_bytes(lzma.compress("\n".join(sentences).encode()))
    (assets / "manifest.json").write_text("{}\n")
    out = tmp_path / "smoke.json"
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--smoke", "--device", "cpu", "--teacher",
                           str(tiny_teacher), "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1"],
                          env={**os.environ, "GPU_ASSETS": str(assets)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["measured"] and result["smoke"] and result["device"] == "cpu"
    assert result["sizes"]["by_origin"] == {"labeled": 300, "unlabeled": 500, "augmented": 0}
    assert result["annotate_examples"] == 800 and result["annotate_examples_per_s"] > 0
    assert result["teacher_examples_per_s"] > 0 and result["student_examples_per_s"] > 0
    assert 0 <= result["student_acc"] <= 1 and 0 <= result["teacher_acc"] <= 1
    assert any(line.startswith("[annotate] on cpu, fp32") for line in result["placements"])
