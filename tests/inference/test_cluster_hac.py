"""Cluster-robust (CR1 one- and two-way, CR2, CR3) and HAC covariances against statsmodels and
R (clubSandwich, sandwich; values committed with reference/make_r_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.stats.sandwich_covariance as sw
from inference_helpers import olsnet_fit

from olsnet.errors import DataError, DimensionError, OptionError

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "r_reference.json").read_text())


@pytest.fixture(scope="module")
def grunfeld():
    d = pd.read_csv(REF / "grunfeld.csv")
    X, y = d[["value", "capital"]], d["invest"]
    return X, y, d, sm.OLS(y, sm.add_constant(X))


@pytest.fixture(scope="module")
def macro():
    md = pd.read_csv(REF / "macrodata.csv")
    g = md[["realinv", "realgdp", "realcons"]].pct_change().dropna()
    return g[["realgdp", "realcons"]], g["realinv"]


def test_cluster_cr1_matches_statsmodels(grunfeld) -> None:
    X, y, d, model = grunfeld
    firm = d["firm"].to_numpy()
    ref = model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(firm)[0]}, use_t=True)
    res = olsnet_fit(X, y).with_cov("cluster", groups=firm)
    np.testing.assert_allclose(res.cov_params(), ref.cov_params(), rtol=1e-9)
    np.testing.assert_allclose(res.pvalues, ref.pvalues, rtol=1e-9)
    np.testing.assert_allclose(res.conf_int(), ref.conf_int(), rtol=1e-9)
    assert res.df_resid_inference == ref.df_resid_inference == 10  # 11 firms
    assert res.fvalue == pytest.approx(ref.fvalue, rel=1e-9)
    assert res.f_pvalue == pytest.approx(ref.f_pvalue, rel=1e-9)
    # and R's sandwich::vcovCL(type = "HC1"), the same estimator
    np.testing.assert_allclose(res.cov_params(), R["cr1_vcovCL"], rtol=1e-9)
    text = res.summary().as_text()
    assert "cluster" in text


def test_two_way_cluster_matches_statsmodels(grunfeld) -> None:
    X, y, d, model = grunfeld
    g = np.column_stack([pd.factorize(d["firm"])[0], d["year"].astype(int)])
    V = sw.cov_cluster_2groups(model.fit(), g[:, 0], g[:, 1])[0]
    res = olsnet_fit(X, y).with_cov("cluster", groups=g)
    np.testing.assert_allclose(res.cov_params(), V, rtol=1e-9)
    assert res.df_resid_inference == min(11, 20) - 1
    pair = olsnet_fit(X, y).with_cov("cluster", groups=(g[:, 0], g[:, 1]))
    np.testing.assert_allclose(pair.cov_params(), V, rtol=1e-9)


@pytest.mark.parametrize("kind", ["CR2", "CR3"])
def test_cr2_cr3_match_clubsandwich(grunfeld, kind) -> None:
    X, y, d, _ = grunfeld
    res = olsnet_fit(X, y).with_cov("cluster", groups=d["firm"].to_numpy(), cluster_type=kind)
    np.testing.assert_allclose(res.cov_params(), R[kind.lower()], rtol=1e-9)


def test_cr2_from_its_formula_in_exact_arithmetic() -> None:
    """Bell & McCaffrey on a tiny case where (I - H_gg)^(-1/2) is rational: checks the SVD path."""
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])
    groups = np.array([0, 0, 1, 1, 2, 2])
    res = olsnet_fit(X, y).with_cov("cluster", groups=groups, cluster_type="CR3")
    # CR3: A_g = (I - H_gg)^(-1), all rational -> build it with numpy in float but from the
    # definition (explicit hat matrix), independent of the SVD used by olsnet
    A = np.column_stack([np.ones(6), X])
    B = np.linalg.inv(A.T @ A)
    H = A @ B @ A.T
    e = y - A @ (B @ A.T @ y)
    meat = np.zeros((2, 2))
    for g in range(3):
        rows = groups == g
        u = A[rows].T @ np.linalg.solve(np.eye(2) - H[np.ix_(rows, rows)], e[rows])
        meat += np.outer(u, u)
    np.testing.assert_allclose(res.cov_params(), B @ meat @ B, rtol=1e-12)


def test_hac_matches_statsmodels_and_r(macro) -> None:
    X, y = macro
    model = sm.OLS(y, sm.add_constant(X))
    for corr in (False, True):
        ref = model.fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": corr}, use_t=True)
        res = olsnet_fit(X, y).with_cov("HAC", maxlags=4, use_correction=corr)
        np.testing.assert_allclose(res.cov_params(), ref.cov_params(), rtol=1e-9)
        np.testing.assert_allclose(res.pvalues, ref.pvalues, rtol=1e-9)
    np.testing.assert_allclose(
        olsnet_fit(X, y).with_cov("HAC", maxlags=4).cov_params(), R["newey_west_lag4"], rtol=1e-9
    )
    np.testing.assert_allclose(
        olsnet_fit(X, y).with_cov("HAC", maxlags=4, use_correction=True).cov_params(),
        R["newey_west_lag4_adjusted"],
        rtol=1e-9,
    )
    uniform = model.fit(cov_type="HAC", cov_kwds={"maxlags": 3, "kernel": "uniform"}, use_t=True)
    res = olsnet_fit(X, y).with_cov("HAC", maxlags=3, kernel="uniform")
    np.testing.assert_allclose(res.cov_params(), uniform.cov_params(), rtol=1e-9)


def test_hac_across_many_blocks_equals_one_block(macro) -> None:
    X, y = macro
    small = olsnet_fit(X, y, block_rows=7).with_cov("HAC", maxlags=10)
    whole = olsnet_fit(X, y, block_rows=10_000).with_cov("HAC", maxlags=10)
    np.testing.assert_allclose(small.cov_params(), whole.cov_params(), rtol=1e-12)


def test_cluster_and_hac_survive_save_and_load(grunfeld, tmp_path) -> None:
    import olsnet

    X, y, d, _ = grunfeld
    res = olsnet_fit(X, y).with_cov("cluster", groups=d["firm"].to_numpy())
    olsnet.save(res, tmp_path / "r.olsnet")
    back = olsnet.load(tmp_path / "r.olsnet")
    np.testing.assert_allclose(back.bse, res.bse, rtol=1e-15)
    np.testing.assert_allclose(back.pvalues, res.pvalues, rtol=1e-15)
    assert back.df_resid_inference == 10
    np.testing.assert_allclose(back.t_test("value = capital").sd, res.t_test("value = capital").sd)


# -- bad input --------------------------------------------------------------------------------------
def test_cluster_bad_groups_are_named(grunfeld) -> None:
    X, y, d, _ = grunfeld
    res = olsnet_fit(X, y)
    firm = d["firm"].to_numpy()
    with pytest.raises(DimensionError, match="one label per row of the fit: 220 rows"):
        res.with_cov("cluster", groups=firm[:-1])
    holes = firm.astype(object)
    holes[17] = None
    with pytest.raises(DataError, match="missing label at row 17"):
        res.with_cov("cluster", groups=holes)
    nans = np.arange(220.0)
    nans[3] = np.nan
    with pytest.raises(DataError, match="row 3"):
        res.with_cov("cluster", groups=nans)
    with pytest.raises(DataError, match="1 cluster"):
        res.with_cov("cluster", groups=np.zeros(220))
    with pytest.raises(OptionError, match="needs groups="):
        res.with_cov("cluster")
    with pytest.raises(OptionError, match="CR1"):
        res.with_cov("cluster", groups=firm, cluster_type="CR9")
    with pytest.raises(DimensionError, match="not a column"):
        res.with_cov("cluster", groups="firm")
    with pytest.raises(OptionError, match="takes no option"):
        res.with_cov("HC3", groups=firm)


def test_hac_bad_lags(macro) -> None:
    X, y = macro
    res = olsnet_fit(X, y)
    with pytest.raises(OptionError, match="out of range"):
        res.with_cov("HAC", maxlags=-1)
    with pytest.raises(OptionError, match="out of range"):
        res.with_cov("HAC", maxlags=len(y))
    with pytest.raises(OptionError, match="whole number"):
        res.with_cov("HAC")
    with pytest.raises(OptionError, match="kernel"):
        res.with_cov("HAC", maxlags=2, kernel="parzen")


def test_cluster_and_hac_stream_through_a_file_source(grunfeld, tmp_path) -> None:
    """A file fit gets both from the second pass over its batches (X is never held)."""
    import olsnet

    X, y, d, _ = grunfeld
    path = tmp_path / "g.csv"
    d[["value", "capital", "invest"]].to_csv(path, index=False)
    source = olsnet.read(path, y="invest", batch_rows=17)  # many batches
    res = olsnet.LinearRegression().fit(source).result_
    firm = d["firm"].to_numpy()
    for kwds in ({"groups": firm}, {"groups": firm, "cluster_type": "CR2"}):
        np.testing.assert_allclose(
            res.with_cov("cluster", **kwds).cov_params(),
            olsnet_fit(X, y).with_cov("cluster", **kwds).cov_params(),
            rtol=1e-9,
        )
    np.testing.assert_allclose(
        res.with_cov("HAC", maxlags=5).cov_params(),
        olsnet_fit(X, y).with_cov("HAC", maxlags=5).cov_params(),
        rtol=1e-9,
    )
