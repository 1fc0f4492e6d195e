"""The file source: CSV / Parquet files as a re-iterable block source (``olsnet.read``).

A :class:`FileSource` holds the file list and the column choice and reads nothing but the
header until ``blocks()`` is iterated; each pass streams the files batch by batch
(:mod:`._arrow`), so memory stays bounded by one batch whatever the file sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFileError
from ...solve import QRState
from ...solve._pool import fold_blocks
from ...solve._residuals import HC_MEATS, ResidualPass, residual_pass
from .._arrays import Design
from .._labels import check_label_names, first_missing_label, label_array
from ..source import LabelBlock, Labels, OnBatch, Source
from ._arrow import (
    check_columns,
    column_float64,
    csv_schema,
    file_columns,
    open_batches,
    open_batches_at,
    parquet_spans,
    stack_float64,
    where,
    whole_table,
)
from ._dialect import CsvDialect
from ._excel import excel_schema
from ._paths import file_kind

__all__ = ["Block", "FileSource"]

Block = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


@dataclass(frozen=True)
class _Batch:
    """One batch after conversion, before the missing-value policy: ``rows`` are the 0-based
    data rows of the file they came from (for error messages)."""

    X: np.ndarray  # (b, p)
    Y: np.ndarray  # (b, q)
    w: np.ndarray | None  # (b,)
    rows: np.ndarray  # (b,) int
    disk: int = 0  # bytes of the file on disk this batch consumed (progress bars)
    labels: tuple[Labels, ...] = ()  # (b,) each: label columns read alongside (groups=)


class FileSource(Source):
    """CSV / Parquet files as a re-iterable block source (see :func:`read`).

    Attributes
    ----------
    paths : tuple of Path
        The files, in the order they are read.
    columns : tuple of str
        Every column of the first file.
    feature_names, target_names : tuple of str
        Columns (or formula terms) of X and of Y.
    n_features, n_outputs, y_ndim : int
        ``y_ndim`` is 1 when ``y`` named one column as a string, else 2.
    fit_intercept : bool or None
        What a formula implies (``y ~ x - 1`` gives False); None without a formula.
    n_dropped : int or None
        Rows dropped under ``missing="drop"`` in the last complete pass (None before one).
    dialect : CsvDialect
        How the CSV files are read (separator, decimal mark, ...; sniffed where not given).
    notes : tuple of str
        What was sniffed (``"data.csv: the header holds no comma but 7 x ';' ..."``); the CLI
        prints them, the library logs them at INFO on the ``olsnet`` logger.

    Notes
    -----
    ``blocks()`` yields ``(X (b, p), Y (b, q), w (b,) or None)`` float64 arrays of at most
    ``batch_rows`` rows, starting over on each call; this is the block-source protocol shared
    with ``olsnet.data.ArraySource`` and the dask sources of ``olsnet.scale``. Subclasses may
    override :meth:`file_blocks` (one file) and reuse the checks and the missing-value policy.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        y: tuple[str, ...],
        x: tuple[str, ...] | None,
        weights: str | None,
        missing: str,
        batch_rows: int,
        y_ndim: int,
        dialect: CsvDialect | None = None,
    ) -> None:
        self.missing = missing
        self.batch_rows = batch_rows
        self.weights = weights
        self.y_ndim = y_ndim
        self._open(paths, dialect)
        self._y = y
        self._check_present(self.paths[0], self.columns, (*y, *((weights,) if weights else ())))
        if x is None:
            skip = {*y, weights}
            x = tuple(c for c in self.columns if c not in skip)
            if not x:
                raise DataFileError(
                    f"{self.paths[0]}: no column is left for X after taking "
                    f"y={list(y)}; the file has columns {list(self.columns)}"
                )
        self._x = x
        self._check_present(self.paths[0], self.columns, x)
        self.n_dropped: int | None = None
        self.fit_intercept: bool | None = None
        self._pre_dropped = 0

    # -- protocol ---------------------------------------------------------------------------
    @property
    def feature_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._x

    @property
    def target_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._y

    @property
    def weighted(self) -> bool:  # type: ignore[override]
        return self.weights is not None

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """QR state of every row; with ``missing="raise"`` the Arrow columns go straight into
        the fold (``olsnet.data._file_fold``), else the converted ``blocks()`` are folded."""
        if self.missing != "raise":
            return fold_blocks(
                self._blocks_reporting(on_batch),
                self.n_features,
                self.n_outputs,
                fit_intercept,
                n_jobs=n_jobs,
            )
        from .._file_fold import file_state

        return file_state(self, fit_intercept, n_jobs, on_batch)

    def residual_pass(
        self,
        params: np.ndarray,
        R_x: np.ndarray,
        shift_x: np.ndarray,
        kept: np.ndarray,
        fit_intercept: bool,
        *,
        n_jobs: int | None = None,
        on_batch: OnBatch | None = None,
        kinds: Iterable[str] = HC_MEATS,
    ) -> ResidualPass:
        """:meth:`Source.residual_pass`, ``on_batch`` told the bytes on disk of each block.

        Every HC meat is computed whatever ``kinds`` asks: reading the files bounds this pass,
        and a second read for another covariance type would cost far more than the meats."""
        del kinds
        blocks = self._blocks_reporting(on_batch)
        return residual_pass(blocks, params, R_x, shift_x, kept, fit_intercept, n_threads=n_jobs)

    def blocks(self) -> Iterator[Block]:
        """Yield ``(X (b, p), Y (b, q), w (b,) or None)`` over every file, in order."""
        return self._blocks_reporting(None)

    def _blocks_reporting(self, on_batch: OnBatch | None) -> Iterator[Block]:
        """:meth:`blocks`, calling ``on_batch(rows, bytes on disk)`` as each batch is read."""
        self._pre_dropped = 0  # rows a subclass drops before conversion (formula sources)
        dropped = 0
        for path in self.paths:
            for batch in self.file_blocks(path):
                if on_batch is not None:
                    on_batch(len(batch.rows), batch.disk)
                X, Y, w, n_bad = self._apply_missing(path, batch)
                dropped += n_bad
                if X.shape[0]:
                    yield X, Y, w
        self.n_dropped = dropped + self._pre_dropped

    # -- reading ----------------------------------------------------------------------------
    def _open(self, paths: Sequence[Path], dialect: CsvDialect | None) -> None:
        """Set ``paths``, the CSV ``dialect`` (sniffed on the first CSV file), ``notes`` and
        the first file's ``columns``."""
        self.paths = tuple(paths)
        dialect = CsvDialect() if dialect is None else dialect
        first_csv = next((p for p in self.paths if file_kind(p) == "csv"), None)
        self.notes: tuple[str, ...] = ()
        if first_csv is not None:
            dialect, self.notes = dialect.resolve(first_csv)
        self.dialect = dialect
        self.columns = self.file_columns(self.paths[0])

    def file_columns(self, path: Path) -> tuple[str, ...]:
        """All column names of one file (CSV header or Parquet schema)."""
        return file_columns(path, self.dialect)

    def _check_present(self, path: Path, columns: Sequence[str], wanted: Sequence[str]) -> None:
        check_columns(path, columns, wanted, self.dialect)

    def arrow_schema(self, path: Path) -> Any:
        """The Arrow schema of one file (Parquet: as stored; CSV: as pyarrow infers it)."""
        kind = file_kind(path)
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_schema(path)
        if kind == "excel":
            return excel_schema(path, self.dialect)
        return csv_schema(path, self.dialect)

    def arrow_batches(
        self, path: Path, columns: Sequence[str], text_columns: Sequence[str] = ()
    ) -> Iterator[Any]:
        """Arrow record batches of ``columns`` of one file, read with the source's dialect,
        after checking that the file has them."""
        self._check_present(path, self.file_columns(path), columns)
        return open_batches(path, columns, text_columns, self.batch_rows, self.dialect)

    def arrow_batches_at(
        self, path: Path, columns: Sequence[str], text_columns: Sequence[str] = ()
    ) -> Iterator[tuple[Any, int]]:
        """:meth:`arrow_batches` with the bytes of the file on disk each batch consumed (they
        add up to the file's size; progress bars show them against the total)."""
        self._check_present(path, self.file_columns(path), columns)
        return open_batches_at(path, columns, text_columns, self.batch_rows, self.dialect)

    def parquet_spans(
        self, path: Path, columns: Sequence[str], rows_per_span: int
    ) -> tuple[Any, list[tuple[list[int], int, int]]] | None:
        """A Parquet file's metadata and row-group spans for reading on many threads
        (:func:`~olsnet.data.files._arrow.parquet_spans`), after checking that the file has
        ``columns``; None for a file of another kind, or a query (read as one stream)."""
        if not isinstance(path, Path) or file_kind(path) != "parquet":
            return None
        self._check_present(path, self.file_columns(path), columns)
        return parquet_spans(path, rows_per_span)

    def _raw_columns(self) -> tuple[str, ...]:
        w = (self.weights,) if self.weights else ()
        return tuple(dict.fromkeys((*self._x, *self._y, *w)))

    def file_blocks(self, path: Path, labels: Sequence[str] = ()) -> Iterator[_Batch]:
        """Converted batches of one file (before the missing-value policy), with the
        ``labels`` columns as read (text as text) in ``_Batch.labels``."""
        offset = 0
        raw = self._raw_columns()
        columns = tuple(dict.fromkeys((*raw, *labels)))
        text = tuple(c for c in labels if c not in raw)
        for batch, disk in self.arrow_batches_at(path, columns, text):
            b = batch.num_rows
            X = stack_float64(batch, self._x, path)  # (b, p)
            Y = stack_float64(batch, self._y, path)  # (b, q); q = 0 for features only
            w = column_float64(batch, self.weights, path) if self.weights else None
            L = tuple(label_array(batch.column(c)) for c in labels)
            del batch  # converted: not held (with its reader's buffers) while X is consumed
            for start in range(0, b, self.batch_rows):
                sl = slice(start, min(start + self.batch_rows, b))
                yield _Batch(
                    X[sl],
                    Y[sl],
                    None if w is None else w[sl],
                    np.arange(offset + sl.start, offset + sl.stop),
                    disk if sl.stop == b else 0,  # with the last slice: a pass ends there
                    tuple(v[sl] for v in L),
                )
            offset += b
        if offset == 0:
            raise DataFileError(
                f"{path}: the file has a header but no data rows; at least one row is required"
            )

    # -- missing values and weights ---------------------------------------------------------
    def where(self, path: Path, row: int) -> str:
        """'file, line N' (CSV, physical line) or 'file, row N' of 0-based data row ``row``."""
        return where(path, row, self.dialect)

    _where = where

    def label_blocks(
        self, names: Sequence[str], *, on_batch: OnBatch | None = None
    ) -> Iterator[LabelBlock]:
        """:meth:`Source.label_blocks` for any column of the files: the rows of the fit (after
        the missing-value policy) with the named columns of the same rows, read in the same
        batches (memory: one batch).

        Raises
        ------
        DataFileError
            A name that is not a column of a file (close matches named), or a missing label
            in a row of the fit (file and line named).
        """
        names = tuple(names)
        for path in self.paths:
            check_label_names(names, self.file_columns(path), f"the file {path}", DataFileError)
            for batch in self.file_blocks(path, names):
                if on_batch is not None:
                    on_batch(len(batch.rows), batch.disk)
                ok = self._complete(path, batch)
                X, Y, w, _ = self._apply_missing(path, batch, ok)
                labels = batch.labels if ok.all() else tuple(v[ok] for v in batch.labels)
                for name, v in zip(names, labels, strict=True):
                    i = first_missing_label(v)
                    if i is not None:
                        row = int(batch.rows[np.flatnonzero(ok)[i]])
                        raise DataFileError(
                            f"{self._where(path, row)}, column {name!r}: a missing group label; "
                            "every row of the fit needs a cluster (drop those rows or fill "
                            "them in)"
                        )
                if X.shape[0]:
                    yield X, Y, w, labels

    def _apply_missing(
        self, path: Path, batch: _Batch, ok: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """The batch's complete rows (``ok``: :meth:`_complete`, computed when not given)."""
        X, Y, w = batch.X, batch.Y, batch.w
        if ok is None:
            ok = self._complete(path, batch)
        if ok.all():
            return X, Y, w, 0
        return X[ok], Y[ok], None if w is None else w[ok], int((~ok).sum())

    def _complete(self, path: Path, batch: _Batch) -> np.ndarray:
        """(b,) bool: the rows with no missing value; raises under ``missing="raise"``."""
        X, Y, w = batch.X, batch.Y, batch.w
        if w is not None:
            bad_w = ~(np.isfinite(w) & (w >= 0)) & ~np.isnan(w)
            if bad_w.any():
                i = int(np.flatnonzero(bad_w)[0])
                raise DataFileError(
                    f"{self._where(path, int(batch.rows[i]))}, column "
                    f"{self.weights!r}: weight {w[i]} is not allowed; weights "
                    "must be finite and >= 0"
                )
        ok = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
        if w is not None:
            ok &= np.isfinite(w)
        if self.missing == "raise" and not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            names = (
                *self.feature_names,
                *self.target_names,
                *((self.weights,) if w is not None else ()),
            )
            vals = np.concatenate([X[i], Y[i], [] if w is None else [w[i]]])
            j = int(np.flatnonzero(~np.isfinite(vals))[0])
            what = "a missing value" if np.isnan(vals[j]) else f"the value {vals[j]}"
            raise DataFileError(
                f"{self._where(path, int(batch.rows[i]))}, column {names[j]!r}: {what}; "
                "pass missing='drop' (CLI: --missing drop) to drop such rows, or fill them in"
            )
        return ok

    # -- whole data ---------------------------------------------------------------------------
    def to_design(self) -> Design:
        """Read every file into one in-memory :class:`olsnet.data.Design`."""
        Xs, Ys, ws = [], [], []
        for X, Y, w in self.blocks():
            Xs.append(X)
            Ys.append(Y)
            ws.append(w)
        if not Xs:
            raise DataFileError(
                f"{self.paths[0]}: no rows are left to fit after dropping the "
                "rows with missing values"
            )
        W = None if self.weights is None else np.concatenate([w for w in ws if w is not None])
        return Design(
            np.concatenate(Xs),
            np.concatenate(Ys),
            W,
            self.feature_names,
            self.target_names,
            self.y_ndim,
            self.n_dropped or 0,
            True,
        )

    def to_pandas(self) -> Any:
        """Every column of every file as one pandas DataFrame (reads everything into memory).

        The columns the source uses are read as it reads them (numbers as float64, a formula's
        text columns as strings); pyarrow infers the types of the others.
        """
        import pandas as pd

        frames = [
            whole_table(path, self._numeric_columns(), self.dialect).to_pandas()
            for path in self.paths
        ]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def _numeric_columns(self) -> tuple[str, ...]:
        return self._raw_columns()

    def __repr__(self) -> str:
        files = str(self.paths[0]) if len(self.paths) == 1 else f"{len(self.paths)} files"
        return (
            f"{type(self).__name__}({files}, y={list(self.target_names)}, "
            f"x={list(self.feature_names)})"
        )
