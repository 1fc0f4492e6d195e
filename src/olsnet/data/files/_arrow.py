"""Arrow reading: record batches of CSV / Parquet files, Arrow columns as float64, and where a
row is ("file, line N" for CSV, "file, row N" for Parquet).

The streaming readers are pyarrow's (``pyarrow.csv.open_csv`` and
``pyarrow.parquet.ParquetFile.iter_batches``), so memory stays bounded by a few batches
whatever the file sizes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFileError
from ._csv_errors import check_names, locate_csv_problem, physical_line, read_header
from ._csv_lines import CommentFilter, scan_encoding
from ._dialect import CSV_BLOCK_BYTES, CsvDialect
from ._excel import excel_batches, excel_columns, excel_table, excel_where
from ._paths import file_kind

_DEFAULT = CsvDialect(sep=",", decimal=".")

__all__ = [
    "CSV_BLOCK_BYTES",
    "PARQUET_BATCH_BYTES",
    "check_columns",
    "column_float64",
    "csv_block_bytes",
    "csv_schema",
    "file_columns",
    "file_identity",
    "is_numeric_arrow",
    "open_batches",
    "open_batches_at",
    "parquet_batch_rows",
    "parquet_spans",
    "read_parquet_span",
    "where",
]

PARQUET_BATCH_BYTES = 32 << 20  # a whole row group per batch when it holds at most this much


def csv_block_bytes(path: Path, batch_rows: int) -> int:
    """pyarrow's CSV block size in bytes: ``CSV_BLOCK_BYTES`` whatever the file and
    ``batch_rows`` (the one block-size rule; a line must fit in a block, see MAX_LINE_BYTES)."""
    return CSV_BLOCK_BYTES


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


def parquet_spans(path: Path, rows_per_span: int) -> tuple[Any, list[tuple[list[int], int, int]]]:
    """The Parquet file's metadata and its row groups cut into spans for parallel reading:
    ``(groups, first row, rows)``, consecutive groups until a span holds ``rows_per_span`` rows
    (a span is one group when groups are larger). Each span can be read on its own thread
    (:func:`read_parquet_span`), so decoding scales with the threads that fold.

    Raises
    ------
    DataFileError
        Naming the file, when it is not a readable Parquet file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise _parquet_error(path, exc) from None
    spans: list[tuple[list[int], int, int]] = []
    groups: list[int] = []
    first = rows = 0
    for i in range(meta.num_row_groups):
        groups.append(i)
        rows += meta.row_group(i).num_rows
        if rows >= rows_per_span:
            spans.append((groups, first, rows))
            first, groups, rows = first + rows, [], 0
    if groups:
        spans.append((groups, first, rows))
    return meta, spans


