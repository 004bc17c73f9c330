"""An hf student's checkpoint by name: its config and its tokenizer, with errors naming the config key.

Light (``transformers`` is imported when a file is read), so that a student's settings can build its tokenizer
without importing the model (``taskdistil.students.hf_encoder``).
"""

from __future__ import annotations

import os

from taskdistil.errors import ArtifactError, ConfigError
from taskdistil.hf_checkpoint import quiet_transformers, resolve_checkpoint


def resolve_name(name: str, key: str = "checkpoint") -> str:
    """A checkpoint name as ``from_pretrained`` takes it: ``embedded:minilm-l6`` -> its package directory."""
    try:
        return resolve_checkpoint(name, key)
    except ArtifactError as err:
        raise ConfigError(str(err)) from None


def checkpoint_config(name: str, key: str = "checkpoint"):
    """The HF config of a checkpoint (local directory or hub name); ConfigError naming ``key`` if it cannot load."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolve_name(name, key), trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ConfigError(_cannot_load(key, name, err)) from None


def checkpoint_tokenizer(name: str, max_length: int, key: str = "checkpoint"):
    """The checkpoint's own fast tokenizer as a student tokenizer (``HFTokenizer``)."""
    from transformers import AutoTokenizer

    from taskdistil.students.tokenizer import HFTokenizer

    quiet_transformers()
    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(resolve_name(name, key), trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ConfigError(_cannot_load(key, name, err)) from None
    return HFTokenizer.from_checkpoint(hf_tokenizer, max_length, key)


def _cannot_load(key: str, name: str, err: Exception) -> str:
    local = os.path.isdir(os.path.expanduser(name))
    hint = "" if local else " (a hub name needs internet access or the local Hugging Face cache)"
    return f"{key}: cannot load the Hugging Face checkpoint {name!r}{hint}: {err}"
