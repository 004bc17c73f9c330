"""Progress bars with rate and ETA; on a terminal they redraw, in logs they print every 30 s."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(total: int, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True) -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=interactive,
                mininterval=1.0 if interactive else 30.0, ascii=not interactive, file=sys.stderr)
