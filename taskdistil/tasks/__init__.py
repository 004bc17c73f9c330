"""Task kinds: how splits are read, what a model predicts, and how it is scored."""

from taskdistil.tasks.classification import TaskData, classification_metrics, load_task_data

__all__ = ["TaskData", "classification_metrics", "load_task_data"]
