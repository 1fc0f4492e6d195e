"""CSV and Parquet files (one file, a directory or a glob) as a streaming block source.

``olsnet.read(path, y="y")`` returns a :class:`FileSource`: it holds the file list and the
column choice, and reads nothing but the header until ``blocks()`` is iterated. Each pass
streams the files batch by batch with pyarrow's readers (``pyarrow.csv.open_csv`` and
``pyarrow.parquet.ParquetFile.iter_batches``), so memory stays bounded by one batch whatever
the file sizes. ``LinearRegression().fit(source)`` folds the batches into the QR state.

The package: ``_paths`` (which files, what kind), ``_arrow`` (record batches, columns as
float64, where a row is), ``_csv_errors`` (the line and column of a CSV file pyarrow refused),
``source`` (:class:`FileSource`), ``formula_source`` (:class:`FormulaFileSource`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..._types import MISSING_POLICIES, check_option
from ...errors import InputTypeError
from ._arrow import (
    PARQUET_BATCH_BYTES,
    csv_block_bytes,
    file_columns,
    is_numeric_arrow,
    open_batches,
    parquet_batch_rows,
)
from ._csv_errors import locate_csv_problem, physical_line, read_header
from ._paths import expand_paths, file_kind
from .formula_source import FormulaFileSource, raw_frames, row_location
from .source import FileSource

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "PARQUET_BATCH_BYTES",
    "FileSource",
    "FormulaFileSource",
    "csv_block_bytes",
    "expand_paths",
    "file_columns",
    "is_numeric_arrow",
    "locate_csv_problem",
    "parquet_batch_rows",
    "physical_line",
    "raw_frames",
    "read",
    "read_features",
    "read_header",
    "record_batches",
    "row_location",
]

DEFAULT_BATCH_ROWS = 65536
record_batches = open_batches  # the name before the split into a package


def _names_arg(value: str | Sequence[str] | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    names = tuple(value)
    if not names or not all(isinstance(n, str) for n in names):
        raise InputTypeError(
            f"{what} must be a column name or a non-empty list of names; got {value!r}"
        )
    return names


def read(
    path_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    y: str | Sequence[str] | None = None,
    x: Sequence[str] | None = None,
    formula: str | None = None,
    weights: str | None = None,
    missing: str = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    allow_python: bool = True,
    text_target: bool = False,
) -> FileSource:
    """Open CSV / Parquet files as a streaming source for ``LinearRegression().fit``.

    Parameters
    ----------
    path_or_glob : str, path or list of them
        A file, a directory (its ``*.csv`` / ``*.parquet`` files, recursively) or a glob
        (``"data/part-*.parquet"``). Files are read in sorted order.
    y : str or list of str
        Target column(s). A single string gives 1-D targets (``y_ndim == 1``).
    x : list of str, optional
        Feature columns. Default: every column except ``y`` and ``weights``.
    formula : str, optional
        ``"y ~ x1 + np.log(x2) + C(group)"`` (formulaic syntax) instead of ``y`` / ``x``.
        Feature names are the formula's terms without ``Intercept``; whether the formula has
        one is ``source.fit_intercept`` (fit with
        ``LinearRegression(fit_intercept=source.fit_intercept)``). Categorical levels are
        collected in a first pass over the text columns (see :class:`FormulaFileSource`); a
        column named in ``C()`` / ``factor()`` is read as text from the first row. The
        source's ``model_spec`` encodes raw new rows for predictions.
    weights : str, optional
        Column of non-negative sample weights.
    missing : {"raise", "drop"}, default "raise"
        Empty fields / NA / NaN / inf: raise naming file, line and column, or drop the row.
    batch_rows : int, default 65536
        Rows per block; memory use is a few times ``batch_rows * n_columns * 8`` bytes.
    allow_python : bool, default True
        A formula is Python code; False allows only the documented transforms (the CLI's
        default; see ``olsnet.data.formula.check_transforms``).
    text_target : bool, default False
        Allow a text column as a formula's target (one indicator output per level).

    Returns
    -------
    FileSource
        Reads only headers now; every ``blocks()`` call streams the files again.

    Raises
    ------
    DataFileError
        No matching file, unknown file type, a missing column, an empty file, and (while
        streaming) ragged rows, text in a numeric column, bad UTF-8, missing values; the message
        names the file, the line (1-based, the header is line 1) and the column.

    Examples
    --------
    >>> src = olsnet.read("sales/*.parquet", y="revenue")        # doctest: +SKIP
    >>> olsnet.LinearRegression().fit(src).summary()             # doctest: +SKIP
    """
    check_option("missing", missing, MISSING_POLICIES)
    if not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputTypeError(f"batch_rows must be a positive integer; got {batch_rows!r}")
    paths = expand_paths(path_or_glob)
    for p in paths:
        file_kind(p)
    if formula is not None:
        if y is not None or x is not None:
            raise InputTypeError(
                "pass either formula= or y= / x=, not both; the formula names "
                "the target on the left of '~'"
            )
        return FormulaFileSource(
            paths,
            formula=formula,
            weights=weights,
            missing=missing,
            batch_rows=batch_rows,
            allow_python=allow_python,
            text_target=text_target,
        )
    ys = _names_arg(y, "y")
    if ys is None:
        raise InputTypeError("read() needs y= (the target column) or formula=")
    xs = _names_arg(x, "x")
    return FileSource(
        paths,
        y=ys,
        x=xs,
        weights=weights,
        missing=missing,
        batch_rows=batch_rows,
        y_ndim=1 if isinstance(y, str) else 2,
    )


def read_features(
    path_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    x: Sequence[str] | None = None,
    *,
    missing: str = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> FileSource:
    """Files as a source of feature rows only (for predictions): ``blocks()`` yields
    ``(X (b, p), Y (b, 0), None)``. ``x`` defaults to every column."""
    check_option("missing", missing, MISSING_POLICIES)
    return FileSource(
        expand_paths(path_or_glob),
        y=(),
        x=_names_arg(x, "x"),
        weights=None,
        missing=missing,
        batch_rows=batch_rows,
        y_ndim=2,
    )
