"""Hostile data files (issue 13, item 12): a .csv.gz of a few MB holding one 3 GB line, in the
header or in a row, ends in a DataFileError naming the line, within the time and memory caps.

Each case runs in a fresh interpreter under a memory cap and a timeout (``run_capped`` of
``tests/hostile/conftest.py``); the file is built inside the test (concatenated gzip members,
so it costs milliseconds to write).
"""

from __future__ import annotations

import gzip
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS caps on Linux")

GiB = 1 << 30


def _gzip_with_long_line(path: Path, before: bytes, after: bytes, line_bytes: int) -> None:
    """``before`` + one line of ``line_bytes`` digits + ``after``, gzip-compressed as repeated
    members of one compressed 16 MB chunk (a gzip reader concatenates members)."""
    chunk = b"7" * (16 << 20)
    member = gzip.compress(chunk, compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(before))
        for _ in range(line_bytes // len(chunk)):
            fh.write(member)
        fh.write(gzip.compress(b"\n" + after))
    assert path.stat().st_size < 8 << 20


@pytest.mark.parametrize(
    ("before", "after", "line"),
    [(b"", b"1,2\n", 1), (b"x,y\n1,2\n3,4\n5,", b"", 4)],
    ids=["header", "row"],
)
def test_three_gigabyte_line_in_a_small_gzip(
    tmp_path: Path, run_capped, before, after, line
) -> None:
    path = tmp_path / "bomb.csv.gz"
    _gzip_with_long_line(path, before, after, 3 * GiB)
    code = f"""
        import time
        import olsnet
        from olsnet.errors import DataFileError
        t0 = time.perf_counter()
        try:
            olsnet.LinearRegression().fit(olsnet.read({str(path)!r}, y="y", x=["x"]))
        except DataFileError as exc:
            print("DataFileError:", exc)
        else:
            print("no error")
        print("seconds:", time.perf_counter() - t0)
    """
    # the whole child (interpreter start and imports included) within 60 s on a loaded machine;
    # the read itself within the 5 s
    run = run_capped(textwrap.dedent(code), mem_mb=500, timeout_s=60)
    run.assert_bounded()
    assert run.returncode == 0, run.describe()
    assert f"line {line}: the line is longer than 1,048,576 bytes" in run.stdout, run.stdout
    assert float(run.stdout.split("seconds:")[1]) < 5.0
