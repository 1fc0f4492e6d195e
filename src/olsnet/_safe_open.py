"""Opening the files a user names: regular files only, and reads bounded in size.

A path can name something that is not a file: ``/dev/zero`` (endless bytes), a FIFO with no
writer (an ``open`` that never returns), a terminal, a socket, a directory. Every loader opens
what the user named through :func:`open_regular`, which

1. refuses anything ``os.stat`` does not call a regular file, before opening it;
2. opens with ``O_NONBLOCK`` (a FIFO swapped in after the check cannot block the open) and
   checks the opened descriptor again with ``os.fstat``;
3. refuses a file larger than ``max_bytes``, and returns a reader that raises once more than
   ``max_bytes`` have been read (files whose size ``stat`` does not know, such as ``/proc``
   entries, or files that grow while being read).
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import BinaryIO

from .errors import FormatError, OlsnetError

__all__ = ["check_regular", "open_regular", "read_regular"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check(st: os.stat_result, where: str, what: str, max_bytes: int, error: type) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise error(
            f"{where}: is {_kind(st.st_mode)}; olsnet reads {what} only from a regular file"
        )
    if st.st_size > max_bytes:
        raise error(
            f"{where}: the file has {st.st_size} bytes, more than the {max_bytes} allowed for "
            f"{what} (max_bytes)"
        )


class _BoundedRaw(io.RawIOBase):
    """A raw reader over a file descriptor that refuses to go past ``max_bytes``."""

    def __init__(self, fd: int, name: str, max_bytes: int, error: type, what: str) -> None:
        self._file = io.FileIO(fd, "rb", closefd=True)
        self.name = name
        self._max = max_bytes
        self._error = error
        self._what = what

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._file.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        room = self._max - self._file.tell()
        if room <= 0:
            if self._file.read(1):  # more bytes than the bound: refuse, whatever stat said
                raise self._error(
                    f"{self.name}: more than {self._max} bytes read; at most that many are "
                    f"allowed for {self._what} (max_bytes)"
                )
            return 0
        return self._file.readinto(view[: min(len(view), room)]) or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def open_regular(
    path: str | os.PathLike[str],
    max_bytes: int,
    *,
    what: str = "a file",
    error: type[OlsnetError] | None = None,
) -> BinaryIO:
    """Open ``path`` for reading in binary mode if it is a regular file of at most
    ``max_bytes`` bytes.

    Parameters
    ----------
    path : str or path-like
        Symbolic links are followed; what they point to must be a regular file.
    max_bytes : int
        Largest size accepted, in bytes; reading past it raises too.
    what : str, default "a file"
        What the file should hold, for messages ("a model archive", "an ONNX model").
    error : OlsnetError subclass, default FormatError
        The class raised for a path that is not a regular file or is too large.

    Returns
    -------
    binary file object
        Buffered and seekable; its ``name`` is ``path``. Close it (``with``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    FormatError (or ``error``)
        ``path`` is a directory, FIFO, device or socket, or larger than ``max_bytes``.
    """
    cls = FormatError if error is None else error
    where = os.fspath(path)
    _check(os.stat(where), where, what, max_bytes, cls)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(where, flags)
    except OSError as err:
        if err.errno == errno.ENXIO:  # a FIFO or socket swapped in after the check
            raise cls(
                f"{where}: is not a regular file; olsnet reads {what} only from one"
            ) from None
        raise
    try:
        _check(os.fstat(fd), where, what, max_bytes, cls)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        raw = _BoundedRaw(fd, where, max_bytes, cls, what)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(raw)


def read_regular(
    path: str | os.PathLike[str],
    max_bytes: int,
    *,
    what: str = "a file",
    error: type[OlsnetError] | None = None,
) -> bytes:
    """All bytes of the regular file ``path`` (at most ``max_bytes``); see :func:`open_regular`."""
    with open_regular(path, max_bytes, what=what, error=error) as fh:
        return fh.read()


def check_regular(
    path: str | os.PathLike[str],
    max_bytes: int,
    *,
    what: str = "a file",
    error: type[OlsnetError] | None = None,
) -> None:
    """Raise unless ``path`` is a regular file of at most ``max_bytes`` (``os.stat`` only).

    For readers that open the path themselves (``torch.load``); prefer :func:`open_regular`,
    which also checks what it opened. Raises as :func:`open_regular` does.
    """
    where = os.fspath(path)
    _check(os.stat(where), where, what, max_bytes, FormatError if error is None else error)
