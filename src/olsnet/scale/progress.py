"""A rich progress bar as an ``on_batch(rows, bytes)`` callback (the CLI draws it while a source
folds; sources call it after each batch they read).

    with RichProgress(console, disk_bytes=...) as bar:
        model = olsnet.LinearRegression().fit(source, on_batch=bar)
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

__all__ = ["RichProgress"]


class RichProgress:
    """Rows, MB and rows/s of each pass over a source, drawn by rich.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where the bar is drawn (default: rich's global console).
    disk_bytes : int, optional
        Size of the files on disk, shown in the label.

    Attributes
    ----------
    rows, bytes : int
        Rows and in-memory bytes of the current pass.
    """

    def __init__(self, console: Any = None, disk_bytes: int | None = None) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.rows = 0
        self.bytes = 0
        self._disk = disk_bytes
        self._pass = 0
        self._task: Any = None
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"),
            TextColumn("{task.fields[mb]:>9.1f} MB"),
            TextColumn("{task.fields[rate]:>10,.0f} rows/s"),
            TimeElapsedColumn(),
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

    def new_pass(self) -> None:
        """End the current pass (if any) and start counting the next one on its own line."""
        self.end_pass()
        self._pass += 1
        label = "fitting" if self._pass == 1 else f"pass {self._pass}"
        if self._disk is not None:
            label += f" ({self._disk / 1e6:,.0f} MB on disk)"
        self._task = self._progress.add_task(label, total=None, rows=0, mb=0.0, rate=0.0)
        self.rows = self.bytes = 0

    def end_pass(self) -> None:
        """Mark the current pass complete."""
        if self._task is not None:
            done = max(self.rows, 1)
            self._progress.update(self._task, total=done, completed=done)
            self._task = None

    def __call__(self, rows: int, nbytes: int) -> None:
        """The ``on_batch`` callback: count one batch."""
        if self._task is None:
            self.new_pass()
        self.rows += rows
        self.bytes += nbytes
        elapsed = self._progress.tasks[-1].elapsed or 0.0
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, rows=self.rows, mb=self.bytes / 1e6, rate=rate)
