"""Plain file sources folded from Arrow memory: batches read with pyarrow in the calling thread,
their columns written straight into the fold's chunk buffer on a thread pool.

For an ``olsnet.read(path, y=..., x=...)`` source with ``missing="raise"`` no (b, p) row-major
copy is made and no separate NaN scan is run (a NaN or inf makes the fold's sums non-finite, and
only then is the row looked up). At most ``2 * n_jobs`` batches, and at most
``IN_FLIGHT_BYTES``, are in memory. A file that goes bad in the middle raises DataFileError
naming the file and the line (CSV) or row (Parquet) and column; the error cancels the pending
folds and no state is returned, so nothing half-fitted can be saved. (Moved from
``olsnet.scale.stream``: the fold is the source's own ``fit_state``.)
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError
from ..solve import QRState
from ..solve._fold import NonFiniteError, fold_columns
from ..solve._gram import scaled_condition
from ..solve._kernels import GramNotDefinite
from ..solve._pool import fold_in_pool
from ..solve._thresholds import FILE_GRAM_MAX_COND
from .files._arrow import PARQUET_BATCH_BYTES, column_float64
from .files._dialect import CSV_BLOCK_BYTES

__all__ = ["CSV_BLOCK_BYTES", "IN_FLIGHT_BYTES", "file_state", "release_free_memory"]


def _fold_batches(
    batches: list[Any],
    path: Path,
    where: Callable[[Path, int], str],
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
        state = _fold_batch(batch, path, where, offset, names, p, weights, fit_intercept, kernel)
        total = total.merge(state)
        offset += batch.num_rows
    return total


def _fold_batch(
    batch: Any,
    path: Path,
    where: Callable[[Path, int], str],
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


IN_FLIGHT_BYTES = 192 << 20  # batches read ahead or being folded, all threads together


def release_free_memory() -> None:
    """Hand memory freed by a pass back to the system: pyarrow's pool (mimalloc or jemalloc keep
    freed pages) and glibc's heaps (``malloc_trim`` trims every arena, including those of the
    pool's threads, which the calling thread's allocations would not reuse). Without it the
    next pass (the HC / residual pass) adds its own working set on top of the first pass's
    retained ``IN_FLIGHT_BYTES``: measured 4M x 20 Parquet, RSS after the fit 220 MB, 148 MB
    after this call, and the HC3 pass's peak 35 MB above the fit's (issue 13 item 15)."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an old pyarrow or an exotic pool
        pass
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):  # pragma: no cover - not glibc (musl has no trim)
            pass


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
    cores fold). ``on_batch(rows, bytes)`` is called after each batch is read (progress
    bars), with the bytes of the file on disk the batch consumed.

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
        for path in source.paths:
            offset, start, group, rows = 0, 0, [], 0  # a task folds >= batch_rows rows
            for batch, disk in source.arrow_batches_at(path, columns):
                if on_batch is not None:
                    on_batch(batch.num_rows, disk)
                group.append(batch)
                rows += batch.num_rows
                offset += batch.num_rows
                if rows >= batch_rows:
                    yield functools.partial(
                        _fold_batches, group, path, source.where, start, *task_args
                    )
                    start, group, rows = offset, [], 0
            if group:
                yield functools.partial(_fold_batches, group, path, source.where, start, *task_args)
            if offset == 0:
                raise DataFileError(
                    f"{path}: the file has a header but no data rows; at least one row is required"
                )

    total = QRState.empty(p, len(source.target_names), fit_intercept)
    try:
        return fold_in_pool(tasks(), total, n_jobs, _tasks_in_flight(batch_rows, len(columns)))
    finally:
        release_free_memory()  # so a second pass does not stack on this one's retained pages
