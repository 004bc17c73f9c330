"""Exam presentation: Pareto front, budgeted recommendation, PNG plots, self-contained HTML, headless screenshot."""

from __future__ import annotations

import base64
import io
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from taskdistil.exam.html import render_html, write_html
from taskdistil.exam.plots import quality_latency_plot, size_memory_plot
from taskdistil.exam.recommend import pareto_front, recommend

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_row(name: str, role: str, runtime: str, accuracy: float | None, ms: float | None, mb: float | None,
             teacher_ms: float = 10.0, threads: tuple[str, ...] = ("1", "2")) -> dict:
    """One report row shaped like the exam's; latency at bs 1/32/256 scales from the batch-1 median."""
    latency = {t: {str(b): {"batch_size": b, "threads": int(t), "p50_ms": ms * b / int(t), "p95_ms": 1.2 * ms * b,
                            "ms_per_example": ms / int(t), "throughput_per_s": 1000 * int(t) / ms,
                            "timed_batches": 30} for b in (1, 32, 256)} for t in threads} if ms else {}
    quality = None if accuracy is None else {"mean": accuracy, "std": 0.004, "seeds": 3, "members": [name]}
    return {"name": name, "role": role, "kind": name, "runtime": runtime, "label": f"{name} ({runtime})",
            "path": f"runs/x/export/{name}", "metrics": None if accuracy is None else {"accuracy": accuracy},
            "quality": quality, "retention": None if accuracy is None else accuracy / 0.90,
            "parameters": 1_000_000, "parameters_without_embeddings": 200_000,
            "disk_bytes": None if mb is None else int(mb * 1e6),
            "memory": None if mb is None else {"peak_rss_bytes": int(40e6 + mb * 1e6), "baseline_rss_bytes": 30e6,
                                               "batch_size": 32},
            "latency": latency,
            "ratios": {"vs_teacher": {t: {"1": teacher_ms / ms} for t in threads}} if ms else {}}


def make_report() -> dict:
    """Teacher 0.90 @ 10 ms; students: cnn 0.85 @ 0.5 ms 8 MB, bilstm 0.88 @ 2 ms 40 MB / 0.878 @ 1 ms 12 MB."""
    models = [make_row("teacher", "teacher", "torch", 0.90, 10.0, 90.0),
              make_row("tiny<cnn>", "student", "torch", 0.85, 0.5, 8.0),
              make_row("bilstm", "student", "torch", 0.88, 2.0, 40.0),
              make_row("bilstm", "student", "onnx-int8", 0.878, 1.0, 12.0),
              make_row("bert-base-reference", "reference", "torch", None, 60.0, None)]
    return {"run": "demo & co", "task": "single_sentence", "primary_metric": "accuracy",
            "test": {"source": "data/test.tsv", "examples": 500},
            "timing": {"threads": [1, 2], "batch_sizes": [1, 32, 256], "warmup": 5, "max_batches": 50,
                       "max_seconds": 2.0, "reference_batch_sizes": [1, 32], "inputs": "test texts in file order"},
            "budgets": {"max_latency_ms": None, "max_size_mb": None, "min_retention": None},
            "models": models, "stage_seconds": {"teacher": 100.0, "exam": 20.0}}


def assert_png(data: bytes, min_size: tuple[int, int] = (400, 300)) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.width >= min_size[0] and image.height >= min_size[1]
    pixels = np.asarray(image.convert("RGB"))
    assert (pixels < 240).any(axis=-1).mean() > 0.02, "plot is (nearly) blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, "plot has too few colours to be a chart"
    return image


def test_pareto_front_drops_dominated_points_and_keeps_exact_ties():
    points = [(1.0, 0.5), (2.0, 0.9), (2.0, 0.8), (3.0, 0.9), (0.5, 0.4), (1.0, 0.5), (4.0, 0.95)]
    # (2, 0.8) loses to (2, 0.9) on quality alone; (3, 0.9) loses to (2, 0.9) on latency alone;
    # the two identical (1, 0.5) points don't dominate each other, so both stay.
    assert pareto_front(points) == [4, 0, 5, 1, 6]
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 0.1)]) == [0]


def test_recommend_without_budgets_picks_best_student_and_never_teacher_or_reference():
    report = make_report()
    rec = recommend(report, None, None, None)
    assert rec["chosen"] == "bilstm (torch)" and rec["row"] == 2  # the teacher (0.90) is not a candidate
    assert "no budgets were given" in rec["reason"].lower()
    assert set(rec["candidates"]) == {"tiny<cnn> (torch)", "bilstm (torch)", "bilstm (onnx-int8)"}
    assert rec["rejected"] == {}


def test_recommend_breaks_quality_ties_by_latency_then_size():
    report = make_report()
    report["models"][3]["metrics"]["accuracy"] = 0.88  # now ties with bilstm (torch), and is 2x faster
    assert recommend(report)["chosen"] == "bilstm (onnx-int8)"
    report["models"][3]["latency"] = report["models"][2]["latency"]  # same speed: the smaller one wins
    assert recommend(report)["chosen"] == "bilstm (onnx-int8)"


def test_recommend_under_budgets_reports_figures():
    rec = recommend(make_report(), max_latency_ms=1.5, max_size_mb=20, min_retention=0.9)
    assert rec["chosen"] == "bilstm (onnx-int8)" and rec["row"] == 3
    assert rec["candidates"] == ["tiny<cnn> (torch)", "bilstm (onnx-int8)"]
    assert "latency" in rec["rejected"]["bilstm (torch)"] and "size" in rec["rejected"]["bilstm (torch)"]
    for figure in ("87.80%", "97.6%", "1.00 ms", "12.0 MB", "10.0x"):
        assert figure in rec["reason"], (figure, rec["reason"])
    assert rec["budgets"] == {"max_latency_ms": 1.5, "max_size_mb": 20, "min_retention": 0.9}


