"""Careless and hostile input to the features of issue 10 / 15 (cluster groups by column name,
``olsnet predict`` with --out and --id): each is refused with an error that names the option,
column or file, and nothing the user gave is overwritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.cli import main
from olsnet.errors import OptionError


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "firm": rng.integers(0, 6, n),
            "year": rng.integers(2000, 2004, n),
            "key": np.arange(n),
        }
    )
    df["y"] = 1 + df.x1 - df.x2 + rng.normal(size=n)
    return df


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, Path]:
    """(CSV data, Parquet data, a formula model fitted on them)."""
    df = _frame()
    csv, parquet, model = tmp_path / "d.csv", tmp_path / "d.parquet", tmp_path / "m.olsnet"
    df.to_csv(csv, index=False)
    df.to_parquet(parquet)
    status, _, err = _run(["fit", str(csv), "-f", "y ~ x1 + x2", "--save", str(model)], capsys)
    assert status == 0, err
    return csv, parquet, model


@pytest.mark.parametrize("which", [0, 1, 2])
def test_predict_out_never_overwrites_its_own_input_or_model(
    saved: tuple[Path, Path, Path], which: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out`` naming the data file (CSV or Parquet) or the model file is refused before
    anything is written; the file keeps its bytes."""
    csv, parquet, model = saved
    data = parquet if which == 1 else csv
    target = (csv, parquet, model)[which]
    before = target.read_bytes()
    status, _, err = _run(["predict", str(model), str(data), "--out", str(target)], capsys)
    assert status == 2 and "--out" in err and target.name in err, err
    assert target.read_bytes() == before


