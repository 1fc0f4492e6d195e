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

from collections.abc import Callable, Sequence
from typing import Any

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
from ._dialect import CsvDialect, csv_dialect
from ._paths import expand_paths, file_kind
from .formula_source import FormulaFileSource, raw_frames, row_location
from .source import FileSource
from .sql_source import FormulaQuerySource, Query, QuerySource, is_relation, query_of

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "PARQUET_BATCH_BYTES",
    "CsvDialect",
    "FileSource",
    "FormulaFileSource",
    "QuerySource",
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
    path_or_glob: Any = None,
    *,
    y: str | Sequence[str] | None = None,
    x: Sequence[str] | None = None,
    formula: str | None = None,
    weights: str | None = None,
    missing: str = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
    na_values: str | Sequence[str] | None = None,
    quotechar: str = '"',
    skip_rows: int = 0,
    comment: str | None = None,
    sheet: str | int | None = None,
    sql: str | None = None,
    allow_python: bool = True,
    text_target: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> FileSource:
    """Open CSV / Parquet / Excel files, or a DuckDB query, as a streaming source for ``LinearRegression().fit``.

    Parameters
    ----------
    path_or_glob : str, path, list of them, or a DuckDB relation
        A file, a directory (its ``*.csv`` / ``*.parquet`` files, recursively) or a glob
        (``"data/part-*.parquet"``); files are read in sorted order. With ``sql=``: a DuckDB
        database file (``.duckdb``, ``.ddb``, ``.db``, opened read-only) or None (an in-memory
        database; the query names its files: ``FROM 'sales/*.parquet'``). Or a
        ``duckdb.DuckDBPyRelation`` (``con.sql(...)``), run on its own connection.
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
    sep : str, optional
        The field separator of CSV files, one character (``"\\t"`` for a tab). Default:
        a tab for ``.tsv`` / ``.tab`` files; otherwise a comma, unless the header holds no
        comma but ``;``, tabs or ``|`` -- then the most frequent of those (sniffed, and said
        in ``source.notes``).
    decimal : {".", ","}, optional
        The decimal mark. Default ``"."``, or ``","`` when the separator is ``";"`` and the
        numbers of the first 20 rows are written with decimal commas (sniffed, and said).
    encoding : str, default "utf-8"
        The text encoding of CSV files (any Python codec name: ``"latin-1"``, ``"cp1252"``,
        ``"utf-16"``). A UTF-8 byte-order mark is always skipped.
    na_values : str or list of str, optional
        Field texts read as missing values, in addition to pyarrow's defaults (empty, ``NA``,
        ``NaN``, ``NULL``, ``#N/A``, ...), as pandas' ``na_values``: for example ``"."``
        (SAS, Stata exports).
    quotechar : str, default '"'
        The quote character; a quoted field may hold separators and newlines.
    skip_rows : int, default 0
        Lines to skip at the start of each CSV file, before the header.
    comment : str, optional
        The rest of a line from this character (outside quotes) is ignored, as pandas does;
        lines holding only a comment are skipped. Line numbers in errors still count them.
    sheet : str or int, optional
        Excel / OpenDocument files (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``, ``.ods``,
        read with fastexcel): the sheet, by name or 0-based position (default: the first).
        The header is the sheet's first row after ``skip_rows``.
    on_batch : callable, optional
        ``on_batch(rows, bytes)`` after each batch of the first pass a formula source makes
        here to collect its categorical levels (bytes on disk; for a progress bar such as
        ``olsnet.scale.RichProgress``). The passes of a fit report through ``fit``'s own
        ``on_batch``.
    sql : str, optional
        A DuckDB SQL query whose result is the data (needs the ``sql`` extra, ``duckdb``).
        The result streams as Arrow record batches into the same fold as files (bounded
        memory); each pass over the data runs the query again.
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
        No matching file, unknown file type, a missing column, a repeated column name, an
        empty file, a line longer than 1 MiB, and (while streaming) ragged rows, text in a
        numeric column, bytes not in the encoding, missing values; the message names the file,
        the line (1-based and physical: the header is line 1, blank lines, comment lines and
        the lines of a quoted field holding a newline count) and the column.
        A SQL query that fails (DuckDB's message and the query), returns no rows, or gives a
        column the fit needs as numbers in another type (each such column named).
    OptionError
        A ``sep``, ``decimal``, ``quotechar`` or ``comment`` that is not one character, an
        unknown ``encoding``.

    Examples
    --------
    >>> src = olsnet.read("sales/*.parquet", y="revenue")        # doctest: +SKIP
    >>> olsnet.LinearRegression().fit(src).summary()             # doctest: +SKIP
    """
    check_option("missing", missing, MISSING_POLICIES)
    if not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputTypeError(f"batch_rows must be a positive integer; got {batch_rows!r}")
    if sql is not None or is_relation(path_or_glob):
        query = query_of(path_or_glob, sql)
        return _read_query(query, y, x, formula, weights, missing, batch_rows, on_batch)
    dialect = csv_dialect(
        sep=sep,
        decimal=decimal,
        encoding=encoding,
        na_values=na_values,
        quotechar=quotechar,
        skip_rows=skip_rows,
        comment=comment,
        sheet=sheet,
    )
    if path_or_glob is None:
        raise InputTypeError("read() needs a file, directory or glob (or sql= with a query)")
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
            dialect=dialect,
            allow_python=allow_python,
            text_target=text_target,
            on_batch=on_batch,
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
        dialect=dialect,
    )


def _read_query(
    query: Query,
    y: str | Sequence[str] | None,
    x: Sequence[str] | None,
    formula: str | None,
    weights: str | None,
    missing: str,
    batch_rows: int,
    on_batch: Callable[[int, int], None] | None,
) -> FileSource:
    if formula is not None:
        if y is not None or x is not None:
            raise InputTypeError("pass either formula= or y= / x=, not both")
        return FormulaQuerySource(
            query,
            formula=formula,
            weights=weights,
            missing=missing,
            batch_rows=batch_rows,
            on_batch=on_batch,
        )
    ys = _names_arg(y, "y")
    if ys is None:
        raise InputTypeError("read() needs y= (the target column) or formula=")
    return QuerySource(
        query,
        y=ys,
        x=_names_arg(x, "x"),
        weights=weights,
        missing=missing,
        batch_rows=batch_rows,
        y_ndim=1 if isinstance(y, str) else 2,
    )


def read_features(
    path_or_glob: Any,
    x: Sequence[str] | None = None,
    *,
    missing: str = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    sql: str | None = None,
    **csv_options: Any,
) -> FileSource:
    """Files (or a DuckDB query, ``sql=``) as a source of feature rows only (for predictions):
    ``blocks()`` yields ``(X (b, p), Y (b, 0), None)``. ``x`` defaults to every column;
    ``csv_options`` are :func:`read`'s ``sep``, ``decimal``, ``encoding``, ``na_values``,
    ``quotechar``, ``skip_rows``, ``comment`` and ``sheet``."""
    check_option("missing", missing, MISSING_POLICIES)
    if sql is not None or is_relation(path_or_glob):
        query = query_of(path_or_glob, sql)
        return QuerySource(
            query,
            y=(),
            x=_names_arg(x, "x"),
            weights=None,
            missing=missing,
            batch_rows=batch_rows,
            y_ndim=2,
        )
    return FileSource(
        expand_paths(path_or_glob),
        y=(),
        x=_names_arg(x, "x"),
        weights=None,
        missing=missing,
        batch_rows=batch_rows,
        y_ndim=2,
        dialect=csv_dialect(**csv_options),
    )
