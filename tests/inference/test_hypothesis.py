"""t_test / f_test / wald_test, compare_f_test and anova against statsmodels, R's anova and
lmtest::waldtest (values committed with reference/make_r_reference.R), and F by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from inference_helpers import olsnet_fit

import olsnet
from olsnet.errors import DataError, DimensionError, OptionError

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "r_reference.json").read_text())


@pytest.fixture(scope="module")
def grunfeld():
    d = pd.read_csv(REF / "grunfeld.csv")
    return d[["value", "capital"]], d["invest"], d


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1", "HC3"])
def test_tests_of_restrictions_match_statsmodels(grunfeld, cov_type) -> None:
    X, y, _ = grunfeld
    exog = sm.add_constant(X).rename(columns={"const": "Intercept"})
    ref = sm.OLS(y, exog).fit(cov_type=cov_type, use_t=True)
    res = olsnet_fit(X, y).with_cov(cov_type)
    for text in ("value = capital", "value + capital = 0.3", "2*value - capital = 0"):
        ours, theirs = res.t_test(text), ref.t_test(text)
        np.testing.assert_allclose(ours.effect, np.ravel(theirs.effect), rtol=1e-9)
        np.testing.assert_allclose(ours.sd, np.ravel(theirs.sd), rtol=1e-9)
        np.testing.assert_allclose(ours.tvalue, np.ravel(theirs.tvalue), rtol=1e-9)
        np.testing.assert_allclose(ours.pvalue, np.ravel(theirs.pvalue), rtol=1e-9)
        np.testing.assert_allclose(ours.conf_int(), theirs.conf_int(), rtol=1e-9)
    joint = "value = 0, capital = 0"
    f, fr = res.f_test(joint), ref.f_test(joint)
    assert f.fvalue == pytest.approx(float(fr.fvalue), rel=1e-9)
    assert f.f_pvalue == pytest.approx(float(fr.pvalue), rel=1e-9)
    assert (f.df_num, f.df_denom) == (fr.df_num, fr.df_denom)
    L = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert res.f_test(L).fvalue == pytest.approx(f.fvalue, rel=1e-12)
    w, wr = res.wald_test(joint, use_f=False), ref.wald_test(joint, use_f=False, scalar=True)
    assert w.statistic == pytest.approx(float(wr.statistic), rel=1e-9)
    assert w.pvalue_joint == pytest.approx(float(wr.pvalue), rel=1e-9)
    # pvalue means what statsmodels' does for each method: f_test / wald_test the joint p
    assert f.pvalue == pytest.approx(float(fr.pvalue), rel=1e-9)
    assert w.pvalue == pytest.approx(float(wr.pvalue), rel=1e-9)
    wf = res.wald_test(joint, scalar=True)  # statsmodels' keyword, F with use_t fits
    assert wf.pvalue == pytest.approx(float(ref.wald_test(joint, scalar=True).pvalue), rel=1e-9)
    with pytest.raises(OptionError, match="scalar=False"):
        res.wald_test(joint, scalar=False)
    # with a pair (L, c)
    pair = res.t_test((np.array([[0.0, 1.0, 1.0]]), 0.3))
    np.testing.assert_allclose(pair.effect, res.t_test("value + capital = 0.3").effect)
    assert "value = capital" in res.t_test("value = capital").summary().as_text()


def test_tests_use_the_cluster_degrees_of_freedom(grunfeld) -> None:
    X, y, d = grunfeld
    codes = pd.factorize(d["firm"])[0]
    exog = sm.add_constant(X).rename(columns={"const": "Intercept"})
    ref = sm.OLS(y, exog).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    res = olsnet_fit(X, y).with_cov("cluster", groups=codes)
    f, fr = res.f_test("value = 0, capital = 0"), ref.f_test("value = 0, capital = 0")
    assert f.df_denom == fr.df_denom == 10
    assert f.f_pvalue == pytest.approx(float(fr.pvalue), rel=1e-9)
    np.testing.assert_allclose(
        res.t_test("value = capital").pvalue, ref.t_test("value = capital").pvalue, rtol=1e-9
    )


def test_anova_matches_r(grunfeld) -> None:
    X, y, _ = grunfeld
    m0 = olsnet.ols("invest ~ 1", pd.read_csv(REF / "grunfeld.csv"))
    m1 = olsnet_fit(X[["value"]], y)
    m2 = olsnet_fit(X, y)
    for models, ref in (((m1, m2), R["anova_two"]), ((m0, m1, m2), R["anova_three"])):
        table = olsnet.anova(*models)
        rows = table.rows
        np.testing.assert_allclose([r[1] for r in rows], ref["res_df"])
        np.testing.assert_allclose([r[2] for r in rows], ref["rss"], rtol=1e-10)
        np.testing.assert_allclose([r[5] for r in rows[1:]], ref["f"][1:], rtol=1e-9)
        np.testing.assert_allclose([r[6] for r in rows[1:]], ref["p"][1:], rtol=1e-9)
    # F by hand from two statsmodels fits, and statsmodels' compare_f_test
    small = sm.OLS(y, sm.add_constant(X[["value"]])).fit()
    big = sm.OLS(y, sm.add_constant(X)).fit()
    by_hand = (small.ssr - big.ssr) / 1 / (big.ssr / big.df_resid)
    F, p, ddf = m2.compare_f_test(m1)
    assert F == pytest.approx(by_hand, rel=1e-10)
    assert (F, p, ddf) == pytest.approx(big.compare_f_test(small), rel=1e-9)


def test_robust_anova_is_the_wald_test_of_the_added_terms(grunfeld) -> None:
    X, y, _ = grunfeld
    m1 = olsnet_fit(X[["value"]], y)
    m2 = olsnet_fit(X, y).with_cov("HC3")
    row = olsnet.anova(m1, m2).rows[1]
    ref = R["waldtest_hc3"]
    assert row[5] == pytest.approx(ref["f"], rel=1e-9)
    assert row[6] == pytest.approx(ref["p"], rel=1e-9)


def test_bad_restrictions_list_the_names(grunfeld) -> None:
    X, y, _ = grunfeld
    res = olsnet_fit(X, y)
    with pytest.raises(OptionError, match=r"'valu'.*coefficients: Intercept, value, capital"):
        res.t_test("valu = capital")
    with pytest.raises(OptionError, match="exactly one '='"):
        res.t_test("value")
    with pytest.raises(DimensionError, match="3 columns"):
        res.t_test(np.eye(2))
    with pytest.raises(DataError, match="linearly dependent"):
        res.f_test("value = 0, 2*value = 0")
    with pytest.raises(DimensionError, match="nested models"):
        olsnet.anova(res, olsnet_fit(X[["value"]], y))


def test_restriction_on_an_aliased_coefficient_is_refused() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    X = np.column_stack([X, X[:, 0] + X[:, 1]])
    y = X[:, 0] + rng.normal(size=30)
    with pytest.warns(olsnet.errors.AliasedColumnWarning):
        res = olsnet_fit(X, y)
    with pytest.raises(DataError, match="aliased"):
        res.t_test("x3 = 0")
