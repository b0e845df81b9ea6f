"""A rich progress display (frames, Mpx/s) that shows up only for work longer than a second."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _MpxColumn(ProgressColumn):
    """Throughput in megapixels per second (task units are pixels)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed / 1e6:6.2f} Mpx/s" if speed else "   ... Mpx/s", style="progress.data.speed")


class LazyProgress:
    """Progress bars on stderr, one per file, started after ``delay`` seconds on a terminal.

    Units are pixels; each task also carries ``frames`` done out of ``n_frames``.
    """

    def __init__(self, delay: float = 1.0, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.delay = delay
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[frames]}/{task.fields[n_frames]} frames"),
            _MpxColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._t0 = time.monotonic()
        self.started = False

    def __enter__(self) -> LazyProgress:
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self._progress.stop()
            self.started = False

    def add(self, description: str, pixels: int, n_frames: int) -> TaskID:
        """A new bar for ``pixels`` pixels in ``n_frames`` frames."""
        return self._progress.add_task(description, total=pixels, frames=0, n_frames=n_frames)

    def advance(self, task: TaskID, pixels: int) -> None:
        self._progress.advance(task, pixels)
        self._maybe_start()

    def frames(self, task: TaskID, done: int) -> None:
        self._progress.update(task, frames=done)
        self._maybe_start()

    def print_error(self, message: str) -> None:
        """Print a message to stderr without garbling the bars."""
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def _maybe_start(self) -> None:
        if self.enabled and not self.started and time.monotonic() - self._t0 > self.delay:
            self._progress.start()
            self.started = True
