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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError
from ..solve import QRState
from ..solve._fold import NonFiniteError, fold_columns
from ..solve._gram import scaled_condition
from ..solve._kernels import GramNotDefinite
from ..solve._pool import fold_in_pool, n_workers
from ..solve._thresholds import FILE_GRAM_MAX_COND
from .files._arrow import PARQUET_BATCH_BYTES, column_float64, file_identity, read_parquet_span
from .files._dialect import CSV_BLOCK_BYTES
from .files._paths import file_kind

__all__ = ["CSV_BLOCK_BYTES", "IN_FLIGHT_BYTES", "file_state", "release_free_memory"]


def _fold_batches(
    batches: Iterable[Any],
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
SPAN_MIN_WORKERS = 4  # from this many threads, Parquet row groups are read by the tasks


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
    # Parquet on many threads: each task reads its own row groups (decoding releases the GIL),
    # so reading scales with the threads instead of feeding them from this one (on 16 cores the
    # one stream capped the fold at 1.4x its one-thread time). With fewer than
    # SPAN_MIN_WORKERS the file is read as one stream by this thread, decoded by pyarrow's
    # pool, while the workers fold: that keeps a third thread busy (2 cores, n_jobs=2: 1.31x
    # pyarrow's read, benchmarks/bench_scale.py).
    workers = n_workers(n_jobs)
    parallel = (
        workers >= SPAN_MIN_WORKERS
        and hasattr(source, "parquet_spans")
        and all(isinstance(f, Path) and file_kind(f) == "parquet" for f in source.paths)
    )
    # A running span task holds one decoded batch: whole row groups (decoded in one piece, the
    # cheapest) where every worker's fits within IN_FLIGHT_BYTES, else smaller batches. Pending
    # tasks hold nothing (they have not read yet), so 2 * workers may be in flight.
    row_bytes = 8 * len(columns)
    budget_rows = max(4096, IN_FLIGHT_BYTES // (2 * workers * row_bytes))
    span_in_flight = 2 * workers

    def span_tasks(path: Path, spans: Any, identity: Any) -> Iterator[Callable[[], QRState]]:
        meta, parts = spans
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        largest = max(groups, default=0)
        span_batch = largest if 0 < largest <= budget_rows else min(budget_rows, batch_rows)
        size, total, reported = path.stat().st_size, meta.num_rows, 0
        for groups, first, rows in parts:
            if on_batch is not None:  # bytes in proportion to the rows, adding up to the size
                at = size if first + rows >= total else size * (first + rows) // total
                on_batch(rows, at - reported)
                reported = at
            batches = read_parquet_span(
                path, meta, groups, columns, span_batch, whole=False, identity=identity
            )
            yield functools.partial(_fold_batches, batches, path, source.where, first, *task_args)
        if total == 0:
            raise DataFileError(
                f"{path}: the file has a header but no data rows; at least one row is required"
            )

    def tasks() -> Iterator[Callable[[], QRState]]:
        for path in source.paths:
            # taken before the metadata: every span checks it reads that version of the file
            identity = file_identity(path) if parallel else None
            spans = source.parquet_spans(path, columns, batch_rows) if parallel else None
            if spans is not None:
                yield from span_tasks(path, spans, identity)
                continue
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
        in_flight = span_in_flight if parallel else _tasks_in_flight(batch_rows, len(columns))
        return fold_in_pool(tasks(), total, n_jobs, in_flight)
    finally:
        release_free_memory()  # so a second pass does not stack on this one's retained pages
