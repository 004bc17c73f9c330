"""What to do with a text longer than a model's max_length: one policy, or one per example."""

from __future__ import annotations

from collections.abc import Callable

TooLong = str | Callable[[int], str]  # "error" | "truncate", or example index -> one of them


def too_long_at(policy: TooLong, i: int) -> str:
    return policy(i) if callable(policy) else policy


def offset(policy: TooLong, start: int) -> TooLong:
    """The policy of a slice starting at example ``start``."""
    return (lambda i: policy(i + start)) if callable(policy) else policy
