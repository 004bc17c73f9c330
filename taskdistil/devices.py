"""Where a stage computes: the device (CPU, a CUDA GPU, Apple MPS) and the precision (fp32, bf16, fp16 autocast).

A stage's ``Placement`` comes from its config keys (``teacher.device``, ``annotate.device``,
``students.<name>.device``, each defaulting to the run's ``device``; ``teacher.precision``,
``annotate.precision``) resolved once, at config load, so an absent device fails before any work naming the key:

    auto      CUDA if PyTorch sees a GPU, else MPS, else CPU
    cuda      cuda:LOCAL_RANK (one process per GPU under torchrun / accelerate launch; cuda:0 alone)
    cuda:N    that GPU (single-process runs)
    precision auto: bf16 on a CUDA GPU that supports it, else fp32

Everything a stage writes stays device-independent: tensors are saved from CPU copies (``io.save_tensors``) and
loaded on CPU, so a run trained on one device resumes on another and saved models load on CPU. On CPU with
fp32 every helper here is the identity (no copy, no autocast): CPU runs compute exactly as before devices existed.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from taskdistil import distributed
from taskdistil.errors import ConfigError
from taskdistil.progress import log

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Annotation batches on an accelerator without annotate.max_tokens: padded tokens per batch (CPU keeps batch_size).
ACCELERATOR_TOKENS = 65536


@dataclass(frozen=True)
class Placement:
    """A resolved device and precision ('fp32', 'bf16', 'fp16'): moves modules and batches, opens autocast."""

    device: torch.device
    precision: str = "fp32"

    @property
    def on_cpu(self) -> bool:
        return self.device.type == "cpu"

    def module(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` on the device (in place); untouched on CPU."""
        return module if self.on_cpu else module.to(self.device)

    def to(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on the device: a pinned host copy sent without waiting (CUDA); the tensor itself on CPU."""
        if self.on_cpu or tensor.device == self.device:
            return tensor
        if self.device.type == "cuda" and tensor.device.type == "cpu":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def autocast(self):
        """torch.autocast at the precision (a null context for fp32)."""
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.precision])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16 training (bf16 and fp32 need none)."""
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None

    def describe(self) -> str:
        name = ""
        if self.device.type == "cuda":
            name = f" ({torch.cuda.get_device_name(self.device)})"
        return f"{self.device}{name}, {self.precision}"


CPU = Placement(torch.device("cpu"))


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str, key: str) -> torch.device:
    """The torch device ``spec`` names on this machine and in this process; ConfigError naming ``key`` if absent."""
    world, local = distributed.world_size(), distributed.local_rank()
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto":
        if torch.cuda.is_available():
            spec = "cuda"
        elif _mps_available() and world == 1:
            return torch.device("mps")
        else:
            return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise ConfigError(f"{key}: device 'mps' asked for, but Apple MPS is not available here (PyTorch "
                              f"{torch.__version__}); use cpu or auto")
        if world > 1:
            raise ConfigError(f"{key}: device 'mps' serves one process; {world} processes run")
        return torch.device("mps")
    if not torch.cuda.is_available():
        why = "was built without CUDA" if torch.version.cuda is None else "sees no GPU"
        raise ConfigError(f"{key}: device {spec!r} asked for, but no CUDA GPU is available (PyTorch "
                          f"{torch.__version__} {why}); use cpu or auto")
    count = torch.cuda.device_count()
    if ":" in spec:
        index = int(spec.split(":", 1)[1])
        if index >= count:
            raise ConfigError(f"{key}: device {spec!r} asked for, but this machine has {count} GPU(s): "
                              f"cuda:0..cuda:{count - 1}")
        if world > 1:
            raise ConfigError(f"{key}: {spec!r} names one GPU, but {world} processes run: use 'cuda' (each process "
                              "takes cuda:LOCAL_RANK)")
        return torch.device("cuda", index)
    if local >= count:
        raise ConfigError(f"{key}: the process of local rank {local} takes cuda:{local}, but this machine has {count} "
                          f"GPU(s): start at most {count} processes per machine")
    return torch.device("cuda", local)


def _bf16_supported() -> bool:
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # older PyTorch: no emulation argument
        return torch.cuda.is_bf16_supported()


def resolve_precision(spec: str, device: torch.device, key: str) -> str:
    """'fp32', 'bf16' or 'fp16' for ``spec`` on ``device``: auto is bf16 on a CUDA GPU that supports it, else
    fp32; ConfigError naming ``key`` for bf16 on a CUDA GPU without it."""
    if spec == "auto":
        return "bf16" if device.type == "cuda" and _bf16_supported() else "fp32"
    if spec == "bf16" and device.type == "cuda" and not _bf16_supported():
        raise ConfigError(f"{key}: bf16 asked for, but {torch.cuda.get_device_name(device)} does not support it; "
                          "use fp16 or fp32")
    return spec


def placement(device: str | None, default: str, precision: str, key: str) -> Placement:
    """The Placement of a stage whose device key ``key`` holds ``device`` (None: the run's ``default``)."""
    device_key = f"{key}.device" if device is not None else "device"
    where = resolve_device(device if device is not None else default, device_key)
    return Placement(where, resolve_precision(precision, where, f"{key}.precision"))


# config: a RunConfig, student: a StudentConfig (not imported: taskdistil.config's imports lead back here)
def teacher_placement(config: Any) -> Placement:
    return placement(config.teacher.device, config.device, config.teacher.precision, "teacher")


def annotate_placement(config: Any) -> Placement:
    return placement(config.annotate.device, config.device, config.annotate.precision, "annotate")


def student_placement(config: Any, student: Any) -> Placement:
    """Students train in fp32."""
    return placement(student.device, config.device, "fp32", f"students.{student.name}")


def check_devices(config: Any) -> None:
    """Resolve every device and precision the config names (ConfigError naming the key), before any work."""
    resolve_device(config.device, "device")
    teacher_placement(config)
    annotate_placement(config)
    for student in config.students:
        student_placement(config, student)
    for i, spec in enumerate(config.exam.devices):
        resolve_device(spec, f"exam.devices.{i}")


def placement_keys(section: Any) -> set[str]:
    """Keys a stage key leaves out of a teacher or annotate section: the device (a run moves between devices) and
    the precision while auto (as resolved: fp32 on CPU, bf16 on GPUs; runs from before precision keep their keys)."""
    return {"device", "max_tokens", *(["precision"] if section.precision == "auto" else [])}


def log_placement(stage: str, where: Placement) -> None:
    """``[stage] on DEVICE (name), PRECISION`` on stderr (rank 0's line)."""
    log(f"[{stage}] on {where.describe()}")
