"""CSV forensics: the header, the physical line of a data row, and where a CSV file that pyarrow
refused went wrong.

pyarrow's messages do not say where a CSV file went wrong, so on an error the failing file is
re-scanned with the standard library (only on that path) to name the line and the column.
Line numbers are 1-based and physical (the header is line 1 after ``skip_rows``; blank lines,
comment lines and the extra lines of a quoted field holding a newline are counted), as a text
editor shows them. Every re-scan reads lines with a length bound (:mod:`._csv_lines`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ...errors import DataFileError
from ._csv_lines import Record, records, scan_encoding
from ._dialect import CsvDialect

__all__ = ["locate_csv_problem", "physical_line", "read_header"]

_DEFAULT = CsvDialect(sep=",", decimal=".")


def _decode(path: Path, rec: Record, dialect: CsvDialect, header: Sequence[str] | None) -> str:
    encoding = scan_encoding(dialect)
    try:
        text = rec.raw.decode(encoding)
    except UnicodeDecodeError as exc:
        col = rec.raw[: exc.start].count(dialect.delimiter.encode())
        where = f"column {header[col]!r}" if header and col < len(header) else f"field {col + 1}"
        line = rec.line + rec.raw[: exc.start].count(b"\n")
        raise DataFileError(
            f"{path}, line {line}, {where}: bytes "
            f"{rec.raw[exc.start : exc.end]!r} at byte offset {rec.offset + exc.start:,} are not "
            f"valid {dialect.encoding}; pass the file's encoding (encoding='latin-1' or 'cp1252' "
            "for most Western files saved by Excel; CLI: --encoding latin-1), or re-save the "
            "file as UTF-8"
        ) from None
    return text.rstrip("\r\n")


def _fields(text: str, dialect: CsvDialect) -> list[str]:
    reader = csv.reader([text], delimiter=dialect.delimiter, quotechar=dialect.quotechar)
    try:
        return next(reader, [])
    except csv.Error:  # a newline inside a quoted field: parse the record as a whole
        return next(
            csv.reader(text.splitlines(), delimiter=dialect.delimiter, quotechar=dialect.quotechar),
            [],
        )


def _header_fields(path: Path, it: Iterator[Record], dialect: CsvDialect) -> tuple[int, list[str]]:
    rec = next(it, None)
    if rec is None:
        raise DataFileError(
            f"{path}, line {1 + dialect.skip_rows}: the file is empty; a CSV file needs a header "
            "line with the column names and at least one data row"
        )
    return rec.line, _fields(_decode(path, rec, dialect, None).lstrip("\ufeff"), dialect)


def check_names(where: str, names: Sequence[str]) -> None:
    """Raise DataFileError for an empty or a repeated column name (naming both positions)."""
    seen: dict[str, int] = {}
    for j, name in enumerate(names, start=1):
        if not name.strip():
            raise DataFileError(
                f"{where}: column {j} of the header has an empty name; every column needs a name"
            )
        if name in seen:
            raise DataFileError(
                f"{where}: column name {name!r} appears twice, as column {seen[name]} and column "
                f"{j}; column names must be unique (rename one of them)"
            )
        seen[name] = j


def read_header(path: Path, dialect: CsvDialect = _DEFAULT) -> tuple[str, ...]:
    """Column names from the first record of a CSV file (a UTF-8 byte-order mark removed, as
    pandas and R do); raises DataFileError for an empty file, an empty or a repeated name."""
    it = records(path, dialect)
    try:
        line, names = _header_fields(path, it, dialect)
    finally:
        it.close()  # type: ignore[attr-defined]
    check_names(f"{path}, line {line}", names)
    return tuple(names)


def physical_line(path: Path, row: int, dialect: CsvDialect = _DEFAULT) -> int:
    """1-based physical line number of 0-based data row ``row`` (header = first record)."""
    it = records(path, dialect)
    try:
        for seen, rec in enumerate(it, start=-1):  # the header is row -1
            if seen == row:
                return rec.line
    finally:
        it.close()  # type: ignore[attr-defined]
    return row + 2 + dialect.skip_rows


def _number_pattern(decimal: str) -> re.Pattern[str]:
    """What pyarrow's float64 conversion accepts (Python's float() also takes "1_0")."""
    d = re.escape(decimal)
    return re.compile(
        rf"\s*[+-]?(\d+{d}?\d*([eE][+-]?\d+)?|{d}\d+([eE][+-]?\d+)?|inf|infinity|nan)\s*",
        re.IGNORECASE,
    )


def _not_a_number_hint(field: str, dialect: CsvDialect) -> str:
    other = "," if dialect.decimal_mark == "." else "."
    if _number_pattern(other).fullmatch(field):
        return f"; numbers here use {other!r} as the decimal mark: pass decimal={other!r}"
    if (field.strip() and not any(ch.isalnum() for ch in field)) or field.strip() in ("NA", "-"):
        return (
            f"; if {field!r} marks a missing value, pass na_values=[{field!r}] (CLI: "
            f"--na-values '{field}')"
        )
    return (
        "; the column must hold numbers only (or be left empty for a missing value); to use "
        "text as categories, read the file with a formula (formula='y ~ C(column)')"
    )


def locate_csv_problem(
    path: Path, numeric: Sequence[str], cause: str, dialect: CsvDialect = _DEFAULT
) -> DataFileError:
    """Re-scan a CSV file that pyarrow refused and return the error naming line and column.

    Checks, record by record: a line too long, decoding, the number of fields against the
    header, and that every field of a ``numeric`` column parses as a number (or is a null
    marker).
    """
    it = records(path, dialect)
    number = _number_pattern(dialect.decimal_mark)
    nulls = dialect.null_texts
    sep = "tab" if dialect.delimiter == "\t" else repr(dialect.delimiter)
    try:
        _, header = _header_fields(path, it, dialect)
        positions = [(header.index(c), c) for c in numeric if c in header]
        for rec in it:
            fields = _fields(_decode(path, rec, dialect, header), dialect)
            if len(fields) != len(header):
                short = len(fields) < len(header)
                col = header[len(fields)] if short else header[-1]
                problem = (
                    f"the row ends before column {col!r}"
                    if short
                    else f"the row goes on after the last column {col!r}"
                )
                return DataFileError(
                    f"{path}, line {rec.line}, column {col!r}: {len(fields)} field(s) where the "
                    f"header has {len(header)} (fields separated by {sep}); {problem}. Fix the "
                    f"row (a missing value is an empty field between separators)"
                )
            for j, name in positions:
                field = fields[j]
                if (
                    field.strip() not in nulls
                    and field not in nulls
                    and not number.fullmatch(field)
                ):
                    return DataFileError(
                        f"{path}, line {rec.line}, column {name!r}: {field!r} is not a number"
                        + _not_a_number_hint(field, dialect)
                    )
    except DataFileError as err:
        return err
    finally:
        it.close()  # type: ignore[attr-defined]
    return DataFileError(f"{path}: pyarrow could not read the file: {cause}")
