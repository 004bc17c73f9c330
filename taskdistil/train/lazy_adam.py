"""Lazy Adam: Adam on dense parameters, and on embedding tables only the rows that a batch reads.

A tuned WordPiece table (30,522 x 300 = 9.2M weights) dominates a BiLSTM or CNN student's step under Adam: every
step reads and writes the whole table, its gradient and both moments, though a batch reads a few hundred rows.
Lazy Adam (TensorFlow Addons' LazyAdam; ``torch.optim.SparseAdam``) has the tables produce sparse gradients and,
for the rows r present in the batch only,

    m_r <- b1 m_r + (1 - b1) g_r,   v_r <- b2 v_r + (1 - b2) g_r^2,
    w_r <- w_r - lr (m_r / (1 - b1^t)) / (sqrt(v_r / (1 - b2^t)) + eps)        (t: the optimizer's step)

while every other row stays as it is (dense Adam keeps moving a row on its decaying momentum after its last
batch). Dense parameters follow fused Adam exactly. Weight decay applies to the dense parameters only.

Every trainable ``nn.Embedding`` takes part (a bilstm or cnn student's ``WordEmbeddings``; a transformer's word,
position and token-type tables): ``LazyAdam.for_model`` sets its ``sparse`` flag, which DistributedDataParallel
reads too, so multi-process training reduces the sparse gradients as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class LazyAdam:
    """Fused Adam over the dense parameters + ``SparseAdam`` over the sparse-gradient tables, one optimizer to
    the training loop: ``param_groups`` (dense groups first), ``zero_grad``, ``step`` and one ``state_dict`` in
    ``torch.optim`` form (parameter indices run on from the dense part into the sparse part)."""

    def __init__(self, dense: list[nn.Parameter], sparse: list[nn.Parameter], lr: float, weight_decay: float = 0.0):
        self.parts: list[torch.optim.Optimizer] = []
        if dense:
            self.parts.append(torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay, fused=True))
        if sparse:
            self.parts.append(torch.optim.SparseAdam(sparse, lr=lr))
        if not self.parts:
            raise ValueError("LazyAdam: no parameters to optimise")

    @classmethod
    def for_model(cls, model: nn.Module, lr: float, weight_decay: float = 0.0) -> "LazyAdam":
        """Switch the model's trainable tables to sparse gradients; every other trainable parameter is dense."""
        tables = [m for m in _tables(model) if m.weight.requires_grad]
        for table in tables:
            table.sparse = True
        sparse = [table.weight for table in tables]
        sparse_ids = {id(p) for p in sparse}
        dense = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse_ids]
        return cls(dense, sparse, lr, weight_decay)

    @property
    def param_groups(self) -> list[dict]:
        return [group for part in self.parts for group in part.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def state_dict(self) -> dict:
        state, groups, offset = {}, [], 0
        for part in self.parts:
            own = part.state_dict()
            state.update({offset + index: entry for index, entry in own["state"].items()})
            groups += [{**group, "params": [offset + i for i in group["params"]]} for group in own["param_groups"]]
            offset += sum(len(group["params"]) for group in own["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups, offset = list(state_dict["param_groups"]), 0
        for part in self.parts:
            own_groups, groups = groups[: len(part.param_groups)], groups[len(part.param_groups):]
            count = sum(len(group["params"]) for group in own_groups)
            own_state = {int(i) - offset: entry for i, entry in state_dict["state"].items()
                         if offset <= int(i) < offset + count}
            part.load_state_dict({"state": own_state,
                                  "param_groups": [{**g, "params": [i - offset for i in g["params"]]}
                                                   for g in own_groups]})
            offset += count


def dense_gradients(model: nn.Module) -> None:
    """Switch every table back to dense gradients (for any other optimizer, e.g. the next training stage's)."""
    for table in _tables(model):
        table.sparse = False


def _tables(model: nn.Module) -> list[nn.Embedding]:
    return [m for m in model.modules() if isinstance(m, nn.Embedding)]


def clip_grad_norm(parameters: Iterable[nn.Parameter], max_norm: float) -> None:
    """``nn.utils.clip_grad_norm_`` (total L2 norm over all gradients) that also takes sparse gradients: those are
    coalesced first, so a row read twice in a batch counts once with its summed gradient."""
    params = [p for p in parameters if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):
        nn.utils.clip_grad_norm_(params, max_norm)
        return
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
    norms = [torch.linalg.vector_norm(p.grad.values() if p.grad.is_sparse else p.grad) for p in params]
    total = torch.linalg.vector_norm(torch.stack(norms))
    coefficient = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in params:
        p.grad.mul_(coefficient)
