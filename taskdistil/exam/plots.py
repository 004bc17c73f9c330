"""Exam figures as PNG bytes: quality vs latency (with the Pareto frontier) and size / memory bars."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

from taskdistil.exam.recommend import batch1_p50_ms, pareto_front, primary_value

DPI = 110
MARKERS = {"torch": "o", "onnx": "s", "onnx-int8": "^"}
ROLE_COLORS = {"teacher": "#4c72b0", "student": "#55a868", "reference": "#8c8c8c"}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    fig.clear()  # a bare Figure is never registered with pyplot, so this frees everything
    return buf.getvalue()


def _colors(names: list[str]) -> dict[str, str]:
    palette = [f"C{i}" for i in range(10)]
    unique = list(dict.fromkeys(names))
    return {name: palette[i % len(palette)] for i, name in enumerate(unique)}


def _teacher_quality(report: dict) -> float | None:
    teachers = [m for m in report.get("models", []) if m.get("role") == "teacher"]
    teachers.sort(key=lambda m: m.get("runtime") != "torch")
    for row in teachers:
        value = primary_value(report, row)
        if value is not None:
            return value
    return None


def quality_latency_plot(report: dict) -> bytes:
    """Primary metric (%) vs batch-1 median latency (ms, log x), Pareto frontier and the recommendation marked."""
    metric = report.get("primary_metric", "metric")
    models = report.get("models", [])
    rows = [(i, batch1_p50_ms(m), primary_value(report, m)) for i, m in enumerate(models)]
    rows = [(i, x, 100 * y) for i, x, y in rows if x is not None and x > 0 and y is not None]
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "no model has both quality and latency", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _png(fig)

    colors = _colors([models[i].get("name", "") for i, _, _ in rows])
    for i, x, y in rows:
        row = models[i]
        ax.scatter(x, y, marker=MARKERS.get(row.get("runtime"), "D"), color=colors[row.get("name", "")], s=46,
                   edgecolors="black", linewidths=0.5, zorder=3)

    front = [rows[k] for k in pareto_front([(x, y) for _, x, y in rows])]
    fx, fy = [x for _, x, _ in front], [y for _, _, y in front]
    ax.step(fx, fy, where="post", color="#d62728", linewidth=1.2, alpha=0.8, zorder=2, label="Pareto frontier")
    ax.scatter(fx, fy, s=150, facecolors="none", edgecolors="#d62728", linewidths=1.2, zorder=2)

    teacher = _teacher_quality(report)
    if teacher is not None:
        ax.axhline(100 * teacher, color="#4c72b0", linestyle="--", linewidth=1, label="teacher quality")
    majority = ((report.get("baselines") or {}).get("majority") or {}).get("metrics", {}).get(metric)
    if majority is not None:
        ax.axhline(100 * majority, color="#8c8c8c", linestyle=":", linewidth=1.2, label="majority class")
    chosen = (report.get("recommendation") or {}).get("row")
    match = [(x, y) for i, x, y in rows if i == chosen]
    if match:
        ax.scatter(*match[0], s=420, facecolors="none", edgecolors="black", linewidths=2, zorder=5)
        ax.plot([], [], "o", markersize=11, markerfacecolor="none", markeredgecolor="black", markeredgewidth=2,
                label=f"recommended: {models[chosen].get('label', '')}")

    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], marker=marker, linestyle="", color="white", markeredgecolor="black", label=runtime)
                for runtime, marker in MARKERS.items() if any(models[i].get("runtime") == runtime for i, _, _ in rows)]
    ax.set_xscale("log")
    ax.margins(x=0.08, y=0.1)
    ax.set_xlabel("batch-1 median latency, ms (log scale)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(f"{metric} vs latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    _annotate(fig, ax, [(models[i].get("label", models[i].get("name", "?")), x, y) for i, x, y in rows],
              [(x, y, 12 if i == chosen else 5) for i, x, y in rows])
    return _png(fig)


# Label offsets (points) tried in order; the first whose box overlaps no earlier label and stays inside the axes wins.
OFFSETS = [((6, 4), "left"), ((6, -11), "left"), ((-6, 4), "right"), ((-6, -11), "right"),
           ((6, 12), "left"), ((-6, 12), "right"), ((6, -19), "left"), ((-6, -19), "right")]


def _annotate(fig: Figure, ax, points: list[tuple[str, float, float]],
              markers: list[tuple[float, float, float]]) -> None:
    """Label each point, nudging labels off each other and off the markers (greedy, left to right)."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    frame, scale = ax.get_window_extent(renderer), fig.dpi / 72
    placed = []
    for x, y, radius in markers:
        px, py = ax.transData.transform((x, y))
        r = radius * scale
        placed.append(Bbox.from_extents(px - r, py - r, px + r, py + r))
    for text, x, y in sorted(points, key=lambda p: (p[1], -p[2])):
        for k, (offset, ha) in enumerate(OFFSETS):
            label = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", fontsize=7, ha=ha, zorder=4)
            box = label.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if (inside and not any(box.overlaps(other) for other in placed)) or k == len(OFFSETS) - 1:
                placed.append(box)
                break
            label.remove()


def size_memory_plot(report: dict) -> bytes:
    """Two horizontal bar charts: disk size (MB) and peak RSS (MB) per model row; missing values skipped."""
    models = report.get("models", [])
    disk = [(m.get("label", "?"), m["disk_bytes"] / 1e6, m.get("role")) for m in models
            if m.get("disk_bytes") is not None]
    peak = [(m.get("label", "?"), m["memory"]["peak_rss_bytes"] / 1e6, m.get("role")) for m in models
            if (m.get("memory") or {}).get("peak_rss_bytes") is not None]
    fig = Figure(figsize=(8, max(5.0, 1.5 + 0.22 * max(len(disk), len(peak)))))
    for k, (bars, title) in enumerate([(disk, "disk size (MB)"), (peak, "peak RSS (MB)")]):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.set_title(title, fontsize=10)
        if not bars:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        ys = range(len(bars))
        ax.barh(ys, [v for _, v, _ in bars], color=[ROLE_COLORS.get(r, "#dd8452") for _, _, r in bars])
        ax.set_yticks(list(ys), [label for label, _, _ in bars], fontsize=7)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
        for y, (_, v, _) in zip(ys, bars):
            ax.annotate(f"{v:.1f}", (v, y), xytext=(2, 0), textcoords="offset points", va="center", fontsize=6)
        ax.margins(x=0.15)
    fig.tight_layout()
    return _png(fig)
