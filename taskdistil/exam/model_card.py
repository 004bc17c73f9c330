"""Model cards: a README.md in every exported directory, from the run's config and the exam's figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from taskdistil.io import atomic_write_text, read_json

if TYPE_CHECKING:
    from taskdistil.run_dir import Run


def render_model_card(name: str, rows: list[dict], report: dict, recipe: dict | None, data: dict, teacher: dict,
                      labels: list[str]) -> str:
    primary = report["primary_metric"]
    t1 = str(min(report["timing"]["threads"]))
    kind = rows[0]["kind"]
    example = ('[("the first sentence", "the second sentence")]' if report["task"] == "sentence_pair"
               else '["a text to classify"]')
    lines = [f"# {name}", "",
             f"A taskdistil {'teacher' if kind == 'teacher' else kind + ' student'} for "
             f"{report['task'].replace('_', ' ')} classification, run `{report['run']}`.", "",
             "```python", "import taskdistil", "",
             'model = taskdistil.load(".")                      # PyTorch',
             'model = taskdistil.load(".", runtime="onnx-int8")  # or "onnx": onnxruntime, no PyTorch weights',
             f"model.predict({example})", "```", "",
             "## Task and data", "",
             f"- labels: {', '.join(f'`{label}`' for label in labels)}",
             f"- train: `{data['train']}`; dev (model selection): `{data['dev']}`; test (exam): "
             f"`{report['test']['source']}` ({report['test']['examples']} examples)", ""]
    origin = teacher.get("outputs") or teacher.get("command") or teacher["model"]  # an external one: its source
    lines += ["## Teacher", "", f"- `{origin}`, max length {teacher['max_length']}", ""]
    if recipe is not None:
        lines += ["## Recipe", "", "```yaml", yaml.safe_dump(recipe, sort_keys=False).rstrip(), "```", ""]
    lines += ["## Exam", "",
              f"| runtime | {primary} | retention | disk MB | peak RSS MB | bs1 p50 ms (t{t1}) | vs teacher (PyTorch) "
              "| vs teacher's fastest runtime |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lat = r["latency"].get(t1, {}).get("1", {})
        mem = (r.get("memory") or {}).get("peak_rss_bytes")
        vs = r["ratios"].get("vs_teacher", {}).get(t1, {}).get("1")
        vs_fast = r["ratios"].get("vs_teacher_fastest", {}).get(t1, {}).get("1")
        lines.append(f"| {r['runtime']} | {100 * r['metrics'][primary]:.2f} | {_retention(r.get('retention'))} | "
                     f"{r['disk_bytes'] / 1e6:.1f} | {'–' if mem is None else f'{mem / 1e6:.0f}'} | "
                     f"{lat.get('p50_ms', float('nan')):.2f} | {_times(vs)} | {_times(vs_fast)} |")
    lines += ["", f"Parameters: {rows[0]['parameters']:,} ({rows[0]['parameters_without_embeddings']:,} outside "
              "embedding tables). Latency: CPU, threads pinned, pre-tokenized test inputs, median over timed "
              "batches; the full table and method are in the run's `report.md`.", ""]
    rec = report.get("recommendation") or {}
    if rec.get("chosen") and rec["chosen"].startswith(f"{name} ("):
        lines += [f"**Recommended by the exam**: {rec['reason']}", ""]
    return "\n".join(lines)


def _times(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.1f}x"  # None: a teacher without a latency (external)


def write_model_cards(run: "Run", report: dict) -> None:
    config = run.config
    recipes = {s.name: s.model_dump(mode="json", exclude_none=True) for s in config.students}
    for name in ["teacher"] + [s.name for s in config.students]:
        rows = [r for r in report["models"] if r["name"] == name and r["metrics"] is not None]
        out = run.export_dir(name)
        if not rows or not out.is_dir():
            continue
        labels = read_json(out / "export.json")["labels"]
        text = render_model_card(name, rows, report, recipes.get(name), config.data.model_dump(mode="json"),
                                 config.teacher.model_dump(mode="json"), labels)
        atomic_write_text(out / "README.md", text)


def _retention(value: float | None) -> str:
    """A retention as a percentage; "–" when undefined (a teacher scoring 0)."""
    return "–" if value is None else f"{100 * value:.1f}%"
