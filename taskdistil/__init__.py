"""taskdistil: distill a fine-tuned BERT-family teacher into a small, fast student."""

__version__ = "0.1.0"

from taskdistil.artifact import load  # noqa: E402

__all__ = ["load", "__version__"]
