"""The one way olsnet writes a file: all at once, or not at all.

Every output (``olsnet.save``, ``to_onnx``, figures, ``olsnet predict -o``, ``olsnet collapse
--out``, ``olsnet report``) goes through :func:`atomic_write`: the bytes go to a temporary file
in the destination folder, are flushed to disk (``fsync``) and renamed over the destination in
one step (``os.replace``), so a reader never sees half a file and an interrupted write leaves
the destination as it was. The temporary file is created with mode ``0o666`` and the kernel
applies the process umask, so the result gets the mode ``open(path, "w")`` would give it
(``0o644`` under the usual umask ``022``); nothing reads or changes the umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import OutputPathError

__all__ = ["TEMP_PREFIX", "atomic_write", "check_destination"]

TEMP_PREFIX = ".olsnet-"  # temporary files: .olsnet-<name>.<random>.tmp beside the destination


def check_destination(path: str | os.PathLike[str]) -> Path:
    """The absolute path of ``path`` once it is known to be writable as a file.

    Called before any work whose result goes to ``path`` (a fit, a training run), so a typo in
    the folder fails at once. Raises :class:`~olsnet.errors.OutputPathError` naming ``path`` as
    given when its folder does not exist or is not a folder, or ``path`` is a folder.
    """
    given = os.fspath(path)
    target = Path(os.path.abspath(given))
    folder = target.parent
    if not folder.exists():
        raise OutputPathError(
            f"cannot write {given!r}: the folder {str(folder)!r} does not exist; create it first"
        )
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {given!r}: {str(folder)!r} is not a folder")
    if target.is_dir():
        raise OutputPathError(f"cannot write {given!r}: it is a folder; name a file inside it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"cannot write {given!r}: no permission to create files in the folder"
        )
    return target


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file handle whose contents replace ``path`` when the block ends without error.

    On any exception (``KeyboardInterrupt`` and ``SystemExit`` included, which is how the CLI
    turns SIGINT and SIGTERM) the temporary file is removed and ``path`` is left untouched.
    Raises :class:`~olsnet.errors.OutputPathError` (see :func:`check_destination`).
    """
    target = check_destination(path)
    tmp = target.with_name(f"{TEMP_PREFIX}{target.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask, as open(path, "w") does
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
