"""Label map: built from the training split, stored with every model."""

from __future__ import annotations

from dataclasses import dataclass

from taskdistil.data.readers import Split
from taskdistil.errors import DataError


@dataclass(frozen=True)
class LabelMap:
    labels: tuple[str, ...]

    @classmethod
    def from_split(cls, split: Split) -> "LabelMap":
        distinct = set(split.labels)
        if len(distinct) < 2:
            raise DataError(f"{split.source}: the training split has {len(distinct)} distinct label(s); need >= 2")
        numeric = all(_is_int(x) for x in distinct)
        ordered = sorted(distinct, key=(lambda x: int(x)) if numeric else None)
        return cls(tuple(ordered))

    def __len__(self) -> int:
        return len(self.labels)

    def ids(self, split: Split) -> list[int]:
        """Label ids of a split; an unseen label raises naming it, its file and line."""
        index = {label: i for i, label in enumerate(self.labels)}
        out = []
        for i, label in enumerate(split.labels):
            if label not in index:
                raise DataError(
                    f"{split.where(i)}: label {label!r} does not occur in the training split; "
                    f"known labels: {list(self.labels)}"
                )
            out.append(index[label])
        return out


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