def read_parquet_span(
    path: Path,
    meta: Any,
    groups: Sequence[int],
    columns: Sequence[str],
    batch_rows: int,
    use_threads: bool = False,
    whole: bool = True,
    identity: tuple[int, ...] | None = None,
) -> Iterator[Any]:
    """Record batches of ``columns`` of the row groups ``groups`` (from :func:`parquet_spans`),
    in batches as :func:`open_batches` cuts them (``whole``: a whole row group per batch where
    it is small, :func:`parquet_batch_rows`) or of ``batch_rows`` rows, so memory is bounded by
    one batch; decoded on the calling thread unless ``use_threads`` (pyarrow's own pool).
    With ``identity`` (:func:`file_identity` taken before ``meta`` was read) the file opened
    must still be that one: spans are opened one by one, and a file replaced or rewritten
    between them would mix two versions' rows under the first one's metadata.
    Errors name the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = None
    try:
        if identity is not None:
            handle = pa.OSFile(str(path))
            if _identity(os.fstat(handle.fileno())) != identity:
                raise DataFileError(
                    f"{path}: the file changed while it was being read (replaced or written to "
                    "after its metadata was read); nothing was fitted from it"
                )
        pf = pq.ParquetFile(
            path if handle is None else handle,
            metadata=meta,
            pre_buffer=False,
            page_checksum_verification=True,
        )
        size = parquet_batch_rows(pf, batch_rows, len(columns)) if whole else batch_rows
        yield from pf.iter_batches(
            batch_size=size, row_groups=list(groups), columns=list(columns), use_threads=use_threads
        )
    except (pa.ArrowException, OSError) as exc:
        raise _parquet_error(path, exc) from None
    finally:
        if handle is not None:
            handle.close()


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_identity(path: Path) -> tuple[int, ...]:
    """(device, inode, size, modification time in ns) of ``path``: replacing the file or
    writing to it changes it (for :func:`read_parquet_span`).

    Raises
    ------
    DataFileError
        Naming the file, when it cannot be found or read.
    """
    try:
        return _identity(os.stat(path))
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def file_columns(path: Path, dialect: CsvDialect = _DEFAULT) -> tuple[str, ...]:
    """All column names of one file (CSV header or Parquet schema), checked to be unique."""
    kind = file_kind(path)
    if kind == "csv":
        return read_header(path, dialect)
    if kind == "excel":
        return excel_columns(path, dialect)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = tuple(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        raise _parquet_error(path, exc) from None
    check_names(f"{path}", names)
    return names


def check_columns(
    path: Path, have: Sequence[str], wanted: Sequence[str], dialect: CsvDialect = _DEFAULT
) -> None:
    """Raise DataFileError naming the first of ``wanted`` not among ``have`` (and, for a CSV
    header read as one column, the separator that did not split it)."""
    missing = [c for c in wanted if c not in have]
    if not missing:
        return
    csv_file = file_kind(path) == "csv"
    hint = "Check the spelling (names are case-sensitive)"
    if csv_file and len(have) == 1:
        sep = "tab" if dialect.delimiter == "\t" else repr(dialect.delimiter)
        hint = (
            f"The header was read as one column: {sep} does not split it (tried {sep}"
            + ("" if dialect.sep not in (None, ",") else ", ';', tab and '|'")
            + "); pass the separator the file uses, as sep= (CLI: --sep)"
        )
    raise DataFileError(
        f"{path}{', line 1' if csv_file else ''}: column {missing[0]!r} is not in the file; "
        f"its columns are {', '.join(have)}. {hint}"
    )


def _parquet_error(path: Path, exc: Exception) -> DataFileError:
    if "checksum" in str(exc).lower():
        return DataFileError(
            f"{path}: the file is damaged: a data page does not match the checksum stored with "
            f"it ({exc}); nothing was fitted from it"
        )
    return DataFileError(f"{path}: not a readable Parquet file ({exc})")


def where(path: Path, row: int, dialect: CsvDialect = _DEFAULT) -> str:
    """'file, line N' (CSV, 1-based physical line) or 'file, row N' (Parquet, 1-based) of
    0-based data row ``row``."""
    kind = file_kind(path)
    if kind == "csv":
        return f"{path}, line {physical_line(path, row, dialect)}"
    if kind == "excel":
        return excel_where(path, row, dialect)
    return f"{path}, row {row + 1}"


class DiskPosition:
    """How many bytes of a file on disk its reader has consumed (``None`` when unknown)."""

    def __init__(self) -> None:
        self.tell: Any = None

    def __call__(self) -> int | None:
        try:
            return None if self.tell is None else int(self.tell())
        except (OSError, ValueError):  # closed, or not seekable
            return None


_CODECS = {".gz": "gzip", ".bz2": "bz2"}


def _csv_input(
    path: Path, dialect: CsvDialect, position: DiskPosition | None = None
) -> tuple[Any, CsvDialect]:
    """What pyarrow reads (the file as a stream, decompressed; or a comment-filtered stream),
    the dialect it reads it with, and ``position`` set to tell how far into the file it is."""
    if dialect.comment is None:
        import pyarrow as pa

        raw = pa.OSFile(str(path))
        codec = _CODECS.get(path.suffix.lower())
        if position is not None:
            position.tell = raw.tell
        return (raw if codec is None else pa.CompressedInputStream(raw, codec)), dialect
    from dataclasses import replace

    # the filter keeps every line (a comment line becomes blank) and gives scan_encoding's bytes
    stream = CommentFilter(path, dialect)
    if position is not None:
        position.tell = stream.raw_position
    return stream, replace(dialect, encoding=scan_encoding(dialect))


def open_batches_at(
    path: Path,
    columns: Sequence[str],
    text_columns: Sequence[str],
    batch_rows: int,
    dialect: CsvDialect = _DEFAULT,
) -> Iterator[tuple[Any, int]]:
    """:func:`open_batches` with the bytes of the file on disk each batch consumed; they add
    up to the file's size (CSV: the reader's position in the file, compressed bytes for a
    ``.gz``; Parquet: in proportion to the rows; Excel: the whole file with the last batch)."""
    size = path.stat().st_size
    position = DiskPosition()
    total_rows = None
    if file_kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            total_rows = pq.read_metadata(path).num_rows
        except Exception:  # the reader below names the problem
            total_rows = None
    reported = rows = 0
    held: tuple[Any, int] | None = None
    for batch in open_batches(path, columns, text_columns, batch_rows, dialect, position):
        rows += batch.num_rows
        at = position()
        if at is None:
            at = size * rows // total_rows if total_rows else reported
        # the reader reads ahead of the batches it has handed out: only the last batch may
        # reach the size (a bar ends the pass there)
        at = min(max(at, reported), size - 1)
        if held is not None:
            yield held
        held, reported = (batch, at - reported), at
    if held is not None:  # the last batch takes what is left, so a pass adds up to the size
        yield held[0], held[1] + size - reported


def csv_schema(path: Path, dialect: CsvDialect = _DEFAULT) -> Any:
    """The Arrow schema pyarrow infers from the first block of a CSV file."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    source, d = _csv_input(path, dialect)
    try:
        reader = pcsv.open_csv(
            source,
            read_options=d.read_options(),
            parse_options=d.parse_options(),
            convert_options=d.convert_options(),
        )
        return reader.schema
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise locate_csv_problem(path, (), str(exc), dialect) from None


