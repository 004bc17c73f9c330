"""Multi-process runs (``torchrun``, ``accelerate launch``): rank and world from the launcher's environment, the
process group, the few collectives the pipeline needs, and data-parallel training of a module.

In a single-process run (no ``WORLD_SIZE``, or 1) nothing here imports ``torch.distributed`` or joins a process
group: every helper is then a no-op that returns its input. Multi-process runs assume a run directory every
rank can see (one machine, or a shared filesystem across nodes).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from functools import partial
from typing import Any

from taskdistil.errors import ConfigError

# Ranks wait for each other at stage boundaries: for the slowest rank's share of an annotation (a resumed run can
# leave most of the work to one rank) or for rank 0 alone writing a transfer set, an export or the exam.
TIMEOUT = timedelta(hours=24)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"${name}={value!r} is not an integer (torchrun and accelerate launch set it)") from None


def world_size() -> int:
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    return _env_int("RANK", 0)


def local_rank() -> int:
    return _env_int("LOCAL_RANK", 0)


def is_main() -> bool:
    """Rank 0: the process that writes shared files and logs."""
    return rank() == 0


def init() -> None:
    """Join the process group when launched with WORLD_SIZE > 1 (idempotent): gloo for CPU tensors, plus NCCL for
    CUDA tensors on a machine with GPUs, where each process takes cuda:LOCAL_RANK (``taskdistil.devices``): models
    on GPUs reduce their gradients over NCCL, models on CPU over gloo; object collectives go over gloo."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world_size()} but {', '.join('$' + v for v in missing)} unset: start "
                          "multi-process runs with torchrun or accelerate launch")
    backend = "gloo"
    if torch.cuda.is_available() and local_rank() < torch.cuda.device_count():
        torch.cuda.set_device(local_rank())
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend, timeout=TIMEOUT)


def shutdown() -> None:
    """Leave the process group, if this process joined one. (A successful command passes a barrier first: a
    rank that tears its group down while another still waits on a collective aborts the other process.)"""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        gc.collect()  # DDP wrappers left in reference cycles go now, while the group they reduce over still exists
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        init()
        dist.barrier()


def broadcast(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` (anything picklable) on every rank."""
    if world_size() <= 1:
        return obj
    import torch.distributed as dist

    init()
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather(obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if world_size() <= 1:
        return [obj]
    import torch.distributed as dist

    init()
    out: list = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def data_parallel(model) -> Callable[[], AbstractContextManager]:
    """A context factory for training ``model`` data-parallel: inside ``with route():`` calls of ``model`` go
    through a ``DistributedDataParallel`` wrapper made here, so backward averages the gradients over the ranks,
    while code that holds the bare module (the training loop's loss closures) stays as it is. Outside the context
    (evaluation, saving) the module is used as usual. One process: no wrapper, a null context.

    Unused parameters are allowed (``find_unused_parameters``): parameters frozen mid-training by gradual
    unfreezing, a classifier a representation stage does not reach. (A model that uses all of them makes DDP warn
    once per process that the flag costs an extra graph traversal per step: small next to the step itself.)
    """
    if world_size() <= 1:
        return nullcontext
    from torch.nn.parallel import DistributedDataParallel

    init()
    device = next(model.parameters()).device  # a model on a GPU: DDP over NCCL on that one device
    wrapper = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=True)
    return partial(_routed, wrapper)


@contextmanager
def _routed(wrapper):
    module = wrapper.module
    own = module.__dict__.get("forward")  # None: the class's forward

    def through_wrapper(*args, **kwargs):
        _set_forward(module, own)  # the wrapper calls module(...) itself: that call runs the module's forward
        try:
            return wrapper(*args, **kwargs)
        finally:
            module.forward = through_wrapper

    module.forward = through_wrapper
    try:
        yield
    finally:
        _set_forward(module, own)


def _set_forward(module, forward) -> None:
    if forward is None:
        module.__dict__.pop("forward", None)
    else:
        module.forward = forward
