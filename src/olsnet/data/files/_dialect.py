"""CSV dialects: the separator, decimal mark, encoding, missing-value texts, quote character,
lines to skip and comment character of a CSV file (pandas' names), checked once, sniffed where
left open, and turned into pyarrow's CSV options.

Sniffing follows what people's files do: ``.tsv`` / ``.tab`` are tab-separated; otherwise a
header that a comma leaves as one column but that holds ``;``, a tab or ``|`` is split by the
most frequent of those. A semicolon file whose numbers have decimal commas ("1,5", Excel in most
of Europe, R's ``read.csv2``) gets ``decimal=","``. Each sniffed choice is written to the
source's ``notes`` (and logged at INFO on the ``olsnet`` logger), never made silently.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...errors import InputTypeError, OptionError

__all__ = ["CSV_BLOCK_BYTES", "DEFAULT_NULL_TEXTS", "MAX_LINE_BYTES", "CsvDialect", "csv_dialect"]

_log = logging.getLogger("olsnet")

# pyarrow's streaming CSV reader keeps many blocks in flight: with 26 MB blocks (65,536 rows of
# 20 doubles) it peaked at 880 MB and ran slower; 1 MB blocks peaked at 120 MB, fastest
# measured (1, 2, 8, 26 MB; benchmarks/bench_scale.py).
CSV_BLOCK_BYTES = 1 << 20
# pyarrow reads every line that fits in one block (and fails with "straddling object" on one
# longer than two); olsnet's own re-scans read at most this much of a line, so a 3 GB line is
# an error naming the line, not a 3 GB allocation.
MAX_LINE_BYTES = CSV_BLOCK_BYTES

# field texts pyarrow reads as null (ConvertOptions.null_values default); ``na_values`` adds to
# them, as in pandas (keep_default_na=True)
DEFAULT_NULL_TEXTS = (
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
)
SNIFFED_SEPARATORS = (";", "\t", "|")
TAB_SUFFIXES = (".tsv", ".tab", ".tsv.gz", ".tab.gz", ".tsv.bz2", ".tab.bz2")


def _show(ch: str) -> str:
    return "tab" if ch == "\t" else repr(ch)


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written (pandas' ``read_csv`` names); see :func:`olsnet.read`.

    ``sep`` and ``decimal`` are None until resolved for a file (:meth:`resolve`).
    """

    sep: str | None = None
    decimal: str | None = None
    encoding: str = "utf-8"
    na_values: tuple[str, ...] = ()
    quotechar: str = '"'
    skip_rows: int = 0
    comment: str | None = None
    sheet: str | int | None = None  # Excel / OpenDocument: the sheet (name or 0-based index)

    @property
    def delimiter(self) -> str:
        return self.sep or ","

    @property
    def decimal_mark(self) -> str:
        return self.decimal or "."

    @property
    def null_texts(self) -> frozenset[str]:
        return frozenset((*DEFAULT_NULL_TEXTS, *self.na_values))

    @property
    def is_utf8(self) -> bool:
        return codecs.lookup(self.encoding).name in ("utf-8", "utf-8-sig")

    def resolve(self, path: Path) -> tuple[CsvDialect, tuple[str, ...]]:
        """This dialect with ``sep`` and ``decimal`` decided for ``path``, and notes saying
        what was sniffed (empty when nothing was)."""
        from ._csv_lines import first_records

        notes: list[str] = []
        dialect = self
        if dialect.sep is None and path.name.lower().endswith(TAB_SUFFIXES):
            dialect = replace(dialect, sep="\t")
        if dialect.sep is None or (dialect.decimal is None and dialect.sep == ";"):
            lines = first_records(path, replace(dialect, sep=dialect.delimiter), 21)
            if dialect.sep is None:
                dialect = replace(dialect, sep=",")
                header = lines[0][1] if lines else ""
                if len(_split_fields(header, dialect)) == 1:
                    counts = {c: header.count(c) for c in SNIFFED_SEPARATORS}
                    best = max(counts, key=lambda c: counts[c])
                    if counts[best]:
                        dialect = replace(dialect, sep=best)
                        notes.append(
                            f"{path}: the header holds no comma but {counts[best]} x {_show(best)}"
                            f": reading the file with sep={best!r} (pass sep= to choose)"
                        )
            if dialect.decimal is None and dialect.sep == ";":
                fields = [f for _, text in lines[1:] for f in _split_fields(text, dialect)]
                if any(_COMMA_NUMBER.fullmatch(f) for f in fields) and not any(
                    _DOT_NUMBER.fullmatch(f) for f in fields
                ):
                    dialect = replace(dialect, decimal=",")
                    notes.append(
                        f"{path}: numbers such as {next(f for f in fields if _COMMA_NUMBER.fullmatch(f))!r}"
                        " have a decimal comma: reading them with decimal=',' (pass decimal= "
                        "to choose)"
                    )
        if dialect.decimal == dialect.sep:
            raise OptionError(
                f"{path}: decimal and sep are both {dialect.decimal!r}; pass sep= (for example "
                "sep=';') with decimal=','"
            )
        for note in notes:
            _log.info("%s", note)
        return replace(dialect, decimal=dialect.decimal_mark), tuple(notes)

    # -- pyarrow options ------------------------------------------------------------------
    def read_options(self, **kwargs: Any) -> Any:
        import pyarrow.csv as pcsv

        return pcsv.ReadOptions(
            block_size=CSV_BLOCK_BYTES,
            encoding=self.encoding,
            skip_rows=self.skip_rows,
            **kwargs,
        )

    def parse_options(self) -> Any:
        import pyarrow.csv as pcsv

        # newlines_in_values: a quoted field may hold a newline wherever a block ends (measured:
        # no slower on 300,000 x 20 numbers)
        return pcsv.ParseOptions(
            delimiter=self.delimiter, quote_char=self.quotechar, newlines_in_values=True
        )

    def convert_options(self, **kwargs: Any) -> Any:
        import pyarrow.csv as pcsv

        return pcsv.ConvertOptions(
            null_values=sorted(self.null_texts), decimal_point=self.decimal_mark, **kwargs
        )


