"""The task kinds by ``data.task`` name: one line per kind."""

from __future__ import annotations

from typing import Any

from taskdistil.errors import ConfigError
from taskdistil.tasks.base import TaskKind
from taskdistil.tasks.classification import Classification
from taskdistil.tasks.multi_aspect import MultiAspect
from taskdistil.tasks.question_tagging import QuestionTagging
from taskdistil.tasks.tagging import TokenTagging

TASK_KINDS: dict[str, TaskKind] = {
    "single_sentence": Classification("single_sentence", pairs=False),
    "sentence_pair": Classification("sentence_pair", pairs=True),
    "token_tagging": TokenTagging(),
    "multi_aspect": MultiAspect(),
    "question_tagging": QuestionTagging(),
}


def task_kind(name: str) -> TaskKind:
    if name not in TASK_KINDS:
        raise ConfigError(f"data.task: unknown task kind {name!r}; known: {sorted(TASK_KINDS)}")
    return TASK_KINDS[name]


def load_task_data(config: Any):
    """Read all three splits of a run config by its task kind (``data.task``); labels outside the training label
    space raise, naming file and line."""
    return task_kind(config.data.task).load(config)
