"""Task kinds (``taskdistil.tasks.base``): how splits are read, what a model predicts, and how it is scored."""

from taskdistil.tasks.base import label_meta, student_head
from taskdistil.tasks.classification import TaskData, classification_metrics
from taskdistil.tasks.registry import TASK_KINDS, load_task_data, task_kind

__all__ = ["TASK_KINDS", "label_meta", "TaskData", "classification_metrics", "load_task_data", "student_head",
           "task_kind"]
