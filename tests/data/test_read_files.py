"""olsnet.read: CSV / Parquet files, directories and globs as streaming block sources.

References: pandas.read_csv / pyarrow.parquet.read_table of the same files, and statsmodels
for the fits.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import olsnet
from olsnet.errors import DataFileError


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    df["w"] = rng.uniform(0.5, 2.0, n)
    df["y"] = 1.0 + df.x1 - 2.0 * df.x2 + 0.5 * df.x3 + rng.normal(size=n)
    return df


def _collect(source) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    blocks = list(source.blocks())
    X = np.concatenate([b[0] for b in blocks])
    Y = np.concatenate([b[1] for b in blocks])
    w = None if blocks[0][2] is None else np.concatenate([b[2] for b in blocks])
    return X, Y, w


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    return path


def test_csv_blocks_equal_pandas_and_restart(csv_file: Path) -> None:
    ref = pd.read_csv(csv_file)
    src = olsnet.read(csv_file, y="y", weights="w", batch_rows=64)
    assert src.feature_names == ("x1", "x2", "x3")
    assert src.target_names == ("y",)
    assert (src.n_features, src.n_outputs, src.y_ndim) == (3, 1, 1)
    assert src.columns == tuple(ref.columns)
    sizes = [b[0].shape[0] for b in src.blocks()]
    assert max(sizes) <= 64 and sum(sizes) == len(ref) and len(sizes) >= 4
    X, Y, w = _collect(src)
    np.testing.assert_array_equal(X, ref[["x1", "x2", "x3"]].to_numpy())
    np.testing.assert_array_equal(Y[:, 0], ref["y"].to_numpy())
    np.testing.assert_array_equal(w, ref["w"].to_numpy())
    X2, _, _ = _collect(src)  # a second pass reads the file again
    np.testing.assert_array_equal(X, X2)


def test_x_selection_and_multi_target(csv_file: Path) -> None:
    ref = pd.read_csv(csv_file)
    src = olsnet.read(csv_file, y=["y", "x3"], x=["x2", "x1"])
    assert src.feature_names == ("x2", "x1") and src.y_ndim == 2
    X, Y, w = _collect(src)
    assert w is None
    np.testing.assert_array_equal(X, ref[["x2", "x1"]].to_numpy())
    np.testing.assert_array_equal(Y, ref[["y", "x3"]].to_numpy())


def test_parquet_and_to_design(tmp_path: Path) -> None:
    df = _frame()
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=50)
    design = olsnet.read(path, y="y", x=["x1", "x3"], batch_rows=30).to_design()
    np.testing.assert_array_equal(design.X, df[["x1", "x3"]].to_numpy())
    np.testing.assert_array_equal(design.Y[:, 0], df["y"].to_numpy())
    assert design.feature_names == ("x1", "x3") and design.y_ndim == 1
    pd.testing.assert_frame_equal(olsnet.read(path, y="y").to_pandas(), df)


def test_directory_and_glob_mixing_csv_and_parquet(tmp_path: Path) -> None:
    df = _frame(300)
    (tmp_path / "parts").mkdir()
    df.iloc[:100].to_csv(tmp_path / "parts" / "a.csv", index=False)
    pq.write_table(
        pa.Table.from_pandas(df.iloc[100:250], preserve_index=False),
        tmp_path / "parts" / "b.parquet",
    )
    df.iloc[250:].to_csv(tmp_path / "parts" / "c.csv", index=False)
    (tmp_path / "parts" / "notes.md").write_text("not data")
    for spec in (tmp_path / "parts", str(tmp_path / "parts" / "*.*[tv]")):
        src = olsnet.read(spec, y="y", weights="w")
        assert [p.name for p in src.paths] == ["a.csv", "b.parquet", "c.csv"]
        X, _Y, w = _collect(src)
        np.testing.assert_array_equal(X, df[["x1", "x2", "x3"]].to_numpy())
        np.testing.assert_array_equal(w, df["w"].to_numpy())


def test_fit_from_file_matches_statsmodels_wls(csv_file: Path) -> None:
    sm = pytest.importorskip("statsmodels.api")
    df = pd.read_csv(csv_file)
    model = olsnet.LinearRegression().fit(olsnet.read(csv_file, y="y", weights="w", batch_rows=37))
    ref = sm.WLS(df["y"], sm.add_constant(df[["x1", "x2", "x3"]]), weights=df["w"]).fit()
    res = model.result_
    assert res.param_names == ("Intercept", "x1", "x2", "x3")
    np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.bse, ref.bse.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.rsquared, ref.rsquared, rtol=1e-10)


# -- malformed files: one error naming the file, the line (header = line 1) and the column ----

HEADER = "y,x1,x2\n"
GOOD = "1,2,3\n4,5,6\n"


@pytest.mark.parametrize(
    ("body", "line", "column", "phrase"),
    [
        (HEADER + GOOD + "7,8\n", 4, "x2", "2 field(s)"),  # ragged: short row
        (HEADER + GOOD + "7,8,9,10\n", 4, "x2", "4 field(s)"),  # ragged: long row
        (HEADER + GOOD + "7,abc,9\n", 4, "x1", "'abc' is not a number"),  # text in numbers
        (HEADER + "1,2,3\n\n4,,6\n", 4, "x1", "missing value"),  # blank line is counted
        (HEADER + GOOD + "7,8,inf\n", 4, "x2", "inf"),
    ],
)
def test_malformed_csv_names_file_line_column(
    tmp_path: Path, body: str, line: int, column: str, phrase: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataFileError) as err:
        list(olsnet.read(path, y="y").blocks())
    msg = str(err.value)
    assert str(path) in msg and f"line {line}" in msg and repr(column) in msg and phrase in msg


def test_bad_encoding_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + GOOD).encode() + "7,caf\xe9,9\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=r"line 4, column 'x1'.*UTF-8"):
        list(olsnet.read(path, y="y").blocks())


def test_bad_encoding_in_header(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("y,caf\xe9\n1,2\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=r"latin1.csv, line 1, field 2.*UTF-8"):
        olsnet.read(path, y="y")


def test_missing_column_lists_the_columns(csv_file: Path) -> None:
    with pytest.raises(
        DataFileError,
        match=r"data.csv, line 1: column 'x9' is not in the file; "
        r"its columns are x1, x2, x3, w, y",
    ):
        olsnet.read(csv_file, y="y", x=["x1", "x9"])


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFileError, match=r"empty.csv, line 1: the file is empty"):
        olsnet.read(empty, y="y")
    header = tmp_path / "header.csv"
    header.write_text(HEADER)
    with pytest.raises(DataFileError, match=r"header.csv: the file has a header but no data rows"):
        list(olsnet.read(header, y="y").blocks())


def test_error_in_a_later_file_of_a_glob_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + GOOD)
    (tmp_path / "b.csv").write_text(HEADER + GOOD + GOOD + "9,x,1\n")
    src = olsnet.read(str(tmp_path / "*.csv"), y="y")
    with pytest.raises(DataFileError) as err:
        list(src.blocks())
    assert "b.csv, line 6, column 'x1'" in str(err.value)
    (tmp_path / "b.csv").write_text("y,x1\n1,2\n")
    with pytest.raises(DataFileError, match=r"b.csv, line 1: column 'x2' is not in the file"):
        list(src.blocks())


def test_missing_drop_counts_rows(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(HEADER + "1,2,3\n4,,6\nNA,1,1\n7,8,9\n")
    src = olsnet.read(path, y="y", missing="drop")
    _X, Y, _ = _collect(src)
    np.testing.assert_array_equal(Y[:, 0], [1.0, 7.0])
    assert src.n_dropped == 2


def test_parquet_text_column_and_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"y": [1.0, 2.0], "g": ["a", "b"]}), path)
    with pytest.raises(DataFileError, match=r"t.parquet: column 'g' has type string.*formula"):
        list(olsnet.read(path, y="y").blocks())
    fake = tmp_path / "fake.parquet"
    fake.write_text("y,x\n1,2\n")
    with pytest.raises(DataFileError, match=r"fake.parquet: not a readable Parquet file"):
        olsnet.read(fake, y="y")


def test_no_match_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no file matches"):
        olsnet.read(str(tmp_path / "*.csv"), y="y")
    other = tmp_path / "data.json"
    other.write_text("{}")
    with pytest.raises(DataFileError, match="unknown file type"):
        olsnet.read(other, y="y")


# -- formula sources ----------------------------------------------------------------------------


def test_formula_source_learns_levels_seen_only_in_later_batches(tmp_path: Path) -> None:
    formulaic = pytest.importorskip("formulaic")
    rng = np.random.default_rng(3)
    n = 120
    df = pd.DataFrame({"x": rng.uniform(1, 3, n), "g": ["a"] * 60 + ["b"] * 40 + ["c"] * 20})
    df["y"] = np.log(df.x) + (df.g == "c") + rng.normal(size=n)
    path = tmp_path / "cat.csv"
    df.to_csv(path, index=False)
    src = olsnet.read(path, formula="y ~ np.log(x) + C(g)", batch_rows=25)
    assert src.feature_names == ("np.log(x)", "C(g)[T.b]", "C(g)[T.c]")
    assert src.fit_intercept is True
    X, Y, _ = _collect(src)
    ref = formulaic.model_matrix("y ~ np.log(x) + C(g)", df)
    np.testing.assert_allclose(X, ref.rhs.drop(columns="Intercept").to_numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(Y[:, 0], df["y"].to_numpy())
    assert olsnet.read(path, formula="y ~ x - 1").fit_intercept is False


def test_streamed_formula_fit_matches_statsmodels_on_csv_and_parquet(tmp_path: Path) -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame(
        {
            "x": rng.uniform(0.5, 3.0, n),
            "z": rng.normal(size=n),
            "g": rng.choice(["lo", "mid", "hi"], n),
        }
    )
    df.loc[250:, "g"] = "new"  # a level that only the last batches hold
    df["k"] = rng.integers(1, 4, n)  # integer levels: named C(k)[T.2] as statsmodels does
    df["y"] = np.log(df.x) - df.z + (df.g == "new") + rng.normal(size=n)
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None),
        tmp_path / "d.parquet",
        row_group_size=64,
    )
    df.to_csv(tmp_path / "d.csv", index=False)
    formula = "y ~ np.log(x) + z + C(g) + z:x + C(k)"
    ref = smf.ols(formula, df).fit()
    for name in ("d.csv", "d.parquet"):
        src = olsnet.read(tmp_path / name, formula=formula, batch_rows=50)
        res = olsnet.LinearRegression(fit_intercept=src.fit_intercept).fit(src).result_
        names = list(res.param_names)
        assert sorted(names) == sorted(ref.params.index)
        np.testing.assert_allclose(res.params, ref.params[names].to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(res.bse, ref.bse[names].to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(res.rsquared, ref.rsquared, rtol=1e-9)


def test_to_pandas_keeps_unused_columns_types(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("y,x,label,count\n1.5,2,a,3\n2.5,4,b,5\n")
    got = olsnet.read(path, y="y", x=["x"]).to_pandas()
    pd.testing.assert_frame_equal(got, pd.read_csv(path).astype({"x": float}))


def test_parquet_integer_boolean_float32_columns_and_nulls(tmp_path: Path) -> None:
    path = tmp_path / "types.parquet"
    table = pa.table(
        {
            "y": [1.0, 2.0, 3.0, 4.5],
            "i": pa.array([1, None, 3, 4], pa.int64()),
            "b": [True, False, True, True],
            "f": pa.array([1.5, 2.0, 3.0, 4.0], pa.float32()),
        }
    )
    pq.write_table(table, path)
    ref = table.to_pandas().dropna().astype(float)
    src = olsnet.read(path, y="y", missing="drop")
    X, Y, _ = _collect(src)
    np.testing.assert_array_equal(X, ref[["i", "b", "f"]].to_numpy())
    np.testing.assert_array_equal(Y[:, 0], ref["y"].to_numpy())
    assert src.n_dropped == 1
    with pytest.raises(DataFileError, match=r"types.parquet, row 2, column 'i': a missing value"):
        list(olsnet.read(path, y="y").blocks())


@pytest.mark.parametrize("term", ["scale(x1)", "center(x2)", "bs(x3, df=4)", "poly(x1, 2)"])
def test_stateful_transform_over_several_batches_is_refused(tmp_path, term):
    """Its state would come from the first batch only: refused, naming the term."""
    from olsnet.errors import OptionError

    path = tmp_path / "groups.parquet"
    _frame().to_parquet(path, index=False, row_group_size=50)
    with pytest.raises(OptionError, match=r"stateful transform.*first batch of 50 rows"):
        olsnet.read(path, formula=f"y ~ {term} + x2", batch_rows=50)
    two = [tmp_path / "a.csv", tmp_path / "b.csv"]  # two files: two batches at least
    for i, f in enumerate(two):
        _frame(seed=i).to_csv(f, index=False)
    with pytest.raises(OptionError, match=re.escape(repr(term))):
        olsnet.read(two, formula=f"y ~ {term} + x2")


def test_stateful_transform_in_one_batch_equals_the_in_memory_formula(csv_file):
    """One batch holds every row: the state is the whole data's (formulaic's scale uses
    ddof=1, patsy's ddof=0, so the reference is formulaic's own model matrix)."""
    import formulaic

    formula = "y ~ scale(x1) + center(x2) + bs(x3, df=4)"
    src = olsnet.read(csv_file, formula=formula)  # 200 rows: one batch
    fit = olsnet.LinearRegression(fit_intercept=src.fit_intercept).fit(src)
    mm = formulaic.model_matrix(formula, pd.read_csv(csv_file))
    ref = olsnet.LinearRegression(fit_intercept=False).fit(
        mm.rhs.to_numpy(), mm.lhs.to_numpy()[:, 0]
    )
    np.testing.assert_allclose(fit.intercept_, ref.coef_[0], rtol=1e-10)
    np.testing.assert_allclose(fit.coef_, ref.coef_[1:], rtol=1e-10)