@pytest.mark.parametrize("budget, value, excluded, chosen", [
    ("max_latency_ms", 0.8, {"bilstm (torch)", "bilstm (onnx-int8)"}, "tiny<cnn> (torch)"),
    ("max_size_mb", 30, {"bilstm (torch)"}, "bilstm (onnx-int8)"),
    ("min_retention", 0.96, {"tiny<cnn> (torch)"}, "bilstm (torch)"),
])
def test_each_budget_alone_excludes_exactly_the_students_over_it(budget, value, excluded, chosen):
    rec = recommend(make_report(), **{budget: value})
    assert set(rec["rejected"]) == excluded and rec["chosen"] == chosen
    word = {"max_latency_ms": "latency", "max_size_mb": "size", "min_retention": "retention"}[budget]
    assert all(why.startswith(word) for why in rec["rejected"].values())


def test_recommend_impossible_budgets_explains_the_closest_student_per_budget():
    rec = recommend(make_report(), max_latency_ms=0.1, max_size_mb=1, min_retention=0.99)
    assert rec["chosen"] is None and rec["row"] is None and rec["candidates"] == []
    assert rec["reason"].startswith("No student meets the budgets")
    assert "closest on latency: tiny<cnn> (torch)" in rec["reason"]  # 0.5 ms is nearest to 0.1 ms
    assert "closest on size: tiny<cnn> (torch)" in rec["reason"]  # 8 MB is nearest to 1 MB
    assert "closest on retention: bilstm (torch)" in rec["reason"]  # 97.8% is nearest to 99%
    assert len(rec["rejected"]) == 3


def test_recommend_falls_back_to_the_smallest_thread_count():
    report = make_report()
    report["models"] = [make_row("solo", "student", "onnx", 0.8, 3.0, 5.0, threads=("2", "4"))]
    # No 1-thread timing: the 2-thread one (3.0 / 2 = 1.5 ms) is used, not the faster 4-thread one (0.75 ms).
    assert recommend(report, max_latency_ms=1.5)["chosen"] == "solo (onnx)"
    assert recommend(report, max_latency_ms=1.4)["chosen"] is None


def test_plots_are_real_pngs():
    report = make_report()
    report["recommendation"] = recommend(report, max_latency_ms=1.5)
    quality = assert_png(quality_latency_plot(report))
    assert quality.size == (880, 550)  # 8 x 5 in at 110 dpi
    assert_png(size_memory_plot(report))
    # Degenerate inputs still give a readable image instead of raising.
    empty = {"primary_metric": "accuracy", "models": [report["models"][-1]]}
    for data in (quality_latency_plot(empty), size_memory_plot(empty)):
        assert Image.open(io.BytesIO(data)).format == "PNG"


def test_render_html_is_self_contained_escaped_and_embeds_both_plots():
    report = make_report()
    report["recommendation"] = recommend(report, max_latency_ms=1.5, max_size_mb=20)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I), "external resource"
    assert "<link" not in page and not re.search(r"<script[^>]*\bsrc=", page)
    for ident in ("plot-quality-latency", "plot-size-memory"):
        tag = re.search(rf'<img[^>]*\bid="{ident}"[^>]*>', page)
        assert tag and re.search(r'\balt="[^"]+"', tag.group(0))
        data = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag.group(0))
        assert_png(base64.b64decode(data.group(1), validate=True))
    assert "tiny&lt;cnn&gt; (torch)" in page and "tiny<cnn>" not in page
    assert "<h1>Exam: demo &amp; co</h1>" in page
    for row in report["models"]:
        assert row["label"].replace("<", "&lt;").replace(">", "&gt;") in page
    assert "Recommended: bilstm (onnx-int8)" in page and "document.body.dataset.plots" in page
    assert re.search(r'<tr class="student chosen"><td class="text">bilstm \(onnx-int8\)</td>', page)
    assert "data/test.tsv" in page and "500 examples" in page and "Stage times" in page


def test_render_html_computes_a_recommendation_from_report_budgets_when_missing():
    report = make_report()
    report["budgets"] = {"max_latency_ms": 0.01, "max_size_mb": None, "min_retention": None}
    page = render_html(report)
    assert "Recommended: none" in page and "No student meets the budgets" in page
    assert "recommendation" not in report  # the caller's dict is left alone


def test_write_html_writes_report_html(tmp_path):
    report = make_report()
    path = write_html(tmp_path / "run", report)
    assert path == tmp_path / "run" / "report.html"
    assert path.read_text(encoding="utf-8") == render_html(report)
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temp file left behind


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's `chromium` package for a headless render")
def test_headless_chromium_renders_both_plots(tmp_path):
    from taskdistil.exam.screenshot import screenshot_report

    report = make_report()
    report["recommendation"] = recommend(report, max_latency_ms=1.5)
    html_path = write_html(tmp_path, report)
    result = screenshot_report(html_path, tmp_path / "report.png", timeout=30)
    assert result["plots_decoded"] == result["expected_plots"] == 2
    assert result["ok"], result
    assert (result["width"], result["height"]) == (1280, 2400) and result["nonwhite_fraction"] > 0.02
