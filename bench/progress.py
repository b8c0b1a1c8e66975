"""Simple progress bars on stderr: redrawn in place on a terminal, one line per step otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
REDRAW_S = 0.2


class Progress:
    """`label [#####.....] done/total rate/s`; `close()` prints the final line."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None) -> None:
        self._label = label
        self._total = max(total, 1)
        self._stream = sys.stderr if stream is None else stream
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        """Record progress; redraws at most every REDRAW_S on a terminal."""
        self._done = done
        now = time.monotonic()
        if self._tty and now - self._drawn >= REDRAW_S:
            self._drawn = now
            self._stream.write("\r" + self._line(now))
            self._stream.flush()

    def close(self, note: str = "") -> None:
        """Print the final state and a newline."""
        line = self._line(time.monotonic()) + (f"  {note}" if note else "")
        self._stream.write(("\r" if self._tty else "") + line + "\n")
        self._stream.flush()

    def _line(self, now: float) -> str:
        share = min(self._done / self._total, 1.0)
        filled = int(share * WIDTH)
        elapsed = max(now - self._started, 1e-9)
        return (
            f"{self._label:<34} [{'#' * filled}{'.' * (WIDTH - filled)}] "
            f"{self._done:>7}/{self._total:<7} {self._done / elapsed:>9.0f}/s {elapsed:6.1f}s"
        )


def note(message: str) -> None:
    """A line of its own on stderr."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
