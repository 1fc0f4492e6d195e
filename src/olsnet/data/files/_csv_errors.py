"""CSV forensics: where a CSV file that pyarrow refused went wrong.

pyarrow's messages do not say where a CSV file went wrong, so on an error the failing file is
re-scanned with the standard library (only on that path) to name the line and the column.
Line numbers are 1-based and count the header line, as a text editor shows them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ...errors import DataFileError

__all__ = ["NULL_TEXTS", "locate_csv_problem", "physical_line", "read_header"]

# field texts pyarrow reads as null (ConvertOptions.null_values default), for the re-scan
NULL_TEXTS = frozenset(
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
    return text.strip() in NULL_TEXTS or _NUMBER.fullmatch(text) is not None


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
