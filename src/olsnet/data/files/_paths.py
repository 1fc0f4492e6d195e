"""Which files a path names, and what kind each one is (the only suffix test)."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ..._safe_open import check_regular
from ...errors import DataFileError

__all__ = ["CSV_SUFFIXES", "EXCEL_SUFFIXES", "PARQUET_SUFFIXES", "expand_paths", "file_kind"]

CSV_SUFFIXES = tuple(
    base + z for base in (".csv", ".tsv", ".tab", ".txt") for z in ("", ".gz", ".bz2")
)
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def file_kind(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` from the file name; raises DataFileError for other names."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(EXCEL_SUFFIXES):
        return "excel"
    raise DataFileError(
        f"{path}: unknown file type; olsnet reads CSV (.csv, .tsv, .tab, .txt, each also "
        f"compressed as .gz or .bz2), Parquet ({', '.join(PARQUET_SUFFIXES)}) and Excel / "
        f"OpenDocument ({', '.join(EXCEL_SUFFIXES)}) files"
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
            if p.is_file()
            and p.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES)
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
    # streamed, so no size bound; but never a FIFO, device or socket (reading one hangs)
    check_regular(path, 2**62, what="a data file", error=DataFileError)
    return (path,)
