"""Streaming files: a progress bar for any block source, and the threaded fit of file sources.

``olsnet.read(...)`` (``olsnet.data.files``) streams CSV / Parquet batches with pyarrow;
``olsnet.scale.parallel(source)`` folds those batches on a thread pool while the main thread
reads the next ones (at most ``2 * n_jobs`` batches in memory). ``progress(source, console)``
wraps a source so that every pass over it (the fit, then the residual pass for HC statistics)
draws a rich progress bar with rows, bytes and rate; the CLI uses it as::

    with olsnet.scale.progress(olsnet.read(path, y="y"), console) as source:
        model = olsnet.LinearRegression().fit(source)

A file that goes bad in the middle raises from ``blocks()`` (naming the file, line and column);
the error passes through the pool unchanged and no state is returned, so nothing half-fitted
can be saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

import numpy as np

from ..solve import QRState
from .threads import fit_state_threaded

__all__ = ["ProgressSource", "progress"]

Block = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _file_bytes(source: Any) -> int | None:
    """Total size on disk of a file source's files (None for other sources)."""
    paths = getattr(source, "paths", None)
    if not paths:
        return None
    import os

    try:
        return sum(os.path.getsize(p) for p in paths)
    except OSError:
        return None


class ProgressSource:
    """A block source that reports each pass over ``source`` on a rich progress bar.

    Attributes
    ----------
    source : block source
    n_jobs : int or None
        Threads for ``fit_state`` (sources that fit themselves, such as dask, keep theirs).
    rows, bytes : int
        Rows and in-memory bytes (float64 blocks) of the current or last pass.
    """

    def __init__(self, source: Any, console: Any = None, n_jobs: int | None = 2) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.source = source
        self.n_jobs = n_jobs
        self.rows = 0
        self.bytes = 0
        self._disk = _file_bytes(source)
        self._pass = 0
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

    def __getattr__(self, name: str) -> Any:  # names, n_features, paths ... of the source
        if name.startswith("__") or name in ("source", "_progress"):
            raise AttributeError(name)
        return getattr(self.source, name)

    def __enter__(self) -> ProgressSource:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def blocks(self) -> Iterator[Block]:
        """The wrapped source's blocks, advancing the bar after each one."""
        self._pass += 1
        label = "fitting" if self._pass == 1 else f"pass {self._pass}"
        if self._disk is not None:
            label += f" ({self._disk / 1e6:,.0f} MB on disk)"
        task = self._progress.add_task(label, total=None, rows=0, mb=0.0, rate=0.0)
        self.rows = self.bytes = 0
        for X, Y, w in self.source.blocks():
            yield X, Y, w
            self.rows += X.shape[0]
            self.bytes += X.nbytes + Y.nbytes + (0 if w is None else w.nbytes)
            elapsed = self._progress.tasks[task].elapsed or 0.0
            self._progress.update(
                task,
                rows=self.rows,
                mb=self.bytes / 1e6,
                rate=self.rows / elapsed if elapsed > 0 else 0.0,
            )
        self._progress.update(task, total=max(self.rows, 1), completed=max(self.rows, 1))

    def fit_state(self, fit_intercept: bool) -> QRState:
        """QR state of every row, folded on ``n_jobs`` threads while the bar advances."""
        inner = getattr(self.source, "fit_state", None)
        if inner is not None and not hasattr(self.source, "n_jobs"):
            return inner(fit_intercept)  # a source that fits itself (dask): no blocks to count
        n_jobs = getattr(self.source, "n_jobs", self.n_jobs)
        return fit_state_threaded(self, fit_intercept, n_jobs)


def progress(source: Any, console: Any = None, n_jobs: int | None = 2) -> ProgressSource:
    """``source`` with a rich progress bar (rows, MB, rows/s) drawn on every pass.

    Parameters
    ----------
    source : block source
        ``olsnet.read(...)``, ``olsnet.scale.parallel(...)`` or any object with ``blocks()``.
    console : rich.console.Console, optional
        Where the bar is drawn (default: rich's global console).
    n_jobs : int or None, default=2
        Threads folding the blocks in ``fit_state``.

    Returns
    -------
    ProgressSource
        A context manager: the bar shows between ``__enter__`` and ``__exit__``.
    """
    return ProgressSource(source, console, n_jobs)
