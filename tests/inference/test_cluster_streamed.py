"""Cluster-robust covariances with ``groups=`` a column name, read alongside the rows in the
second pass: CSV, Parquet, a formula on files, a pandas formula fit and dask frames give the
in-memory cluster covariance (labels passed as an array, itself checked against statsmodels
and R in test_cluster_hac.py) to 1e-12."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.errors import DataError, DataFileError, DimensionError

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def grunfeld() -> pd.DataFrame:
    return pd.read_csv(REF / "grunfeld.csv")


@pytest.fixture(scope="module")
def reference(grunfeld):
    """The in-memory fit, with the labels as arrays: one-way on firms, two-way firm x year."""
    d = grunfeld
    res = olsnet.LinearRegression().fit(d[["value", "capital"]], d["invest"]).result_
    firm, year = d["firm"].to_numpy(), d["year"].to_numpy()
    return {
        "one": res.with_cov("cluster", groups=firm),
        "two": res.with_cov("cluster", groups=(firm, year)),
        "CR2": res.with_cov("cluster", groups=firm, cluster_type="CR2"),
    }


def _check(res, reference) -> None:
    one = res.with_cov("cluster", groups="firm")
    two = res.with_cov("cluster", groups=["firm", "year"])
    for got, ref in ((one, reference["one"]), (two, reference["two"])):
        np.testing.assert_allclose(got.cov_params(), ref.cov_params(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(got.pvalues, ref.pvalues, rtol=1e-12, atol=0)
        assert got.df_resid_inference == ref.df_resid_inference
        assert dict(got.cov_kwds)["n_groups"] == dict(ref.cov_kwds)["n_groups"]
    assert one.df_resid_inference == 10  # 11 firms: G - 1, as Stata and statsmodels
    assert two.df_resid_inference == 10  # min(11, 20) - 1


@pytest.fixture(scope="module")
def files(grunfeld, tmp_path_factory):
    folder = tmp_path_factory.mktemp("grunfeld")
    grunfeld.to_csv(folder / "g.csv", index=False)
    grunfeld.to_parquet(folder / "g.parquet")
    return folder


@pytest.mark.parametrize("name", ["g.csv", "g.parquet"])
def test_file_fit_clusters_on_a_column_it_does_not_fit(files, reference, name) -> None:
    # batch_rows=64: the 220 rows cross several batches, clusters spanning them
    src = olsnet.read(files / name, y="invest", x=["value", "capital"], batch_rows=64)
    _check(olsnet.LinearRegression().fit(src).result_, reference)


def test_formula_file_fit_clusters(files, reference) -> None:
    src = olsnet.read(files / "g.parquet", formula="invest ~ value + capital", batch_rows=50)
    _check(olsnet.LinearRegression().fit(src).result_, reference)


def test_pandas_formula_fit_clusters(grunfeld, reference) -> None:
    res = olsnet.ols("invest ~ value + capital", grunfeld)
    _check(res, reference)
    cr2 = res.with_cov("cluster", groups="firm", cluster_type="CR2")  # labels gathered
    np.testing.assert_allclose(cr2.bse, reference["CR2"].bse, rtol=1e-12, atol=0)


def test_dask_fits_cluster(grunfeld, files, reference) -> None:
    dd = pytest.importorskip("dask.dataframe")
    from olsnet.scale import read_dask

    ddf = dd.from_pandas(grunfeld, npartitions=4)
    _check(olsnet.ols("invest ~ value + capital", ddf), reference)
    src = read_dask(str(files / "g.parquet"), y="invest", x=["value", "capital"])
    _check(olsnet.LinearRegression().fit(src).result_, reference)


def test_rows_dropped_for_missing_values_leave_their_labels(grunfeld, tmp_path) -> None:
    d = grunfeld.copy()
    d.loc[[3, 100], "value"] = np.nan
    d.loc[3, "firm"] = None  # a dropped row's label does not matter
    d.to_csv(tmp_path / "holes.csv", index=False)
    src = olsnet.read(
        tmp_path / "holes.csv", y="invest", x=["value", "capital"], missing="drop", batch_rows=64
    )
    got = olsnet.LinearRegression().fit(src).result_.with_cov("cluster", groups="firm")
    kept = d.dropna(subset=["value"])
    ref = olsnet.LinearRegression().fit(kept[["value", "capital"]], kept["invest"]).result_
    ref = ref.with_cov("cluster", groups=kept["firm"].to_numpy())
    np.testing.assert_allclose(got.cov_params(), ref.cov_params(), rtol=1e-12, atol=0)


# -- bad input --------------------------------------------------------------------------------------
def test_unknown_group_column_names_close_matches(files, grunfeld) -> None:
    src = olsnet.read(files / "g.csv", y="invest", x=["value", "capital"])
    res = olsnet.LinearRegression().fit(src).result_
    with pytest.raises(DataFileError, match=r"'frim' is not a column .*did you mean 'firm'"):
        res.with_cov("cluster", groups="frim")
    with pytest.raises(DimensionError, match=r"did you mean 'year'.*invest, value, capital"):
        olsnet.ols("invest ~ value", grunfeld).with_cov("cluster", groups="yaer")


def test_missing_label_names_the_line(grunfeld, tmp_path) -> None:
    d = grunfeld.copy()
    d.loc[41, "firm"] = None  # data row 41: line 43 of the CSV (after the header)
    d.to_csv(tmp_path / "g.csv", index=False)
    d.to_parquet(tmp_path / "g.parquet")
    for name, where in (("g.csv", "line 43"), ("g.parquet", "row 42")):
        src = olsnet.read(tmp_path / name, y="invest", x=["value", "capital"], batch_rows=16)
        res = olsnet.LinearRegression().fit(src).result_
        with pytest.raises(DataFileError, match=rf"{name}, {where}, column 'firm': a missing"):
            res.with_cov("cluster", groups="firm")
    with pytest.raises(DataError, match="missing label at row 41"):
        olsnet.ols("invest ~ value", d).with_cov("cluster", groups="firm")


def test_one_cluster_is_refused(grunfeld, tmp_path) -> None:
    d = grunfeld.assign(one="a")
    d.to_csv(tmp_path / "g.csv", index=False)
    res = olsnet.LinearRegression().fit(olsnet.read(tmp_path / "g.csv", y="invest", x=["value"]))
    with pytest.raises(DataError, match="'one' has 1 cluster"):
        res.result_.with_cov("cluster", groups="one")


def test_summary_states_the_cluster_and_hac_degrees_of_freedom(grunfeld) -> None:
    res = olsnet.ols("invest ~ value + capital", grunfeld)
    text = res.with_cov("cluster", groups="firm").summary().as_text()
    assert "cluster-robust (CR1, 11 clusters)" in text
    assert "Student's t with 10 df (clusters - 1" in text  # not the 217 of n - k
    text = res.with_cov("cluster", groups=["firm", "year"]).summary().as_text()
    assert "11 x 20 clusters, two-way" in text
    text = res.with_cov("HAC", maxlags=3).summary().as_text()
    assert "(HAC, bartlett kernel, 3 lags, without small-sample correction)" in text


def test_dask_groups_given_as_dask_collections(grunfeld, reference) -> None:
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(grunfeld, npartitions=3)
    res = olsnet.LinearRegression().fit(ddf[["value", "capital"]], ddf["invest"]).result_
    one = res.with_cov("cluster", groups=ddf["firm"])  # read partition by partition
    two = res.with_cov("cluster", groups=[ddf["firm"], ddf["year"]])
    for got, ref in ((one, reference["one"]), (two, reference["two"])):
        np.testing.assert_allclose(got.cov_params(), ref.cov_params(), rtol=1e-12, atol=0)
    X = da.from_array(grunfeld[["value", "capital"]].to_numpy(), chunks=50)
    arr = olsnet.LinearRegression().fit(X, da.from_array(grunfeld["invest"].to_numpy(), chunks=50))
    codes = da.from_array(pd.factorize(grunfeld["firm"])[0], chunks=70)  # re-chunked to X's
    got = arr.result_.with_cov("cluster", groups=codes)
    np.testing.assert_allclose(got.cov_params(), reference["one"].cov_params(), rtol=1e-12)
    other = dd.from_pandas(grunfeld, npartitions=5)["firm"]
    with pytest.raises(DimensionError, match=r"groups have \[5\] partitions, the rows 3"):
        res.with_cov("cluster", groups=other)


def test_weighted_file_fit_clusters_as_statsmodels_wls(grunfeld, tmp_path) -> None:
    sm = pytest.importorskip("statsmodels.api")
    d = grunfeld.assign(w=np.linspace(0.5, 2.0, len(grunfeld)))
    d.to_parquet(tmp_path / "w.parquet")
    src = olsnet.read(
        tmp_path / "w.parquet", y="invest", x=["value", "capital"], weights="w", batch_rows=30
    )
    got = olsnet.LinearRegression().fit(src).result_.with_cov("cluster", groups="firm")
    ref = sm.WLS(d["invest"], sm.add_constant(d[["value", "capital"]]), weights=d["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["firm"])[0]}, use_t=True
    )
    np.testing.assert_allclose(got.cov_params(), ref.cov_params(), rtol=1e-9)
    np.testing.assert_allclose(got.pvalues, ref.pvalues, rtol=1e-9)
