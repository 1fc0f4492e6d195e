"""A rich progress bar as an ``on_batch(rows, bytes)`` callback (the CLI draws it while a source
folds; sources call it after each batch they read).

    with RichProgress(console, disk_bytes=...) as bar:
        model = olsnet.LinearRegression().fit(source, on_batch=bar)

File sources report the bytes *on disk* each batch consumed (compressed bytes for a ``.gz``), so
with ``disk_bytes`` the bar shows bytes read of the total, the percentage and the time left; a
pass ends when its bytes reach the total, and the next batch starts a new line (the second,
robust pass; the re-read when the Gram fold is refused). Sources of unknown size (a SQL query,
arrays) show rows and rows/s only.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

__all__ = ["RichProgress"]


class RichProgress:
    """Bytes read of the size on disk, percent, time left, rows and rows/s of each pass over a
    source, drawn by rich.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where the bar is drawn (default: rich's global console).
    disk_bytes : int, optional
        Size of the files on disk: the total of each pass (None: unknown, no percentage).

    Attributes
    ----------
    rows, bytes : int
        Rows and bytes (on disk for files) of the current pass.
    """

    def __init__(self, console: Any = None, disk_bytes: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.rows = 0
        self.bytes = 0
        self._disk = disk_bytes if disk_bytes else None
        self._pass = 0
        self._label: str | None = None
        self._task: Any = None
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),  # "120.3/414.0 MB" (bytes read of the size on disk)
            TaskProgressColumn(),  # "29%"
            TextColumn("{task.fields[rows]:>12,} rows"),
            TextColumn("{task.fields[rate]:>10,.0f} rows/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end_pass()
        self._progress.stop()

    def new_pass(self, label: str | None = None) -> None:
        """End the current pass (if any) and count the next one on its own line."""
        self.end_pass()
        self._pass += 1
        text = label or ("fitting" if self._pass == 1 else f"pass {self._pass}")
        self._task = self._progress.add_task(text, total=self._disk, rows=0, rate=0.0)
        self.rows = self.bytes = 0

    def end_pass(self) -> None:
        """Mark the current pass complete (a pass that counted nothing is removed)."""
        if self._task is None:
            return
        if self.rows == 0:
            self._progress.remove_task(self._task)
        else:
            done = self._disk or max(self.bytes, 1)
            self._progress.update(self._task, total=done, completed=done)
        self._task = None

    def __call__(self, rows: int, nbytes: int) -> None:
        """The ``on_batch`` callback: count one batch of ``rows`` rows and ``nbytes`` bytes."""
        if self._task is None:
            self.new_pass()
        self.rows += rows
        self.bytes += nbytes
        elapsed = self._progress.tasks[-1].elapsed or 0.0
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        completed = min(self.bytes, self._disk) if self._disk else self.bytes
        self._progress.update(self._task, completed=completed, rows=self.rows, rate=rate)
        if self._disk is not None and self.bytes >= self._disk:
            self.end_pass()  # every byte read: the next batch belongs to the next pass
