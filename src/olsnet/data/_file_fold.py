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

import functools
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

__all__ = ["CSV_BLOCK_BYTES", "IN_FLIGHT_BYTES", "file_state"]

# pyarrow's streaming CSV reader keeps many blocks in flight: with 26 MB blocks (65,536 rows of
# 20 doubles) it peaked at 880 MB and ran slower; 1 MB blocks peaked at 120 MB, fastest
# measured (1, 2, 8, 26 MB). Small batches are grouped into tasks of ``batch_rows`` rows.
CSV_BLOCK_BYTES = 1 << 20


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _where(path: Path, row: int) -> str:
    """'file, line N' (CSV, 1-based, header = line 1) or 'file, row N' (Parquet, 1-based)."""
    from .files import physical_line

    if _is_parquet(path):
        return f"{path}, row {row + 1}"
    return f"{path}, line {physical_line(path, row)}"


def _arrow_batches(path: Path, columns: list[str], batch_rows: int) -> Iterator[Any]:
    """pyarrow RecordBatches of ``columns`` (CSV columns read as float64), errors naming the
    file (CSV: and the line and column, found by ``olsnet.data.files.locate_csv_problem``)."""
    import pyarrow as pa

    from .files import locate_csv_problem, parquet_batch_rows, read_header

    if _is_parquet(path):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering holds whole files
            have = pf.schema_arrow.names
            _check_columns(path, have, columns)
            size = parquet_batch_rows(pf, batch_rows, len(columns))
            yield from pf.iter_batches(batch_size=size, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
        return
    import pyarrow.csv as pcsv

    _check_columns(path, read_header(path), columns)
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.float64()), include_columns=columns
            ),
        )
        yield from reader
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise locate_csv_problem(path, columns, str(exc)) from None


def _check_columns(path: Path, have: Any, wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise DataFileError(
            f"{path}: column {missing[0]!r} is not in the file; its columns are "
            f"{', '.join(have)}. Check the spelling (names are case-sensitive)"
        )


def _float_column(batch: Any, name: str, path: Path) -> np.ndarray:
    """(b,) float64 of one Arrow column: a view when it is float64 without nulls."""
    import pyarrow as pa

    col = batch.column(name)
    if col.type == pa.float64() and col.null_count == 0:
        # the data buffer as is (Array.to_numpy would import pandas on first use: 0.9 s)
        return np.frombuffer(col.buffers()[1], np.float64, len(col), col.offset * 8)
    if col.type != pa.float64():  # pyarrow.compute loads only for the cast (it takes 0.3 s)
        import pyarrow.compute as pc

        from .files import is_numeric_arrow

        if not is_numeric_arrow(col.type):
            raise DataFileError(
                f"{path}: column {name!r} has type {col.type}, which is not numeric; read the "
                "file with a formula (formula='y ~ C(column)') to use it as categories"
            )
        col = pc.cast(col, pa.float64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


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
        total = total.merge(state)
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
    cols = [_float_column(batch, c, path) for c in names]
    w = None
    if weights is not None:
        w = _float_column(batch, weights, path)
        ok = np.isfinite(w) & (w >= 0)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise DataFileError(
                f"{_where(path, offset + i)}, column {weights!r}: weight {w[i]} is not allowed; "
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
            f"{_where(path, offset + exc.row)}, column {names[exc.column]!r}: {what}; pass "
            "missing='drop' (CLI: --missing drop) to drop such rows, or fill them in"
        ) from None


IN_FLIGHT_BYTES = 192 << 20  # batches read ahead or being folded, all threads together


def _tasks_in_flight(batch_rows: int, n_columns: int) -> int:
    """How many fold tasks fit in ``IN_FLIGHT_BYTES``: a task holds up to twice ``batch_rows``
    rows (batches are grouped until they reach it), or one Parquet row group of at most
    ``PARQUET_BATCH_BYTES``. At least 2, so reading overlaps a fold."""
    from .files import PARQUET_BATCH_BYTES

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
