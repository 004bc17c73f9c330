"""What an evaluation returns: metrics and the name of the one that selects models (no imports: every layer uses it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Evaluation:
    """Metrics of one evaluation and the name of the one that selects models (higher is better)."""

    metrics: dict[str, float]
    primary: str

    @property
    def score(self) -> float:
        return self.metrics[self.primary]
