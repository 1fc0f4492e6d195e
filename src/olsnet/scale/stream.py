"""Streaming files: Arrow batches folded on a thread pool, and a progress bar for any source.

``olsnet.read(...)`` (``olsnet.data.files``) opens CSV / Parquet files as a block source.
``olsnet.scale.parallel(source)`` gives it a ``fit_state`` that reads the batches with pyarrow
in the calling thread and folds them on ``n_jobs`` worker threads (at most ``2 * n_jobs``
batches, and at most ``IN_FLIGHT_BYTES``, in memory). For a plain ``olsnet.read(path, y=...,
x=...)`` source (no formula, ``missing="raise"``) the batch columns go from Arrow memory
straight into the fold's chunk buffer (:func:`file_state`): no (b, p) row-major copy, no
separate NaN scan (a NaN or inf makes the fold's sums non-finite, and only then is the row
looked up). Other sources fold their ``blocks()``. ``progress(source, console)`` wraps a source
so that every pass over it (the fit, then the residual pass for HC statistics) draws a rich
progress bar with rows, bytes and rate; the CLI uses it as::

    with olsnet.scale.progress(olsnet.read(path, y="y"), console) as source:
        model = olsnet.LinearRegression().fit(source)

A file that goes bad in the middle raises DataFileError naming the file and the line (CSV) or
row (Parquet) and column; the error cancels the pending folds and no state is returned, so
nothing half-fitted can be saved.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..data.files._arrow import (
    PARQUET_BATCH_BYTES,
    check_columns,
    column_float64,
    file_columns,
    open_batches,
    where,
)
from ..errors import DataFileError
from ..solve import QRState
from ..solve._gram import scaled_condition
from ._fold import GramNotDefinite, NonFiniteError, fold_columns, merge_states
from .threads import ParallelSource, fit_state_threaded, fold_in_pool

__all__ = ["ProgressSource", "file_state", "is_plain_file_source", "progress"]

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

    def __init__(self, source: Any, console: Any = None, n_jobs: int | None = None) -> None:
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

    def _start_pass(self) -> None:
        self._pass += 1
        label = "fitting" if self._pass == 1 else f"pass {self._pass}"
        if self._disk is not None:
            label += f" ({self._disk / 1e6:,.0f} MB on disk)"
        self._task = self._progress.add_task(label, total=None, rows=0, mb=0.0, rate=0.0)
        self.rows = self.bytes = 0

    def _advance(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        elapsed = self._progress.tasks[self._task].elapsed or 0.0
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        self._progress.update(self._task, rows=self.rows, mb=self.bytes / 1e6, rate=rate)

    def _end_pass(self) -> None:
        done = max(self.rows, 1)
        self._progress.update(self._task, total=done, completed=done)

    def blocks(self) -> Iterator[Block]:
        """The wrapped source's blocks, advancing the bar after each one."""
        self._start_pass()
        for X, Y, w in self.source.blocks():
            yield X, Y, w
            self._advance(X.shape[0], X.nbytes + Y.nbytes + (0 if w is None else w.nbytes))
        self._end_pass()

    def fit_state(self, fit_intercept: bool) -> QRState:
        """QR state of every row, folded on ``n_jobs`` threads while the bar advances."""
        inner = self.source
        n_jobs = getattr(inner, "n_jobs", self.n_jobs)
        if isinstance(inner, ParallelSource):
            inner = inner.source
        if is_plain_file_source(inner):
            self._start_pass()
            state = file_state(inner, fit_intercept, n_jobs, on_batch=self._advance)
            self._end_pass()
            return state
        if hasattr(inner, "fit_state"):
            return inner.fit_state(fit_intercept)  # a source that fits itself (dask)
        return fit_state_threaded(self, fit_intercept, n_jobs)


def progress(source: Any, console: Any = None, n_jobs: int | None = None) -> ProgressSource:
    """``source`` with a rich progress bar (rows, MB, rows/s) drawn on every pass.

    Parameters
    ----------
    source : block source
        ``olsnet.read(...)``, ``olsnet.scale.parallel(...)`` or any object with ``blocks()``.
    console : rich.console.Console, optional
        Where the bar is drawn (default: rich's global console).
    n_jobs : int or None, default=None
        Threads folding the blocks in ``fit_state`` (None: the CPUs this process may use, at
        most 8).

    Returns
    -------
    ProgressSource
        A context manager: the bar shows between ``__enter__`` and ``__exit__``.
    """
    return ProgressSource(source, console, n_jobs)


# ---------------------------------------------------------------------------- file fast path


def is_plain_file_source(source: Any) -> bool:
    """True for an ``olsnet.read(path, y=..., x=...)`` source with ``missing="raise"``: its
    batches can go from Arrow columns straight into the fold (formula sources and dropped rows
    take the general path through ``blocks()``)."""
    try:
        from ..data.files import FileSource
    except ImportError:  # pragma: no cover - the data module is part of olsnet
        return False
    return type(source) is FileSource and source.missing == "raise"


def _arrow_batches(path: Path, columns: list[str], batch_rows: int) -> Iterator[Any]:
    """Arrow batches of ``columns`` (numeric) after checking they are all in the file."""
    have = file_columns(path)
    check_columns(path, have, columns)
    return open_batches(path, columns, (), batch_rows)


