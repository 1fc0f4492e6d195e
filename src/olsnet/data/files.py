"""CSV and Parquet files (one file, a directory or a glob) as a streaming block source.

``olsnet.read(path, y="y")`` returns a :class:`FileSource`: it holds the file list and the
column choice, and reads nothing but the header until ``blocks()`` is iterated. Each pass
streams the files batch by batch with pyarrow's readers (``pyarrow.csv.open_csv`` and
``pyarrow.parquet.ParquetFile.iter_batches``), so memory stays bounded by one batch whatever
the file sizes. ``LinearRegression().fit(source)`` folds the batches into the QR state.

pyarrow's messages do not say where a CSV file went wrong, so on an error the failing file is
re-scanned with the standard library (only on that path) to name the line and the column.
Line numbers are 1-based and count the header line, as a text editor shows them.
"""

from __future__ import annotations

import csv
import glob
import math
import os
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._types import MISSING_POLICIES, check_option
from ..errors import DataFileError, InputTypeError, OptionError
from ..solve import QRState
from ._arrays import FORMULA_HINT, Design
from .source import OnBatch, Source

__all__ = [
    "FileSource",
    "csv_block_bytes",
    "locate_csv_problem",
    "physical_line",
    "read",
    "read_features",
    "read_header",
    "record_batches",
]

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_BATCH_ROWS = 65536
# field texts pyarrow reads as null (ConvertOptions.null_values default), for the re-scan
_NULL_TEXTS = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "n/a",
        "nan",
        "null",
    ]
)

Block = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataFileError(
        f"{path}: unknown file type; olsnet reads CSV ({', '.join(CSV_SUFFIXES)}) and Parquet "
        f"({', '.join(PARQUET_SUFFIXES)}) files"
    )


def expand_paths(
    path_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[Path, ...]:
    """The data files named by a path, a directory (its CSV/Parquet files, recursively), a glob
    or a list of those, in sorted order; raises DataFileError when nothing matches."""
    if isinstance(path_or_glob, (list, tuple)):
        return tuple(p for item in path_or_glob for p in expand_paths(item))
    text = os.fspath(path_or_glob)  # type: ignore[arg-type]
    path = Path(text)
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)
        )
        if not found:
            raise DataFileError(f"{path}: the directory holds no CSV or Parquet files")
        return tuple(found)
    if glob.has_magic(text):
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise DataFileError(f"{text}: no file matches this pattern")
        return tuple(found)
    if not path.exists():
        raise DataFileError(f"{path}: no such file or directory")
    return (path,)


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


# ----------------------------------------------------------------------------- CSV re-scan


def _open_text_lines(path: Path) -> Iterator[bytes]:
    """Raw lines (bytes, newline kept) of a possibly compressed CSV file."""
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as fh:
            yield from fh
    elif name.endswith(".bz2"):
        import bz2

        with bz2.open(path, "rb") as fh:
            yield from fh
    else:
        with open(path, "rb") as fh:
            yield from fh


def _is_blank(raw: bytes) -> bool:
    return raw in (b"\n", b"\r\n", b"\r", b"")


def _split(text: str) -> list[str]:
    return next(csv.reader([text.rstrip("\r\n")]), [])