def test_predict_empty_id_column_is_refused(
    saved: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--id ''`` names no column: an error, not a table silently without the key."""
    csv, _, model = saved
    status, out, err = _run(["predict", str(model), str(csv), "--id", ""], capsys)
    assert status == 2 and "--id" in err and out == "", err


def test_two_way_clustering_on_one_column_twice_is_refused(
    saved: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``groups=["firm", "firm"]`` is one-way clustering presented as two-way ('6 x 6
    clusters'): refused naming the column, from files, frames and the CLI."""
    csv, parquet, _ = saved
    df = _frame()
    fits = [
        olsnet.LinearRegression().fit(olsnet.read(p, y="y", x=["x1", "x2"])).result_
        for p in (csv, parquet)
    ]
    fits.append(olsnet.ols("y ~ x1 + x2", df))
    for res in fits:
        with pytest.raises(OptionError, match=r"'firm'.*twice"):
            res.with_cov("cluster", groups=["firm", "firm"])
    status, _, err = _run(["fit", str(csv), "-y", "y", "--groups", "firm,firm"], capsys)
    assert status == 2 and "'firm'" in err and "twice" in err, err
    status, _, err = _run(["fit", str(csv), "-y", "y", "--groups", "firm,"], capsys)
    assert status == 2 and "--groups" in err, err


def test_partial_fit_takes_the_intercept_only_model_as_fit_does() -> None:
    """``partial_fit`` / ``partial_residuals`` on X with 0 columns give statsmodels'
    ``OLS(y, ones)`` (mean, nonrobust and HC3 SEs), as ``fit`` does; without an intercept
    they are refused naming the intercept-only model."""
    sm = pytest.importorskip("statsmodels.api")
    y = _frame(n=30).y.to_numpy()
    X0 = np.zeros((30, 0))
    est = olsnet.LinearRegression()
    for rows in (slice(0, 10), slice(10, 30)):
        est.partial_fit(X0[rows], y[rows])
    ref = sm.OLS(y, np.ones((30, 1))).fit()
    np.testing.assert_allclose(est.intercept_, ref.params[0], rtol=1e-12)
    np.testing.assert_allclose(est.result_.bse, ref.bse, rtol=1e-10)
    est.partial_residuals(X0, y)
    hc3 = sm.OLS(y, np.ones((30, 1))).fit(cov_type="HC3").bse
    np.testing.assert_allclose(est.result_.with_cov("HC3").bse, hc3, rtol=1e-10)
    with pytest.raises(olsnet.errors.DataError, match="intercept-only"):
        olsnet.LinearRegression(fit_intercept=False).partial_fit(X0, y)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_utf8_file_read_as_utf16_or_32_names_the_file_and_encoding(
    tmp_path: Path, encoding: str
) -> None:
    """A wrong wide encoding stops with DataFileError naming the file and the option, not
    Python's UnicodeError from inside the transcoder (fit and predict_files)."""
    from olsnet.api import predict_files

    csv = tmp_path / "d.csv"
    _frame().to_csv(csv, index=False)
    with pytest.raises(olsnet.errors.DataFileError, match=rf"d\.csv.*{encoding}.*encoding"):
        olsnet.LinearRegression().fit(olsnet.read(csv, y="y", x=["x1"], encoding=encoding))
    with pytest.raises(olsnet.errors.DataFileError, match=rf"d\.csv.*{encoding}.*encoding"):
        list(predict_files(np.ones((1, 1)), np.zeros(1), csv, feature_names=["x1"],
                           encoding=encoding))  # fmt: skip


def test_na_values_that_is_not_text_is_refused_by_name(tmp_path: Path) -> None:
    """``na_values=5`` (not a string or a list of strings): InputTypeError naming the option,
    not ``'int' object is not iterable``."""
    csv = tmp_path / "d.csv"
    _frame().to_csv(csv, index=False)
    with pytest.raises(olsnet.errors.InputTypeError, match="na_values"):
        olsnet.read(csv, y="y", na_values=5)


def test_predict_files_checks_the_weight_against_the_columns(tmp_path: Path) -> None:
    """A (1, 3) weight for two feature columns: DimensionError naming both counts, not
    NumPy's matmul error from the first batch."""
    from olsnet.api import predict_files

    csv = tmp_path / "d.csv"
    _frame().to_csv(csv, index=False)
    with pytest.raises(olsnet.errors.DimensionError, match=r"\(1, 3\).*2 feature"):
        list(predict_files(np.ones((1, 3)), np.zeros(1), csv, feature_names=["x1", "x2"]))


def test_predict_with_the_wrong_separator_shows_the_header_it_read(
    saved: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--sep ';'`` on a comma file: the error shows the header as read (one column), so the
    user sees the separator is wrong, as ``olsnet fit`` does."""
    csv, _, model = saved
    status, _, err = _run(["predict", str(model), str(csv), "--sep", ";"], capsys)
    assert status == 2 and "x1,x2,firm" in err and "sep" in err, err


def test_read_dask_with_y_does_not_ignore_missing_drop() -> None:
    """``read_dask(frame, y=..., missing="drop")`` used to accept the option and ignore it
    (the fit then stopped on the first NaN telling the user to drop rows); an unknown policy
    passed unchecked. Both are refused naming ``missing``; the formula path applies it."""
    dd = pytest.importorskip("dask.dataframe")
    from olsnet.scale.dask import read_dask

    df = _frame()
    df.loc[3, "x1"] = np.nan
    frame = dd.from_pandas(df, npartitions=2)
    for policy in ("drop", "keep"):
        with pytest.raises(OptionError, match="missing"):
            read_dask(frame, y="y", x=["x1", "x2"], missing=policy)


def test_fit_save_never_overwrites_the_data_file(
    saved: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``olsnet fit d.csv --save d.csv`` replaced the data with the model archive: refused
    before the fit, the data file unchanged (CSV and Parquet)."""
    for data in saved[:2]:
        before = data.read_bytes()
        status, _, err = _run(["fit", str(data), "-y", "y", "--save", str(data)], capsys)
        assert status == 2 and "--save" in err and data.name in err, err
        assert data.read_bytes() == before


def test_one_label_stored_as_integer_in_one_file_and_text_in_another_is_one_cluster(
    tmp_path: Path,
) -> None:
    """Parquet files whose groups column is int64, text and double: ``7``, ``"7"`` and
    ``7.0`` are one cluster (LabelCodes' documented rule, and what CR2 already did), so CR1
    from the files equals statsmodels' CR1 on the merged labels (it counted 12 clusters)."""
    sm = pytest.importorskip("statsmodels.api")
    df = _frame()
    (tmp_path / "p").mkdir()
    df.iloc[:30].to_parquet(tmp_path / "p" / "a.parquet")
    text = df.iloc[30:].assign(firm=df.firm.iloc[30:].astype(str))
    text.iloc[:15].to_parquet(tmp_path / "p" / "b.parquet")
    text.iloc[15:].assign(firm=df.firm.iloc[45:].astype(float)).to_parquet(
        tmp_path / "p" / "c.parquet"
    )
    src = olsnet.read(str(tmp_path / "p" / "*.parquet"), y="y", x=["x1", "x2"])
    res = olsnet.LinearRegression().fit(src).result_.with_cov("cluster", groups="firm")
    ref = sm.OLS(df.y, sm.add_constant(df[["x1", "x2"]])).fit(
        cov_type="cluster", cov_kwds={"groups": df.firm}
    )
    assert dict(res.cov_kwds)["n_groups"] == df.firm.nunique()
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-10)


def test_a_python_list_of_text_labels_is_labels_not_column_names() -> None:
    """``groups=["3", "1", ...]`` (one text label per row, as statsmodels takes it) is a
    label column, not a list of column names (it was refused as naming '9' twice / as 200
    columns); one or two strings stay column names."""
    sm = pytest.importorskip("statsmodels.api")
    df = _frame()
    labels = [f"f{v}" for v in df.firm]
    ref = sm.OLS(df.y, sm.add_constant(df[["x1", "x2"]])).fit(
        cov_type="cluster", cov_kwds={"groups": df.firm}
    )
    for res in (
        olsnet.LinearRegression().fit(df[["x1", "x2"]], df.y).result_,
        olsnet.ols("y ~ x1 + x2", df),
    ):
        np.testing.assert_allclose(res.with_cov("cluster", groups=labels).bse, ref.bse, rtol=1e-10)
        np.testing.assert_allclose(
            res.with_cov("cluster", groups=tuple(labels)).bse, ref.bse, rtol=1e-10
        )


@pytest.mark.parametrize("suffix", [".parquet", ".csv", None])
def test_predict_id_stored_as_int_in_one_file_and_text_in_another(
    saved: tuple[Path, Path, Path],
    tmp_path: Path,
    suffix: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A key column int64 in one Parquet file and text in the next: one output table in the
    first file's type (pyarrow's 'Table schema does not match' escaped, with a traceback from
    the Parquet writer); a key that cannot take that type is refused naming --id."""
    _, _, model = saved
    df = _frame()
    (tmp_path / "p").mkdir()
    df.iloc[:30].to_parquet(tmp_path / "p" / "a.parquet")
    df.iloc[30:].assign(key=df.key.iloc[30:].astype(str)).to_parquet(tmp_path / "p" / "b.parquet")
    data = str(tmp_path / "p" / "*.parquet")
    out = [] if suffix is None else ["-o", str(tmp_path / f"pred{suffix}")]
    status, text, err = _run(["predict", str(model), data, "--id", "key", *out], capsys)
    assert status == 0 and "Traceback" not in err, err
    if suffix == ".parquet":
        got = pd.read_parquet(tmp_path / "pred.parquet").key
    elif suffix == ".csv":
        got = pd.read_csv(tmp_path / "pred.csv").key
    else:
        got = pd.read_csv(__import__("io").StringIO(text)).key
    assert got.tolist() == df.key.tolist()
    df.iloc[30:].assign(key="k").to_parquet(tmp_path / "p" / "b.parquet")
    status, _, err = _run(["predict", str(model), data, "--id", "key", *out], capsys)
    assert status == 2 and "--id" in err and "'key'" in err and "Traceback" not in err, err
