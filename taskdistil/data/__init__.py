"""Data layer: readers for labeled splits, label maps."""

from taskdistil.data.labels import LabelMap
from taskdistil.data.readers import Split, read_split

__all__ = ["LabelMap", "Split", "read_split"]