def _decode_or_raise(path: Path, raw: bytes, line: int, header: Sequence[str] | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        col = raw[: exc.start].count(b",")
        where = f"column {header[col]!r}" if header and col < len(header) else f"field {col + 1}"
        raise DataFileError(
            f"{path}, line {line}, {where}: bytes {raw[exc.start : exc.end]!r} are not valid UTF-8; "
            "olsnet reads CSV files as UTF-8: re-save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ) from None


# what pyarrow's float64 conversion accepts (Python's float() also takes "1_0", which it does not)
_NUMBER = re.compile(
    r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)\s*", re.IGNORECASE
)


def _is_number(text: str) -> bool:
    return text.strip() in _NULL_TEXTS or _NUMBER.fullmatch(text) is not None


def locate_csv_problem(path: Path, numeric: Sequence[str], cause: str) -> DataFileError:
    """Re-scan a CSV file that pyarrow refused and return the error naming line and column.

    Checks, line by line: UTF-8 decoding, the number of fields against the header, and that
    every field of a ``numeric`` column parses as a number (or is a null marker).
    """
    lines = _open_text_lines(path)
    header: list[str] | None = None
    try:
        for line, raw in enumerate(lines, start=1):
            if _is_blank(raw):
                continue  # pyarrow skips empty lines
            text = _decode_or_raise(path, raw, line, header)
            fields = _split(text)
            if header is None:
                header = fields
                positions = [(header.index(c), c) for c in numeric if c in header]
                continue
            if len(fields) != len(header):
                short = len(fields) < len(header)
                col = header[len(fields)] if short else header[-1]
                problem = (
                    f"the row ends before column {col!r}"
                    if short
                    else f"the row goes on after the last column {col!r}"
                )
                return DataFileError(
                    f"{path}, line {line}, column {col!r}: {len(fields)} field(s) where the header "
                    f"has {len(header)}; {problem}. Fix the row (a missing value is an empty "
                    "field between commas)"
                )
            for j, name in positions:
                if not _is_number(fields[j]):
                    return DataFileError(
                        f"{path}, line {line}, column {name!r}: {fields[j]!r} is not a number; "
                        f"the column must hold numbers only (or be left empty for a missing "
                        "value); to use text as categories, read the file with a formula "
                        "(formula='y ~ C(column)')"
                    )
    except DataFileError as err:
        return err
    finally:
        lines.close()  # type: ignore[attr-defined]
    if header is None:
        return DataFileError(
            f"{path}, line 1: the file is empty; a CSV file needs a header line "
            "with the column names and at least one data row"
        )
    return DataFileError(f"{path}: pyarrow could not read the file: {cause}")


def physical_line(path: Path, row: int) -> int:
    """1-based line number (header = line 1, blank lines counted) of 0-based data row ``row``."""
    seen = -1  # the header is row -1
    lines = _open_text_lines(path)
    try:
        for line, raw in enumerate(lines, start=1):
            if _is_blank(raw):
                continue
            if seen == row:
                return line
            seen += 1
    finally:
        lines.close()  # type: ignore[attr-defined]
    return row + 2


def read_header(path: Path) -> tuple[str, ...]:
    """Column names from the first non-blank line of a CSV file."""
    lines = _open_text_lines(path)
    try:
        for line, raw in enumerate(lines, start=1):
            if not _is_blank(raw):
                names = _split(_decode_or_raise(path, raw, line, None))
                if not names or any(not n.strip() for n in names):
                    raise DataFileError(
                        f"{path}, line {line}: the header line has an empty column "
                        "name; every column needs a name"
                    )
                return tuple(names)
    finally:
        lines.close()  # type: ignore[attr-defined]
    raise DataFileError(
        f"{path}, line 1: the file is empty; a CSV file needs a header line with "
        "the column names and at least one data row"
    )


# ----------------------------------------------------------------------------- batches


def csv_block_bytes(path: Path, batch_rows: int) -> int:
    """pyarrow's CSV block size in bytes giving about ``batch_rows`` rows per batch.

    Capped at 4 MB: pyarrow's threaded reader keeps several blocks in flight, and larger blocks
    raised the peak memory of a pass (880 MB with 26 MB blocks) without making it faster.
    """
    with open(path, "rb") as fh:
        sample = fh.read(1 << 16)
    n_lines = max(sample.count(b"\n"), 1)
    per_row = len(sample) / n_lines
    return int(min(max(per_row * batch_rows * 1.05, 1 << 16), 1 << 22))


PARQUET_BATCH_BYTES = 32 << 20  # a whole row group per batch when it holds at most this much


def parquet_batch_rows(pf: Any, batch_rows: int, n_columns: int) -> int:
    """Rows per batch for the Parquet file ``pf``: its largest row group when that holds at
    most ``PARQUET_BATCH_BYTES`` of float64 (pyarrow then decodes each group in one piece:
    measured 2.2 s of CPU for 10M x 20 in 131,072-row groups against 2.5 s in half groups),
    else ``batch_rows``, so memory stays bounded whatever the row-group size."""
    meta = pf.metadata
    largest = max((meta.row_group(i).num_rows for i in range(meta.num_row_groups)), default=0)
    if batch_rows < largest <= PARQUET_BATCH_BYTES // (8 * max(n_columns, 1)):
        return int(largest)
    return int(batch_rows)


def record_batches(
    path: Path, columns: Sequence[str], text_columns: Sequence[str], batch_rows: int
) -> Iterator[Any]:
    """pyarrow RecordBatches of ``columns`` (numeric as float64, ``text_columns`` as strings)."""
    import pyarrow as pa

    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering doubled peak memory
            size = parquet_batch_rows(pf, batch_rows, len(columns))
            yield from pf.iter_batches(batch_size=size, columns=list(columns))
        except (pa.ArrowException, OSError) as exc:
            raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
        return
    import pyarrow.csv as pcsv

    types = {c: (pa.string() if c in text_columns else pa.float64()) for c in columns}
    numeric = [c for c in columns if c not in text_columns]
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=csv_block_bytes(path, batch_rows)),
            convert_options=pcsv.ConvertOptions(column_types=types, include_columns=list(columns)),
        )
        yield from reader
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise locate_csv_problem(path, numeric, str(exc)) from None


