"""Progress bars with rate and ETA; on a terminal they redraw, in logs they print a line every 30 s."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class _LogLines:
    """File wrapper for non-terminals: each bar refresh becomes its own line instead of a carriage return."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "")
        if text.strip():
            self.stream.write(text if text.endswith("\n") else text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(total: int, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True) -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=interactive,
                mininterval=1.0 if interactive else 30.0, ascii=not interactive,
                file=sys.stderr if interactive else _LogLines(sys.stderr))


def log(message: str) -> None:
    """A progress line on stderr (rank 0's only, in a multi-process run)."""
    from taskdistil import distributed

    if distributed.is_main():
        print(message, file=sys.stderr, flush=True)