def _fold_batches(
    batches: list[Any],
    path: Path,
    offset: int,
    names: list[str],
    p: int,
    weights: str | None,
    fit_intercept: bool,
    kernel: str = "qr",
) -> QRState:
    """Pool task: consecutive Arrow batches (rows offset.. of ``path``) -> their QR state."""
    total = QRState.empty(p, len(names) - p, fit_intercept)
    for batch in batches:
        state = _fold_batch(batch, path, offset, names, p, weights, fit_intercept, kernel)
        total = merge_states(total, state)
        offset += batch.num_rows
    return total


def _fold_batch(
    batch: Any,
    path: Path,
    offset: int,
    names: list[str],
    p: int,
    weights: str | None,
    fit_intercept: bool,
    kernel: str = "qr",
) -> QRState:
    """One Arrow batch (rows offset.. of ``path``) -> its QR state."""
    cols = [column_float64(batch, c, path, view_ok=True) for c in names]
    w = None
    if weights is not None:
        w = column_float64(batch, weights, path, view_ok=True)
        ok = np.isfinite(w) & (w >= 0)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise DataFileError(
                f"{where(path, offset + i)}, column {weights!r}: weight {w[i]} is not allowed; "
                "weights must be finite and >= 0"
            )
    try:
        if kernel == "gram":
            try:
                return fold_columns(cols, p, w, fit_intercept, kernel="gram")
            except GramNotDefinite:  # this batch alone is (nearly) singular: exact QR
                pass
        return fold_columns(cols, p, w, fit_intercept)
    except NonFiniteError as exc:
        value = cols[exc.column][exc.row]
        what = "a missing value" if np.isnan(value) else f"the value {value}"
        raise DataFileError(
            f"{where(path, offset + exc.row)}, column {names[exc.column]!r}: {what}; pass "
            "missing='drop' (CLI: --missing drop) to drop such rows, or fill them in"
        ) from None


FILE_GRAM_MAX_COND = 100.0  # cond² · eps ≈ 2e-12
IN_FLIGHT_BYTES = 192 << 20  # batches read ahead or being folded, all threads together


def _tasks_in_flight(batch_rows: int, n_columns: int) -> int:
    """How many fold tasks fit in ``IN_FLIGHT_BYTES``: a task holds up to twice ``batch_rows``
    rows (batches are grouped until they reach it), or one Parquet row group of at most
    ``PARQUET_BATCH_BYTES``. At least 2, so reading overlaps a fold."""
    task = max(2 * batch_rows * n_columns * 8, PARQUET_BATCH_BYTES)
    return max(2, IN_FLIGHT_BYTES // task)


def file_state(
    source: Any,
    fit_intercept: bool,
    n_jobs: int | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    kernel: str = "auto",
) -> QRState:
    """QR state of a plain ``olsnet.read`` source: Arrow batches folded on a thread pool.

    ``kernel="auto"`` first folds each batch by its Gram matrix (a third of the work of QR, so
    the fold keeps up with the reader) and checks the result: when the condition number of the
    column-scaled ``[1 X]`` factor exceeds ``FILE_GRAM_MAX_COND`` (where the normal equations'
    ``cond² · eps`` could pass 1e-12), the files are read again and folded by Householder QR
    (``kernel="qr"``), which is backward stable whatever the conditioning.

    The calling thread reads batches with pyarrow (Parquet's reader decodes on its own threads
    and releases the GIL); each batch's columns go straight from Arrow memory into the fold's
    chunk buffer on a worker, so no (b, p) array is built. At most ``2 * n_jobs`` tasks are in
    flight, and no more than fit in ``IN_FLIGHT_BYTES`` (so memory stays bounded however many
    cores fold). ``on_batch(rows, bytes)`` is called after each batch is read (progress bars).

    Raises
    ------
    DataFileError
        A missing column, a malformed or truncated file, text in a numeric column, a missing
        value or a bad weight; the message names the file and the line (CSV) or row (Parquet).
    """
    names = [*source.feature_names, *source.target_names]
    p = len(source.feature_names)
    weights = source.weights
    columns = list(dict.fromkeys([*names, *((weights,) if weights else ())]))
    batch_rows = int(source.batch_rows)
    if kernel == "auto":
        state = file_state(source, fit_intercept, n_jobs, on_batch, kernel="gram")
        k_x = int(fit_intercept) + p
        if scaled_condition(state.R[:k_x, :k_x]) <= FILE_GRAM_MAX_COND:
            return state
        kernel = "qr"
    task_args = (names, p, weights, fit_intercept, kernel)

    def tasks() -> Iterator[Callable[[], QRState]]:
        for path in map(Path, source.paths):
            offset, start, group, rows = 0, 0, [], 0  # a task folds >= batch_rows rows
            for batch in _arrow_batches(path, columns, batch_rows):
                if on_batch is not None:
                    on_batch(batch.num_rows, batch.nbytes)
                group.append(batch)
                rows += batch.num_rows
                offset += batch.num_rows
                if rows >= batch_rows:
                    yield functools.partial(_fold_batches, group, path, start, *task_args)
                    start, group, rows = offset, [], 0
            if group:
                yield functools.partial(_fold_batches, group, path, start, *task_args)
            if offset == 0:
                raise DataFileError(
                    f"{path}: the file has a header but no data rows; at least one row is required"
                )

    total = QRState.empty(p, len(source.target_names), fit_intercept)
    return fold_in_pool(tasks(), total, n_jobs, _tasks_in_flight(batch_rows, len(columns)))
