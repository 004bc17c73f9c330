"""Exam report as one self-contained HTML page: recommendation, plots (embedded PNG) and the full table."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from taskdistil.exam.plots import quality_latency_plot, size_memory_plot
from taskdistil.exam.recommend import describe_budgets, recommend
from taskdistil.exam.verdict import format_interval, verdict_lines
from taskdistil.io import atomic_write_text

DASH = "&mdash;"
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 24px 0 8px; }
p.method { color: #444; max-width: 1100px; }
.rec { border: 1px solid #9ac59a; background: #f1f8f1; padding: 10px 14px; border-radius: 6px; max-width: 1100px; }
.rec.none { border-color: #d9a0a0; background: #fbf1f1; }
.rec ul { margin: 6px 0 0; padding-left: 20px; font-size: 13px; }
img.plot { display: block; max-width: 100%; height: auto; margin: 8px 0; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; min-width: 48px; max-width: 110px; vertical-align: bottom; }
td.text { text-align: left; } .wide { overflow-x: auto; max-width: 100%; }
tr.teacher td { background: #f1f5fb; } tr.reference td { background: #f6f6f6; color: #555; }
tr.chosen td { background: #e3f4e3; font-weight: 600; } tr.baseline td { background: #fdf6e3; color: #555; }
"""
# Sets <body data-plots="N">: the number of images that decoded (a headless --dump-dom shows it).
SCRIPT = """
window.addEventListener("load", function () {
  var ok = Array.prototype.filter.call(document.images, function (img) {
    return img.complete && img.naturalWidth > 0;
  });
  document.body.dataset.plots = String(ok.length);
});
"""


def _fmt(value: float | None, spec: str, scale: float = 1.0, suffix: str = "") -> str:
    return DASH if value is None else escape(f"{value * scale:{spec}}{suffix}")


