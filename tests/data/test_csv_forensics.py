"""What olsnet's own re-scans of a CSV file report: byte-order marks, the physical line of a row
after a quoted field holding newlines, repeated column names (issue 13, items 8, 9, 13).

References: pandas.read_csv for the values and the column names; the line numbers are counted
independently, from the bytes the test wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import olsnet
from olsnet.errors import DataFileError


def test_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfx1,y\n1,2\n2,3\n4,4\n")
    src = olsnet.read(path, y="y")
    assert src.columns == ("x1", "y") == tuple(pd.read_csv(path, encoding="utf-8-sig").columns)
    model = olsnet.LinearRegression().fit(olsnet.read(path, y="y", x=["x1"]))
    assert model.feature_names_in_.tolist() == ["x1"]
    with pytest.raises(DataFileError) as err:
        olsnet.read(path, y="x2")
    assert "\ufeff" not in str(err.value) and "its columns are x1, y" in str(err.value)


def test_line_numbers_after_a_quoted_field_with_newlines(tmp_path: Path) -> None:
    rows = [f"{i},{i % 7},note {i}" for i in range(3000)]
    rows[10] = '10,3,"a note\nover three\nlines"'
    rows[2990] = "2990,oops,note"
    text = "x,y,comment\n" + "\n".join(rows) + "\n"
    path = tmp_path / "notes.csv"
    path.write_text(text)
    physical = text[: text.index("2990,oops")].count("\n") + 1  # 1-based line of the bad row
    assert physical == 2990 + 2 + 2  # header, 0-based row, the two extra lines of row 10
    with pytest.raises(
        DataFileError, match=rf"line {physical}, column 'y': 'oops' is not a number"
    ):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y", x=["x"], batch_rows=500))
    # and a missing value (reported by the fold, not the re-scan) after the multi-line field
    path.write_text(text.replace("2990,oops", "2990,"))
    with pytest.raises(DataFileError, match=rf"line {physical}, column 'y': a missing value"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y", x=["x"], batch_rows=500))
    ok = olsnet.read(path, y="y", x=["x"], missing="drop")
    X = np.concatenate([b[0] for b in ok.blocks()])
    np.testing.assert_array_equal(X[:, 0], pd.read_csv(path).dropna()["x"].to_numpy())


def test_repeated_column_names_are_an_error_naming_both_positions(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a,y\n1,2,3\n2,3,5\n")
    with pytest.raises(
        DataFileError, match=r"line 1: column name 'a' appears twice, as column 1 and column 2"
    ):
        olsnet.read(path, y="y")
    parquet = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays([pa.array([1.0, 2.0])] * 3, names=["y", "b", "b"])
    pq.write_table(table, parquet)
    with pytest.raises(
        DataFileError, match=r"column name 'b' appears twice, as column 2 and column 3"
    ):
        olsnet.read(parquet, y="y")


def test_empty_header_name_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty_name.csv"
    path.write_text("a,,y\n1,2,3\n")
    with pytest.raises(DataFileError, match=r"line 1: column 2 of the header has an empty name"):
        olsnet.read(path, y="y")


def test_a_line_longer_than_the_bound_is_named(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"x,y\n1,2\n3," + b"4" * (3 << 20) + b"\n5,6\n")
    with pytest.raises(DataFileError, match=r"line 3: the line is longer than 1,048,576 bytes"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))
    header = tmp_path / "long_header.csv"
    header.write_bytes(b"x" * (2 << 20) + b",y\n1,2\n")
    with pytest.raises(DataFileError, match=r"line 1: the line is longer than"):
        olsnet.read(header, y="y")