def _whole_table(path: Path, numeric: Sequence[str]) -> Any:
    """One file as a pyarrow Table, ``numeric`` columns as float64 (errors located)."""
    import pyarrow as pa

    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
    import pyarrow.csv as pcsv

    types = dict.fromkeys(numeric, pa.float64())
    try:
        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise locate_csv_problem(path, numeric, str(exc)) from None


def _float64_values(arr: Any) -> np.ndarray:
    """(n,) float64 copy of a pyarrow float64 Array from its buffers, nulls as NaN."""
    validity, data = arr.buffers()[:2]
    n, off = len(arr), arr.offset
    out = np.frombuffer(data, dtype=np.float64, count=off + n)[off:].copy()
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        out[bits[off : off + n] == 0] = np.nan
    return out


def is_numeric_arrow(arrow_type: Any) -> bool:
    """Whether a pyarrow type converts to float64 as a number (float, int, bool, decimal)."""
    import pyarrow as pa

    t = pa.types
    return bool(
        t.is_floating(arrow_type)
        or t.is_integer(arrow_type)
        or t.is_boolean(arrow_type)
        or t.is_decimal(arrow_type)
    )


def _column_as_float(batch: Any, name: str) -> np.ndarray:
    """(b,) float64 copy of a numeric column, nulls as NaN."""
    import pyarrow as pa

    col = batch.column(name)
    if col.type == pa.float64():  # the CSV path: read the buffers (to_numpy would load pandas)
        return _float64_values(col)
    if not is_numeric_arrow(col.type):
        raise InputTypeError(
            f"column {name!r} has type {col.type}, which is not numeric; {FORMULA_HINT}"
        )
    return _float64_values(col.cast(pa.float64()))


def _stack(batch: Any, names: Sequence[str]) -> np.ndarray:
    """(b, len(names)) float64 array of the named numeric columns."""
    out = np.empty((batch.num_rows, len(names)))
    for j, name in enumerate(names):
        out[:, j] = _column_as_float(batch, name)
    return out


