"""Reading a CSV file's lines and records in olsnet's own re-scans (the header, the sniffer, the
line of a bad row), the way pyarrow reads them and in bounded memory.

* Lines are read with a length bound (``MAX_LINE_BYTES``): a longer one is an error naming it.
* Line numbers are physical (1-based, the header is line 1 after ``skip_rows``, blank and
  comment lines counted), as a text editor shows them; a record whose quoted field holds a
  newline spans several lines and is numbered by its first.
* ``comment``: the rest of a line from the comment character (outside quotes) is dropped, as
  pandas does; :class:`CommentFilter` does the same to the byte stream pyarrow reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ...errors import DataFileError
from ._dialect import MAX_LINE_BYTES, CsvDialect

__all__ = [
    "CommentFilter",
    "Record",
    "first_records",
    "open_binary",
    "records",
    "scan_encoding",
]


def open_binary(path: Path, encoding: str = "utf-8") -> IO[bytes]:
    """A binary stream of a possibly compressed (``.gz``, ``.bz2``) file, transcoded to UTF-8
    when ``encoding`` does not write a newline as the byte ``\\n`` (UTF-16, UTF-32)."""
    if "\n".encode(encoding) != b"\n":
        return _Utf8Lines(open_binary(path), encoding, path)  # type: ignore[return-value]
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    if name.endswith(".bz2"):
        import bz2

        return bz2.open(path, "rb")
    return open(path, "rb")


class _Utf8Lines:
    """readline(limit) of a binary stream in ``encoding``, as UTF-8 bytes (bounded)."""

    def __init__(self, fh: IO[bytes], encoding: str, path: Path) -> None:
        import io

        self._fh = fh
        self._encoding, self._path = encoding, path
        self._text = io.TextIOWrapper(fh, encoding=encoding, newline="")

    def readline(self, limit: int = -1) -> bytes:
        try:
            return self._text.readline(limit).encode("utf-8")
        except UnicodeError as exc:
            raise self._not_decodable(exc) from None

    def read(self, size: int = -1) -> bytes:
        try:
            return self._text.read(size).encode("utf-8")
        except UnicodeError as exc:
            raise self._not_decodable(exc) from None

    def _not_decodable(self, exc: UnicodeError) -> DataFileError:
        return DataFileError(
            f"{self._path}: the bytes are not {self._encoding} text ({exc}); pass the file's "
            "encoding (encoding='utf-8', the default, or 'latin-1'; CLI: --encoding)"
        )

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> _Utf8Lines:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def scan_encoding(dialect: CsvDialect) -> str:
    """The encoding of the bytes :func:`open_binary` gives for ``dialect``."""
    return dialect.encoding if "\n".encode(dialect.encoding) == b"\n" else "utf-8"


def _too_long(path: Path, line: int) -> DataFileError:
    return DataFileError(
        f"{path}, line {line}: the line is longer than {MAX_LINE_BYTES:,} bytes, the longest "
        "line olsnet reads; is this a CSV file (and are its quotes balanced)?"
    )


def _lines(path: Path, fh: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset, raw bytes with newline) of each physical line."""
    number, offset = 0, 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise _too_long(path, number)
        yield number, offset, raw
        offset += len(raw)


class _CommentCutter:
    """Drops comments from lines, keeping track of quotes across lines."""

    def __init__(self, comment: str, quote: str) -> None:
        self.comment = comment.encode()
        self.quote = quote.encode()
        self._special = re.compile(re.escape(self.comment) + b"|" + re.escape(self.quote))
        self.in_quote = False

    def cut(self, raw: bytes) -> bytes:
        """``raw`` without its comment (newline kept)."""
        if not self.in_quote and self.comment not in raw and self.quote not in raw:
            return raw
        for m in self._special.finditer(raw):
            if m.group() == self.quote:
                self.in_quote = not self.in_quote
            elif not self.in_quote:
                end = raw[len(raw.rstrip(b"\r\n")) :]
                return raw[: m.start()].rstrip(b" ") + end
        return raw


class CommentFilter:
    """A read-only binary stream of ``path`` with comments removed (for pyarrow, which has no
    comment option); lines keep their newlines, so a comment line becomes a blank line that
    pyarrow skips and line numbers stay those of the file."""

    def __init__(self, path: Path, dialect: CsvDialect) -> None:
        self._path = path
        self._fh = open_binary(path, dialect.encoding)
        self._cutter = _CommentCutter(dialect.comment or "#", dialect.quotechar)
        self._lines = _lines(path, self._fh)
        self._buffer = b""
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        parts = [self._buffer]
        have = len(self._buffer)
        while size < 0 or have < size:
            item = next(self._lines, None)
            if item is None:
                break
            text = self._cutter.cut(item[2])
            parts.append(text)
            have += len(text)
        data = b"".join(parts)
        if size < 0:
            self._buffer = b""
            return data
        self._buffer = data[size:]
        return data[:size]

    def readable(self) -> bool:
        return True

    def raw_position(self) -> int | None:
        """Bytes of the file on disk read so far (None when unknown: bz2, UTF-16)."""
        fh: Any = self._fh
        if isinstance(fh, _Utf8Lines) or type(fh).__name__ == "BZ2File":
            return None
        raw = getattr(fh, "fileobj", None) or fh  # a GzipFile reads its file through .fileobj
        return int(raw.tell())

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._fh.close()

    def __enter__(self) -> CommentFilter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Record:
    """One CSV record as the re-scan sees it: the physical ``line`` it starts on, the byte
    ``offset`` of that line, its raw bytes (newlines inside quoted fields kept)."""

    __slots__ = ("line", "offset", "raw")

    def __init__(self, line: int, offset: int, raw: bytes) -> None:
        self.line, self.offset, self.raw = line, offset, raw


def records(path: Path, dialect: CsvDialect) -> Iterator[Record]:
    """Non-blank records after ``skip_rows`` lines, comments removed; the first is the header.

    A record is complete when it holds an even number of quote characters (a doubled quote
    inside a quoted field counts two), as pyarrow's parser with ``newlines_in_values`` reads.
    """
    quote = dialect.quotechar.encode()
    cutter = _CommentCutter(dialect.comment, dialect.quotechar) if dialect.comment else None
    with open_binary(path, dialect.encoding) as fh:
        pending: list[bytes] = []
        start = (0, 0)
        quotes = 0
        for number, offset, raw in _lines(path, fh):
            if number <= dialect.skip_rows:
                continue
            if cutter is not None:
                raw = cutter.cut(raw)
            if not pending:
                if raw.strip(b"\r\n") == b"":
                    continue  # pyarrow skips empty lines
                start = (number, offset)
            pending.append(raw)
            quotes += raw.count(quote)
            if quotes % 2:
                if sum(map(len, pending)) > MAX_LINE_BYTES:
                    raise _too_long(path, start[0])
                continue
            yield Record(start[0], start[1], b"".join(pending))
            pending, quotes = [], 0
        if pending:
            yield Record(start[0], start[1], b"".join(pending))


def first_records(path: Path, dialect: CsvDialect, n: int) -> list[tuple[int, str]]:
    """(line, text) of the first ``n`` records, decoded leniently (for sniffing)."""
    out = []
    it = records(path, dialect)
    try:
        for rec in it:
            text = rec.raw.decode(scan_encoding(dialect), errors="replace")
            out.append((rec.line, text.lstrip("\ufeff").rstrip("\r\n")))
            if len(out) >= n:
                break
    finally:
        it.close()  # type: ignore[attr-defined]
    return out
