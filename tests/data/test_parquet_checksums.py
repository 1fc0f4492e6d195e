"""Parquet page checksums (issue 13, item 10): olsnet verifies them when a file has them, and
writes them in every Parquet file it writes (``olsnet predict -o x.parquet``).

Reference: the same damage is read without complaint when verification is off (pyarrow's
default), so the test shows what the checksum catches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet.errors import DataFileError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _damage(path: Path, start: int, n: int = 4000, seed: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[start : start + n] = np.random.default_rng(seed).integers(0, 256, n, np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_damaged_page_with_checksum_is_an_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = pa.table({"x": rng.normal(size=50_000), "y": rng.normal(size=50_000)})
    path = tmp_path / "data.parquet"
    pq.write_table(table, path, compression="snappy", write_page_checksum=True)
    _damage(path, 2000)
    assert pq.ParquetFile(path).read().num_rows == 50_000  # unverified: damage goes unseen
    with pytest.raises(
        DataFileError, match=r"data.parquet: the file is damaged: a data page does not match"
    ):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))
    with pytest.raises(DataFileError, match=r"the file is damaged"):
        olsnet.read(path, y="y").to_pandas()


def test_predict_writes_parquet_with_checksums(tmp_path: Path) -> None:
    from olsnet.cli import main

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40_000, 2))
    table = pa.table({"x1": X[:, 0], "x2": X[:, 1], "y": X @ [1.0, 2.0] + rng.normal(size=40_000)})
    data = tmp_path / "data.parquet"
    pq.write_table(table, data)
    model = tmp_path / "m.olsnet"
    out = tmp_path / "pred.parquet"
    assert main(["fit", str(data), "-y", "y", "--save", str(model)]) == 0
    assert main(["predict", str(model), str(data), "-o", str(out)]) == 0
    _damage(out, 1000, 2000)
    with pytest.raises(OSError, match=r"CRC checksum verification failed"):
        pq.ParquetFile(out, page_checksum_verification=True).read()