@dataclass(frozen=True)
class _Batch:
    """One batch after conversion, before the missing-value policy: ``rows`` are the 0-based
    data rows of the file they came from (for error messages)."""

    X: np.ndarray  # (b, p)
    Y: np.ndarray  # (b, q)
    w: np.ndarray | None  # (b,)
    rows: np.ndarray  # (b,) int


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
    ) -> None:
        self.paths = tuple(paths)
        self.missing = missing
        self.batch_rows = batch_rows
        self.weights = weights
        self.y_ndim = y_ndim
        self.columns = self.file_columns(self.paths[0])
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
            return super().fit_state(fit_intercept, n_jobs=n_jobs, on_batch=on_batch)
        from ._file_fold import file_state

        return file_state(self, fit_intercept, n_jobs, on_batch)

    def blocks(self) -> Iterator[Block]:
        """Yield ``(X (b, p), Y (b, q), w (b,) or None)`` over every file, in order."""
        self._pre_dropped = 0  # rows a subclass drops before conversion (formula sources)
        dropped = 0
        for path in self.paths:
            for batch in self.file_blocks(path):
                X, Y, w, n_bad = self._apply_missing(path, batch)
                dropped += n_bad
                if X.shape[0]:
                    yield X, Y, w
        self.n_dropped = dropped + self._pre_dropped

    # -- reading ----------------------------------------------------------------------------
    def file_columns(self, path: Path) -> tuple[str, ...]:
        """All column names of one file (CSV header or Parquet schema)."""
        if _kind(path) == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                return tuple(pq.read_schema(path).names)
            except (pa.ArrowException, OSError) as exc:
                raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
        return read_header(path)

    def _check_present(self, path: Path, columns: Sequence[str], wanted: Sequence[str]) -> None:
        missing = [c for c in wanted if c not in columns]
        if missing:
            where = f"{path}, line 1" if _kind(path) == "csv" else f"{path}"
            raise DataFileError(
                f"{where}: column {missing[0]!r} is not in the file; its columns are "
                f"{', '.join(columns)}. Check the spelling (names are case-sensitive)"
            )

    def _raw_columns(self) -> tuple[str, ...]:
        w = (self.weights,) if self.weights else ()
        return tuple(dict.fromkeys((*self._x, *self._y, *w)))

    def file_blocks(self, path: Path) -> Iterator[_Batch]:
        """Converted batches of one file (before the missing-value policy)."""
        if path != self.paths[0]:
            self._check_present(path, self.file_columns(path), self._raw_columns())
        offset = 0
        for batch in record_batches(path, self._raw_columns(), (), self.batch_rows):
            b = batch.num_rows
            try:
                X = _stack(batch, self._x)  # (b, p)
                Y = _stack(batch, self._y)  # (b, q); q = 0 for features only (predictions)
                w = _column_as_float(batch, self.weights) if self.weights else None
            except InputTypeError as exc:
                raise DataFileError(f"{path}: {exc}") from None
            for start in range(0, b, self.batch_rows):
                sl = slice(start, min(start + self.batch_rows, b))
                yield _Batch(
                    X[sl],
                    Y[sl],
                    None if w is None else w[sl],
                    np.arange(offset + sl.start, offset + sl.stop),
                )
            offset += b
        if offset == 0:
            raise DataFileError(
                f"{path}: the file has a header but no data rows; at least one row is required"
            )

    # -- missing values and weights ---------------------------------------------------------
    def _where(self, path: Path, row: int) -> str:
        if _kind(path) == "csv":
            return f"{path}, line {physical_line(path, row)}"
        return f"{path}, row {row + 1}"

    def _apply_missing(
        self, path: Path, batch: _Batch
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
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
        if ok.all():
            return X, Y, w, 0
        if self.missing == "raise":
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
        return X[ok], Y[ok], None if w is None else w[ok], int((~ok).sum())

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

        frames = [_whole_table(path, self._numeric_columns()).to_pandas() for path in self.paths]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def _numeric_columns(self) -> tuple[str, ...]:
        return self._raw_columns()

    def __repr__(self) -> str:
        files = str(self.paths[0]) if len(self.paths) == 1 else f"{len(self.paths)} files"
        return (
            f"{type(self).__name__}({files}, y={list(self.target_names)}, "
            f"x={list(self.feature_names)})"
        )


class FormulaFileSource(FileSource):
    """A :class:`FileSource` whose X and Y come from a formula applied to each batch.

    Categorical levels must be known before the first batch is encoded (a level first seen in
    batch 7 would otherwise change the columns). So the text columns the formula uses are read
    in a first, cheap pass that collects their levels (sorted); every batch then encodes them
    as a pandas Categorical with all levels, and the model spec learnt on the first batch fits
    every batch. A *numeric* column used as ``C(x)`` must also show all its levels: it is
    likewise scanned when the formula names it inside ``C(...)``.

    formulaic's *stateful* transforms (``center``, ``scale``, ``poly``, ``bs``, ...) learn
    their state (means, scales, knots) from the data they first see; streamed, that would be
    the first batch, not the whole data, and the fit would differ from the in-memory one. So a
    formula with such a term is refused when the data span more than one batch (an
    :class:`~olsnet.errors.OptionError` naming the term and the ways out).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        formula: str,
        weights: str | None,
        missing: str,
        batch_rows: int,
    ) -> None:
        from .formula import parse_formula

        self.formula = formula
        parsed = parse_formula(formula)
        self.paths = tuple(paths)
        self.missing = missing
        self.batch_rows = batch_rows
        self.weights = weights
        self.y_ndim = 1
        self.columns = self.file_columns(self.paths[0])
        unknown = parsed.unknown(self.columns)
        if unknown:
            self._check_present(self.paths[0], self.columns, unknown)
        variables = tuple(parsed.columns_used(self.columns))
        self._variables = variables
        self._check_present(self.paths[0], self.columns, (weights,) if weights else ())
        self._text = self._text_columns(self.paths[0], variables)
        self._levels = self._learn_levels(parsed.categorical | set(self._text))
        frames = self._frames(self.paths[0])
        first = next(frames, None)
        if first is None:
            raise DataFileError(f"{self.paths[0]}: the file has a header but no data rows")
        spec = parsed.learn(first[0])
        stateful = [*spec.model_spec.rhs.transform_state, *spec.model_spec.lhs.transform_state]
        if stateful and (len(self.paths) > 1 or next(frames, None) is not None):
            raise OptionError(
                f"formula {formula!r}: {stateful[0]!r} is a stateful transform, whose state "
                f"(means, scales, knots) would be learnt from the first batch of {batch_rows:,} "
                "rows only and give a different fit from the in-memory one. Stream with plain "
                "transforms (np.log(x), I((x - 4.5) / 3.0)), pass batch_rows at least the number "
                "of rows, or fit a DataFrame in memory with olsnet.ols(formula, data=frame)"
            )
        self.spec = spec
        self._y = spec.target_names
        self._x = spec.feature_names
        self.fit_intercept = spec.fit_intercept
        self.n_dropped = None
        self._pre_dropped = 0

    def _raw_columns(self) -> tuple[str, ...]:
        w = (self.weights,) if self.weights else ()
        return tuple(dict.fromkeys((*self._variables, *w)))

    def _numeric_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self._raw_columns() if c not in self._text)

    def _text_columns(self, path: Path, variables: Sequence[str]) -> tuple[str, ...]:
        """Columns pyarrow infers as text (or Parquet stores as text / dictionary)."""
        import pyarrow as pa

        if _kind(path) == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
        else:
            import pyarrow.csv as pcsv

            try:
                schema = pcsv.open_csv(path).schema
            except pa.ArrowInvalid as exc:
                raise locate_csv_problem(path, (), str(exc)) from None
        out = []
        for name in variables:
            t = schema.field(name).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
                out.append(name)
        return tuple(out)

    def _learn_levels(self, categorical: Collection[str]) -> dict[str, list[Any]]:
        """First pass over the categorical columns: their sorted levels across every file."""
        cols = [c for c in self._variables if c in categorical]
        if not cols:
            return {}
        levels: dict[str, set[Any]] = {c: set() for c in cols}
        for path in self.paths:
            self._check_present(path, self.file_columns(path), self._raw_columns())
            for batch in record_batches(path, cols, self._text, self.batch_rows):
                for c in cols:
                    levels[c].update(
                        v
                        for v in batch.column(c).unique().to_pylist()
                        if v is not None and not (isinstance(v, float) and math.isnan(v))
                    )
        return {c: _as_ints_if_integral(sorted(v)) for c, v in levels.items()}

    def _frames(self, path: Path) -> Iterator[tuple[Any, np.ndarray]]:
        """(pandas DataFrame, rows) per batch, with categorical levels fixed."""
        import pandas as pd

        offset = 0
        for batch in record_batches(path, self._raw_columns(), self._text, self.batch_rows):
            df = batch.to_pandas()
            for c, lv in self._levels.items():
                df[c] = pd.Categorical(df[c], categories=lv)
            rows = np.arange(offset, offset + batch.num_rows)
            offset += batch.num_rows
            yield df, rows

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """QR state of the formula's rows: its encoded ``blocks()``, folded on threads."""
        return Source.fit_state(self, fit_intercept, n_jobs=n_jobs, on_batch=on_batch)

    def file_blocks(self, path: Path) -> Iterator[_Batch]:
        if path != self.paths[0]:
            self._check_present(path, self.file_columns(path), self._raw_columns())
        seen = 0
        for df, rows in self._frames(path):
            seen += len(rows)
            present = df[list(self._variables)].notna().to_numpy().all(axis=1)
            if not present.all():
                if self.missing == "raise":
                    i = int(np.flatnonzero(~present)[0])
                    col = next(c for c in self._variables if df[c].isna().iloc[i])
                    raise DataFileError(
                        f"{self._where(path, int(rows[i]))}, column {col!r}: a missing value; pass "
                        "missing='drop' (CLI: --missing drop) to drop such rows, or fill them in"
                    )
                df, rows = df[present], rows[present]
                self._pre_dropped += int((~present).sum())
            X, Y = self.spec.transform(df)
            w = _column_as_float_pd(df, self.weights) if self.weights else None
            yield _Batch(X, Y, w, rows)
        if seen == 0:
            raise DataFileError(f"{path}: the file has a header but no data rows")


def _as_ints_if_integral(levels: list[Any]) -> list[Any]:
    """Numeric levels read as float64 (2.0) named as the integers they are (``C(k)[T.2]``, as
    pandas' int column gives in statsmodels)."""
    if levels and all(isinstance(v, float) and v.is_integer() for v in levels):
        return [int(v) for v in levels]
    return levels


def _column_as_float_pd(df: Any, name: str) -> np.ndarray:
    return np.asarray(df[name].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def read(
    path_or_glob: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    y: str | Sequence[str] | None = None,
    x: Sequence[str] | None = None,
    formula: str | None = None,
    weights: str | None = None,
    missing: str = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
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
        collected in a first pass over the text columns (see :class:`FormulaFileSource`).
    weights : str, optional
        Column of non-negative sample weights.
    missing : {"raise", "drop"}, default "raise"
        Empty fields / NA / NaN / inf: raise naming file, line and column, or drop the row.
    batch_rows : int, default 65536
        Rows per block; memory use is a few times ``batch_rows * n_columns * 8`` bytes.

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
        _kind(p)
    if formula is not None:
        if y is not None or x is not None:
            raise InputTypeError(
                "pass either formula= or y= / x=, not both; the formula names "
                "the target on the left of '~'"
            )
        return FormulaFileSource(
            paths, formula=formula, weights=weights, missing=missing, batch_rows=batch_rows
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