_COMMA_NUMBER = re.compile(r"\s*[+-]?\d+,\d+([eE][+-]?\d+)?\s*")
_DOT_NUMBER = re.compile(r"\s*[+-]?\d*\.\d+([eE][+-]?\d+)?\s*")


def _split_fields(text: str, dialect: CsvDialect) -> list[str]:
    import csv

    return next(csv.reader([text], delimiter=dialect.delimiter, quotechar=dialect.quotechar), [])


def _one_char(name: str, value: object, *, allow_none: bool) -> str | None:
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        value = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(value, value)
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
        raise OptionError(
            f"{name}={value!r} is not accepted; {name} is one character (for example "
            f"{name}=';', or '\\t' for a tab){'; or None' if allow_none else ''}"
        )
    return value


def csv_dialect(
    *,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
    na_values: str | Sequence[str] | None = None,
    quotechar: str = '"',
    skip_rows: int = 0,
    comment: str | None = None,
    sheet: str | int | None = None,
) -> CsvDialect:
    """A checked :class:`CsvDialect`; raises OptionError / InputTypeError naming the option."""
    sep_ = _one_char("sep", sep, allow_none=True)
    dec = _one_char("decimal", decimal, allow_none=True)
    if dec is not None and dec not in ".,":
        raise OptionError(f"decimal={dec!r} is not accepted; use decimal='.' or decimal=','")
    if dec is not None and dec == sep_:
        raise OptionError(f"decimal and sep are both {dec!r}; they must differ")
    enc = "utf-8" if encoding is None else encoding
    try:
        codecs.lookup(enc)
    except (LookupError, TypeError):
        raise OptionError(
            f"encoding={encoding!r} is not an encoding Python knows; use for example "
            "'utf-8', 'latin-1', 'cp1252' or 'utf-16'"
        ) from None
    if na_values is None:
        na: tuple[str, ...] = ()
    elif isinstance(na_values, str):
        na = (na_values,)
    else:
        try:
            na = tuple(na_values)
            texts = all(isinstance(v, str) for v in na)
        except TypeError:  # not iterable (a number, say)
            texts = False
        if not texts:
            raise InputTypeError(
                f"na_values must be a string or a list of strings; got {na_values!r}"
            )
    quote = _one_char("quotechar", quotechar, allow_none=False)
    if isinstance(skip_rows, bool) or not isinstance(skip_rows, int) or skip_rows < 0:
        raise InputTypeError(
            f"skip_rows must be a non-negative integer (lines to skip); got {skip_rows!r}"
        )
    com = _one_char("comment", comment, allow_none=True)
    for name, ch in (("quotechar", quote), ("comment", com)):
        if ch is not None and ch == (sep_ or ","):
            raise OptionError(f"{name} and sep are both {ch!r}; they must differ")
    if sheet is not None and (
        isinstance(sheet, bool)
        or not isinstance(sheet, (str, int))
        or (isinstance(sheet, int) and sheet < 0)
    ):
        raise InputTypeError(f"sheet must be a sheet name or a 0-based position; got {sheet!r}")
    return CsvDialect(sep_, dec, enc, na, quote or '"', skip_rows, com, sheet)
