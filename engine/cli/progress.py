"""A one-line terminal progress bar for the command line (stderr, only on a terminal).

Usage::

    with TerminalProgress("denoise photo.jpg") as bar:
        apply_filter(..., progress=bar.callback)

``bar.callback`` is ``None`` when the stream is not a terminal (pipes, logs, CI), so commands
pass it straight to the engine and print nothing there. Qt-free and torch-free.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from engine.core.types import Progress, ProgressCallback


class TerminalProgress:
    """Draws ``label [#####-----]  42%  7/16  0:03`` in place with carriage returns."""

    def __init__(self, label: str, *, stream: TextIO | None = None, force: bool = False, width: int | None = None) -> None:
        """``force`` draws even when ``stream`` is not a terminal (tests); ``width`` fixes the bar's width."""
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = force or bool(isatty is not None and isatty())
        self._width = width
        self._started = time.monotonic()
        self._drawn = False

    @property
    def callback(self) -> ProgressCallback | None:
        """The engine's progress callback, or ``None`` when nothing is drawn."""
        return self.update if self.enabled else None

    def update(self, progress: Progress) -> None:
        """Redraw the line for ``progress``."""
        if not self.enabled:
            return
        columns = self._width or shutil.get_terminal_size((80, 20)).columns
        elapsed = int(time.monotonic() - self._started)
        tail = f" {progress.fraction * 100:3.0f}%  {progress.done}/{progress.total}  {elapsed // 60}:{elapsed % 60:02d}"
        room = max(10, columns - len(self.label) - len(tail) - 4)
        filled = int(round(progress.fraction * room))
        line = f"{self.label} [{'#' * filled}{'-' * (room - filled)}]{tail}"
        self.stream.write("\r" + line[: columns - 1])
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line (once something was drawn)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