def open_batches(
    path: Path,
    columns: Sequence[str],
    text_columns: Sequence[str],
    batch_rows: int,
    dialect: CsvDialect = _DEFAULT,
    position: DiskPosition | None = None,
) -> Iterator[Any]:
    """pyarrow RecordBatches of ``columns`` (CSV: numeric as float64, ``text_columns`` as
    strings; Parquet: as stored), errors naming the file (CSV: and the line and column)."""
    import pyarrow as pa

    if file_kind(path) == "excel":
        yield from excel_batches(path, columns, text_columns, batch_rows, dialect)
        return
    if file_kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            # pre-buffering doubled peak memory; page CRCs are checked where the writer stored them
            pf = pq.ParquetFile(path, pre_buffer=False, page_checksum_verification=True)
            size = parquet_batch_rows(pf, batch_rows, len(columns))
            yield from pf.iter_batches(batch_size=size, columns=list(columns))
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(path, exc) from None
        return
    import pyarrow.csv as pcsv

    types = {c: (pa.string() if c in text_columns else pa.float64()) for c in columns}
    numeric = [c for c in columns if c not in text_columns]
    source, d = _csv_input(path, dialect, position)
    try:
        reader = pcsv.open_csv(
            source,
            read_options=d.read_options(),
            parse_options=d.parse_options(),
            # NA and empty fields are missing in text columns too (as in numeric ones)
            convert_options=d.convert_options(
                column_types=types, include_columns=list(columns), strings_can_be_null=True
            ),
        )
        yield from reader
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise locate_csv_problem(path, numeric, str(exc), dialect) from None


def whole_table(path: Path, numeric: Sequence[str], dialect: CsvDialect = _DEFAULT) -> Any:
    """One file as a pyarrow Table, ``numeric`` columns as float64 (errors located)."""
    import pyarrow as pa

    if file_kind(path) == "excel":
        return excel_table(path, None, numeric, dialect)
    if file_kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, page_checksum_verification=True)
        except (pa.ArrowException, OSError) as exc:
            raise _parquet_error(path, exc) from None
    import pyarrow.csv as pcsv

    types = dict.fromkeys(numeric, pa.float64())
    source, d = _csv_input(path, dialect)
    try:
        return pcsv.read_csv(
            source,
            read_options=d.read_options(),
            parse_options=d.parse_options(),
            convert_options=d.convert_options(column_types=types, strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise locate_csv_problem(path, numeric, str(exc), dialect) from None


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


def _float64_values(arr: Any, view_ok: bool) -> np.ndarray:
    """(n,) float64 of a pyarrow float64 Array from its buffers (Array.to_numpy would import
    pandas on first use: 0.9 s), nulls as NaN; a view of the data buffer when ``view_ok`` and
    there are no nulls."""
    validity, data = arr.buffers()[:2]
    n, off = len(arr), arr.offset
    if view_ok and not arr.null_count:
        return np.frombuffer(data, np.float64, n, off * 8)
    out = np.frombuffer(data, dtype=np.float64, count=off + n)[off:].copy()
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        out[bits[off : off + n] == 0] = np.nan
    return out


def column_float64(batch: Any, name: str, path: Path, *, view_ok: bool = False) -> np.ndarray:
    """(b,) float64 of column ``name`` of an Arrow batch read from ``path``, nulls as NaN.

    A copy unless ``view_ok`` (then a read-only view of Arrow memory when the column is float64
    without nulls). Raises DataFileError naming the file and column when it is not numeric.
    """
    import pyarrow as pa

    col = batch.column(name)
    if col.type != pa.float64():  # pyarrow.compute loads only for the cast (it takes 0.3 s)
        if not is_numeric_arrow(col.type):
            raise DataFileError(
                f"{path}: column {name!r} has type {col.type}, which is not numeric; read the "
                "file with a formula (formula='y ~ C(column)') to use it as categories"
            )
        import pyarrow.compute as pc

        # integers beyond 2^53 round to the nearest double, as NumPy's astype and R's
        # as.double do (pyarrow's safe cast refused them with a bare ArrowInvalid)
        try:
            col = pc.cast(col, pa.float64(), safe=not pa.types.is_integer(col.type))
        except pa.ArrowException as exc:
            raise DataFileError(
                f"{path}: column {name!r} of type {col.type} cannot be read as float64 ({exc})"
            ) from None
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    return _float64_values(col, view_ok)


def stack_float64(batch: Any, names: Sequence[str], path: Path) -> np.ndarray:
    """(b, len(names)) float64 array of the named numeric columns of an Arrow batch."""
    out = np.empty((batch.num_rows, len(names)))
    for j, name in enumerate(names):
        out[:, j] = column_float64(batch, name, path, view_ok=True)
    return out
