"""The one training loop, its batching and its evaluation protocol."""

from taskdistil.train.batching import LengthBuckets
from taskdistil.train.loop import Evaluation, FitResult, fit

__all__ = ["Evaluation", "FitResult", "LengthBuckets", "fit"]
