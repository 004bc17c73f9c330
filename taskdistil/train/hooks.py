"""Per-step hooks the one training loop calls (``fit(..., on_step=hook)``): ``hook(step, total)`` before step
``step`` of ``total``. Each is a pure function of the step, so a resumed stage reproduces it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

StepHook = Callable[[int, int], None]


class GradualUnfreezing:
    """Gradual unfreezing inside a stage (Howard & Ruder 2018; XtremeDistil, Mukherjee & Hassan Awadallah 2020).

    ``groups``: parameter groups top (g_0, next to the output) to bottom (the embeddings). Before step s of a
    stage of S steps the groups g_0 .. g_{n-1} train, n(s) = min(G, 1 + floor(s * G / S)): the next group
    unfreezes every S / G steps. Parameters that are not trainable when the hook is made (a frozen embedding
    table, a multichannel table's frozen copy) stay frozen; parameters in no group are left alone.
    The optimizer must be built before the first call (``fit`` does), so it holds every group's parameters;
    a frozen parameter has no gradient, which the optimizers skip (no update, no weight decay).
    """

    def __init__(self, groups: Sequence[Sequence[nn.Parameter]]):
        self.groups = [[p for p in group if p.requires_grad] for group in groups]
        self.groups = [group for group in self.groups if group]

    def unfrozen(self, step: int, total: int) -> int:
        """How many groups (from the top) train at ``step``."""
        n = len(self.groups)
        return min(n, 1 + step * n // max(1, total))

    def __call__(self, step: int, total: int) -> None:
        n = self.unfrozen(step, total)
        for i, group in enumerate(self.groups):
            for p in group:
                p.requires_grad_(i < n)

    def release(self) -> None:
        """Every group trainable again (after the stage)."""
        for group in self.groups:
            for p in group:
                p.requires_grad_(True)


def chain(*hooks: StepHook | None) -> StepHook | None:
    """One hook calling the given ones in order (None entries skipped); None if there are none."""
    active = [h for h in hooks if h is not None]
    if not active:
        return None

    def hook(step: int, total: int) -> None:
        for h in active:
            h(step, total)

    return hook