def _get(tree: dict | None, *keys: str) -> object:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def _img(png: bytes, ident: str, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" id="{ident}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _sizes(report: dict, threads: list[str]) -> tuple[str, list[str]]:
    """The thread count for the batch-1 columns ("1" if timed) and the throughput batch sizes (32, 256)."""
    batch_sizes = {str(b) for b in _get(report, "timing", "batch_sizes") or []}
    if not batch_sizes:
        batch_sizes = {b for m in report.get("models", []) for t in (m.get("latency") or {}).values() for b in t}
    main = "1" if "1" in threads else (threads[0] if threads else "1")
    wanted = [b for b in ("32", "256") if b in batch_sizes]
    return main, wanted or sorted((b for b in batch_sizes if b != "1"), key=int)


def _threads(report: dict) -> list[str]:
    threads = [str(t) for t in _get(report, "timing", "threads") or []]
    if not threads:
        threads = sorted({t for m in report.get("models", []) for t in (m.get("latency") or {})}, key=float)
    return threads


def _method(report: dict) -> str:
    test, timing = report.get("test") or {}, report.get("timing") or {}
    parts = []
    if test:
        parts.append(f"Test split: {test.get('source', '?')} ({test.get('examples', '?')} examples).")
    if timing:
        ref = timing.get("reference_batch_sizes")
        parts.append(
            f"Latency: CPU, thread counts {timing.get('threads')}, batch sizes {timing.get('batch_sizes')}"
            + (f" (the size reference only at {ref})" if ref else "")
            + f"; {timing.get('warmup')} warm-up batches, then up to {timing.get('max_batches')} timed batches "
            f"or {timing.get('max_seconds')} s per model and setting; inputs: {timing.get('inputs')}. "
            "p50/p95 are per-batch wall times; throughput is examples per second; "
            "speed-up = other model's ms / this model's ms at batch 1 (same run).")
    parts.append("Retention = primary metric / the PyTorch teacher's.")
    parts += verdict_lines(report)
    return escape(" ".join(parts))


def _recommendation(rec: dict) -> str:
    given = describe_budgets(rec.get("budgets") or {}) or "none given"
    chosen = rec.get("chosen")
    lines = [f'<div class="rec{"" if chosen else " none"}" id="recommendation">',
             f"<strong>Recommended: {escape(chosen) if chosen else 'none'}</strong>",
             f"<p>{escape(rec.get('reason', ''))}</p>", f"<div>Budgets: {escape(given)}</div>"]
    rejected = rec.get("rejected") or {}
    if rejected:
        lines.append("<ul>" + "".join(f"<li>{escape(label)}: {escape(why)}</li>" for label, why in rejected.items())
                     + "</ul>")
    lines.append("</div>")
    return "\n".join(lines)


def _table(report: dict, chosen: int | None) -> str:
    metric, threads = report.get("primary_metric", "metric"), _threads(report)
    main, throughput = _sizes(report, threads)
    verdict = bool(report.get("intervals"))
    head = ["model", "role", "runtime", f"{metric} %", "quality mean ± std (seeds)", "retention"]
    head += ["vs majority pts [95% CI]", "vs teacher pts [95% CI]", "fidelity % [95% CI]", "scored"] if verdict else []
    head += ["params", "params w/o emb.", "disk MB", "peak RSS MB", f"bs1 p50 ms ({main}t)", f"bs1 p95 ms ({main}t)"]
    head += [f"bs{b} /s ({t}t)" for t in threads for b in throughput]
    head += [f"× vs teacher ({main}t bs1)", "× vs teacher's fastest", "× vs reference"]
    out = ['<div class="wide"><table id="models">',
           "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    if verdict:
        majority = report["baselines"]["majority"]
        cells = [f'<td class="text">{escape(majority["name"])} ({escape(majority["label"])})</td>',
                 '<td class="text">baseline</td>', f"<td>{DASH}</td>",
                 f"<td>{_fmt(majority['metrics'].get(metric), '.2f', 100)}</td>"]
        out.append('<tr class="baseline">' + "".join(cells) + f"<td>{DASH}</td>" * (len(head) - len(cells)) + "</tr>")
    for i, m in enumerate(report.get("models", [])):
        quality = m.get("quality") or {}
        value = _get(m, "metrics", metric)
        mean_std = DASH if quality.get("mean") is None else escape(
            f"{100 * quality['mean']:.2f} ± {100 * (quality.get('std') or 0):.2f} ({quality.get('seeds', '?')})")
        peak = _get(m, "memory", "peak_rss_bytes")
        role = m.get("role", "") + (" (no teacher)" if m.get("baseline") == "no-teacher" else "")
        cells = [f'<td class="text">{escape(str(v))}</td>' for v in (m.get("label", ""), role, m.get("runtime", ""))]
        cells += [_fmt(value, ".2f", 100), mean_std, _fmt(m.get("retention"), ".1f", 100, "%")]
        if verdict:
            cells += [escape(format_interval(m.get(key), field, signed)).replace("–", DASH) for key, field, signed in
                      (("vs_majority", "difference", True), ("vs_teacher", "difference", True),
                       ("fidelity", "agreement", False))]
            cells.append(f'<td class="text">{escape(m.get("scored") or "")}</td>')
        cells += [_fmt(m.get("parameters"), ",.0f"), _fmt(m.get("parameters_without_embeddings"), ",.0f"),
                  _fmt(m.get("disk_bytes"), ".1f", 1e-6), _fmt(peak, ".0f", 1e-6),
                  _fmt(_get(m, "latency", main, "1", "p50_ms"), ".3f"),
                  _fmt(_get(m, "latency", main, "1", "p95_ms"), ".3f")]
        cells += [_fmt(_get(m, "latency", t, b, "throughput_per_s"), ",.0f") for t in threads for b in throughput]
        cells += [_fmt(_get(m, "ratios", key, main, "1"), ".2f", suffix="×")
                  for key in ("vs_teacher", "vs_teacher_fastest", "vs_reference")]
        cells = [c if c.startswith("<td") else f"<td>{c}</td>" for c in cells]
        classes = " ".join(c for c in (escape(str(m.get("role", ""))), "chosen" if i == chosen else "") if c)
        out.append(f'<tr class="{classes}">' + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table></div>"]
    return "\n".join(out)


def _stages(report: dict) -> str:
    stages = report.get("stage_seconds") or {}
    if not stages:
        return ""
    rows = "".join(f'<tr><td class="text">{escape(str(k))}</td><td>{_fmt(v, ".1f")}</td></tr>'
                   for k, v in stages.items())
    total = sum(v for v in stages.values() if isinstance(v, (int, float)))
    return ("<h2>Stage times</h2>\n<table id=\"stages\"><thead><tr><th>stage</th><th>seconds</th></tr></thead>"
            f"<tbody>{rows}<tr><td class=\"text\"><strong>total</strong></td><td>{total:.1f}</td></tr></tbody></table>")


def render_html(report: dict) -> str:
    """The whole report as one HTML document with no external resources (plots are inline data: URIs)."""
    rec = report.get("recommendation")
    if rec is None:
        budgets = report.get("budgets") or {}
        rec = recommend(report, budgets.get("max_latency_ms"), budgets.get("max_size_mb"), budgets.get("min_retention"))
        report = {**report, "recommendation": rec}
    metric = report.get("primary_metric", "metric")
    title = f"Exam: {report.get('run', '')}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="method">{_method(report)}</p>',
        "<h2>Recommendation</h2>", _recommendation(rec),
        f"<h2>{escape(metric)} vs latency</h2>",
        _img(quality_latency_plot(report), "plot-quality-latency",
             f"{metric} (%) against batch-1 median latency (ms, log scale) for every model, Pareto frontier marked"),
        "<h2>Size and memory</h2>",
        _img(size_memory_plot(report), "plot-size-memory", "disk size and peak RSS (MB) per model"),
        "<h2>All models</h2>", _table(report, rec.get("row")), _stages(report),
    ]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        *[part for part in body if part], f"<script>{SCRIPT}</script>", "</body>", "</html>", ""])


def write_html(run_dir: Path, report: dict) -> Path:
    """Write ``report.html`` in ``run_dir`` atomically; returns its path."""
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, render_html(report))
    return path
