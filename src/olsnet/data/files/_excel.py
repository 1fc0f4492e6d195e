"""Excel and OpenDocument sheets (``.xlsx``, ``.xlsm``, ``.xlsb``, ``.xls``, ``.ods``) as Arrow
record batches, read by fastexcel (Rust's calamine underneath; no code in a workbook runs).

A sheet is read whole (a sheet holds at most 1,048,576 rows), with the columns the fit needs
asked for as float64 (``dtypes="float"``) and text columns as strings; a cell that is not a
number is an error naming the sheet, the row and the column (name and letter) -- never a
silent missing value. Rows are numbered as Excel shows them when the sheet's first used row
is row 1 (the header row, after ``skip_rows``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import DataFileError
from ._csv_errors import check_names
from ._dialect import CsvDialect

__all__ = [
    "excel_batches",
    "excel_columns",
    "excel_schema",
    "excel_table",
    "excel_where",
]


def _letters(index: int) -> str:
    """0-based column index -> Excel column letters (0 -> A, 27 -> AB)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _which(sheet: str | int | None, names: Sequence[str]) -> str | int:
    """The sheet asked for: None is the first; a text of digits that names no sheet is a
    0-based position (the CLI's ``--sheet 1``)."""
    if sheet is None:
        return 0
    if isinstance(sheet, str) and sheet not in names and sheet.isdigit():
        return int(sheet)
    return sheet


def _sheet(path: Path, dialect: CsvDialect, **kwargs: Any) -> Any:
    """fastexcel's sheet ``dialect.sheet`` (name or 0-based index; default the first)."""
    import fastexcel

    try:
        book = fastexcel.read_excel(path)
    except fastexcel.FastExcelError as exc:
        detail = str(exc).splitlines()[0]
        raise DataFileError(
            f"{path}: not a readable Excel / OpenDocument file ({detail})"
        ) from None
    sheet = _which(dialect.sheet, book.sheet_names)
    names = book.sheet_names
    if (isinstance(sheet, int) and not 0 <= sheet < len(names)) or (
        isinstance(sheet, str) and sheet not in names
    ):
        shown = ", ".join(repr(n) for n in names)
        raise DataFileError(
            f"{path}: there is no sheet {sheet!r}; the workbook's sheets are {shown} "
            "(sheet= takes a name or a 0-based position)"
        )
    try:
        return book.load_sheet(sheet, header_row=dialect.skip_rows, **kwargs)
    except fastexcel.FastExcelError as exc:
        detail = " ".join(str(exc).split())
        raise DataFileError(f"{path}, sheet {sheet!r}: {detail}") from None


def sheet_name(path: Path, dialect: CsvDialect) -> str:
    return str(_sheet(path, dialect, n_rows=0).name)


def excel_columns(path: Path, dialect: CsvDialect) -> tuple[str, ...]:
    """The header row's names (checked: none empty, none repeated -- fastexcel would rename a
    repeated name ``a`` to ``a_1``)."""
    raw = _sheet(path, dialect, n_rows=0)
    names = [c.name for c in raw.available_columns()]
    first = _first_row(path, dialect)
    if first is not None:
        check_names(f"{path}, sheet {raw.name!r}, row {dialect.skip_rows + 1}", first)
    return tuple(names)


def _first_row(path: Path, dialect: CsvDialect) -> list[str] | None:
    """The header row's texts as written (for repeated and empty names)."""
    import fastexcel

    book = fastexcel.read_excel(path)
    sheet = _which(dialect.sheet, book.sheet_names)
    rows = book.load_sheet(
        sheet, header_row=None, skip_rows=dialect.skip_rows, n_rows=1, dtypes="string"
    ).to_arrow()
    if rows.num_rows == 0:
        return None
    return ["" if v is None else str(v) for v in rows.to_pylist()[0].values()]


def excel_table(
    path: Path, columns: Sequence[str] | None, numeric: Sequence[str], dialect: CsvDialect
) -> Any:
    """The sheet's ``columns`` (None: all) as a pyarrow Table, ``numeric`` ones as float64;
    a cell there that is not a number raises DataFileError naming sheet, row and column."""
    import pyarrow as pa

    dtypes = {c: "float" for c in numeric}
    if columns is not None:
        dtypes.update({c: "string" for c in columns if c not in numeric})
    kwargs: dict[str, Any] = {"dtypes": dtypes} if dtypes else {}
    if columns is not None:
        kwargs["use_columns"] = list(columns)
    sheet = _sheet(path, dialect, **kwargs)
    batch, errors = sheet.to_arrow_with_errors()
    if errors is not None and errors.errors:
        err = errors.errors[0]
        row, col = err.offset_position  # col: the column's absolute index in the sheet
        info = next(c for c in sheet.selected_columns if c.absolute_index == col)
        value = err.detail.split("got ", 1)[-1]
        text = re.fullmatch(r"""'String\("(.*)"\)'""", value, flags=re.S)
        value = repr(text.group(1)) if text else value
        raise DataFileError(
            f"{path}, sheet {sheet.name!r}, row {dialect.skip_rows + 2 + row}, column "
            f"{info.name!r} ({_letters(info.absolute_index)}): {value} is not a number; the "
            "column must hold numbers only (or empty cells for missing values); to use text "
            "as categories, fit with a formula (formula='y ~ C(column)')"
        )
    table = pa.Table.from_batches([batch])
    return table if columns is None else table.select(list(columns))


def excel_batches(
    path: Path,
    columns: Sequence[str],
    text_columns: Sequence[str],
    batch_rows: int,
    dialect: CsvDialect,
) -> Iterator[Any]:
    """Record batches of ``columns`` of the sheet (numbers as float64, ``text_columns`` as
    strings), at most ``batch_rows`` rows each."""
    numeric = [c for c in columns if c not in text_columns]
    yield from excel_table(path, columns, numeric, dialect).to_batches(max_chunksize=batch_rows)


def excel_schema(path: Path, dialect: CsvDialect) -> Any:
    """The Arrow schema of the sheet as fastexcel guesses it (text columns as strings)."""
    import pyarrow as pa

    kinds = {"string": pa.string(), "boolean": pa.bool_(), "int": pa.int64()}
    sheet = _sheet(path, dialect, n_rows=1000)
    return pa.schema(
        [(c.name, kinds.get(c.dtype, pa.float64())) for c in sheet.available_columns()]
    )


def excel_where(path: Path, row: int, dialect: CsvDialect) -> str:
    """'file, sheet S, row N' of 0-based data row ``row`` (N as Excel numbers rows)."""
    return f"{path}, sheet {sheet_name(path, dialect)!r}, row {dialect.skip_rows + 2 + row}"
