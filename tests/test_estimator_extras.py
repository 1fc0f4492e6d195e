"""scikit-learn completeness (sparse, positive, copy_X/n_jobs/tol, metadata routing, singular_,
float32), partial_fit / partial_residuals / merge, the intercept-only model and the summary's
residual lines, against scikit-learn, statsmodels and R (committed reference values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import statsmodels.api as sm
from sklearn.linear_model import LinearRegression as SkLinearRegression

import olsnet
from olsnet import LinearRegression
from olsnet.errors import DataError, DimensionError, NotAvailableWarning, OptionError

REF = Path(__file__).parent / "inference" / "reference"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = X @ [1.0, -2.0, 3.0, 0.5, -1.0] + rng.standard_normal(300)
    w = rng.uniform(0.5, 2.0, 300)
    return X, y, w


# -- scikit-learn completeness ---------------------------------------------------------------------
def test_sparse_X_is_fitted_exactly_and_predicts(data) -> None:
    rng = np.random.default_rng(1)
    Xs = sp.random(500, 30, density=0.1, random_state=2, format="csr")
    y = rng.standard_normal(500)
    w = rng.uniform(0.5, 2.0, 500)
    ours = LinearRegression().fit(Xs, y, sample_weight=w)
    dense = LinearRegression().fit(Xs.toarray(), y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, dense.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        ours.predict(Xs), dense.predict(Xs.toarray()), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(ours.result_.bse, dense.result_.bse, rtol=1e-10)
    ref = SkLinearRegression().fit(Xs.toarray(), y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-13)


def test_one_hot_encoder_pipeline_gives_sparse_and_works() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    g = rng.choice(list("abcd"), size=(200, 2))
    y = (g[:, 0] == "b") * 2.0 + (g[:, 1] == "c") + rng.normal(size=200)
    ours = make_pipeline(OneHotEncoder(drop="first"), LinearRegression()).fit(g, y)
    ref = make_pipeline(OneHotEncoder(drop="first"), SkLinearRegression()).fit(g, y)
    np.testing.assert_allclose(ours.predict(g), ref.predict(g), rtol=1e-10)


def test_sparse_with_nan_names_the_row_and_column() -> None:
    Xs = sp.random(20, 4, density=0.5, random_state=0, format="csr")
    Xs.data[3] = np.nan
    row = int(np.searchsorted(Xs.indptr, 3, side="right") - 1)
    with pytest.raises(DataError, match=f"row {row}, column {Xs.indices[3]}"):
        LinearRegression().fit(Xs, np.ones(20))


def test_positive_matches_scikit_learn_and_has_no_inference(data) -> None:
    X, y, w = data
    y = y - 3.0 * X[:, 1]  # a clearly negative slope: the constraint binds
    ours = LinearRegression(positive=True).fit(X, y, sample_weight=w)
    ref = SkLinearRegression(positive=True).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-10, abs=1e-12)
    assert ours.coef_[1] == 0.0
    res = ours.result_
    assert np.isnan(res.bse).all()
    with pytest.warns(NotAvailableWarning, match="constrained fit"):
        assert np.isnan(res.pvalues).all()
    assert "not available for a constrained fit" in res.summary().as_text()
    nofit = LinearRegression(positive=True, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(
        nofit.coef_, SkLinearRegression(positive=True, fit_intercept=False).fit(X, y).coef_,
        rtol=1e-10, atol=1e-12,
    )  # fmt: skip
    with pytest.raises(OptionError, match="inference is not available for a constrained fit"):
        LinearRegression(positive=True, cov_type="HC3").fit(X, y)


def test_sklearn_parameters_singular_and_float32(data) -> None:
    X, y, w = data
    m = LinearRegression(copy_X=False, n_jobs=2, tol=1e-3).fit(X, y, sample_weight=w)
    ref = SkLinearRegression(copy_X=False, n_jobs=2, tol=1e-3).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(m.singular_, ref.singular_, rtol=1e-12)
    assert set(m.get_params()) >= {"copy_X", "n_jobs", "tol", "positive", "fit_intercept"}
    np.testing.assert_allclose(
        LinearRegression(fit_intercept=False).fit(X, y).singular_,
        SkLinearRegression(fit_intercept=False).fit(X, y).singular_,
        rtol=1e-12,
    )
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    m32 = LinearRegression().fit(X32, y32)
    ref32 = SkLinearRegression().fit(X32, y32)
    assert m32.coef_.dtype == ref32.coef_.dtype == np.float32
    assert m32.predict(X32).dtype == ref32.predict(X32).dtype == np.float32
    np.testing.assert_allclose(m32.coef_, ref32.coef_, rtol=1e-5)


def test_metadata_routing_routes_sample_weight(data) -> None:
    import sklearn
    from sklearn.base import clone
    from sklearn.model_selection import cross_validate

    X, y, w = data
    est = (
        LinearRegression().set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    )
    assert clone(est).get_metadata_routing().fit.requests == {"sample_weight": True}
    with sklearn.config_context(enable_metadata_routing=True):
        ours = cross_validate(est, X, y, params={"sample_weight": w}, cv=3)["test_score"]
        sk = SkLinearRegression().set_fit_request(sample_weight=True)
        sk.set_score_request(sample_weight=True)
        ref = cross_validate(sk, X, y, params={"sample_weight": w}, cv=3)["test_score"]
        np.testing.assert_allclose(ours, ref, rtol=1e-10)
        with pytest.raises(Exception, match="sample_weight"):  # not requested: refused
            cross_validate(LinearRegression(), X, y, params={"sample_weight": w}, cv=3)


# -- partial_fit and merge -------------------------------------------------------------------------
def test_partial_fit_equals_one_fit_after_every_chunk(data) -> None:
    X, y, w = data
    m = LinearRegression()
    for stop in range(60, 301, 60):
        m.partial_fit(X[stop - 60 : stop], y[stop - 60 : stop], sample_weight=w[stop - 60 : stop])
        full = LinearRegression().fit(X[:stop], y[:stop], sample_weight=w[:stop])
        np.testing.assert_allclose(m.result_.params, full.result_.params, rtol=1e-12)
        np.testing.assert_allclose(m.result_.bse, full.result_.bse, rtol=1e-12)
        assert m.result_.llf == pytest.approx(full.result_.llf, rel=1e-12)
        assert m.result_.rsquared == pytest.approx(full.result_.rsquared, rel=1e-12)
    assert "Regression Results" in m.summary().as_text()
    with pytest.raises(DataError, match="partial_residuals"):
        m.result_.with_cov("HC3")
    for start in range(0, 300, 60):
        m.partial_residuals(X[start : start + 60], y[start : start + 60], w[start : start + 60])
    np.testing.assert_allclose(
        m.result_.with_cov("HC3").bse, full.result_.with_cov("HC3").bse, rtol=1e-12
    )
    with pytest.raises(DimensionError, match="expecting 5 features"):
        m.partial_fit(X[:10, :3], y[:10])


def test_merge_is_the_fit_of_the_union(data) -> None:
    X, y, w = data
    a = LinearRegression().fit(X[:100], y[:100], sample_weight=w[:100])
    b = LinearRegression().partial_fit(X[100:], y[100:], sample_weight=w[100:])
    full = LinearRegression().fit(X, y, sample_weight=w)
    merged = olsnet.merge(a, b)
    np.testing.assert_allclose(merged.coef_, full.coef_, rtol=1e-12)
    np.testing.assert_allclose(merged.result_.bse, full.result_.bse, rtol=1e-12)
    np.testing.assert_allclose(merged.predict(X), full.predict(X), rtol=1e-12)
    both = olsnet.merge(a, LinearRegression().fit(X[100:], y[100:], sample_weight=w[100:]))
    np.testing.assert_allclose(
        both.result_.with_cov("HC1").bse, full.result_.with_cov("HC1").bse, rtol=1e-12
    )
    with pytest.raises(DimensionError, match="same model"):
        olsnet.merge(a, LinearRegression().fit(X[:, :3], y))
    with pytest.raises(olsnet.errors.InputTypeError, match="fitted LinearRegression"):
        olsnet.merge(a, LinearRegression())


# -- the intercept-only model ---------------------------------------------------------------------
def test_intercept_only_model_is_rs_y_tilde_1() -> None:
    d = pd.read_csv(REF / "grunfeld.csv")
    res = olsnet.ols("invest ~ 1", d)
    ref = sm.OLS(d["invest"], np.ones((len(d), 1))).fit()
    assert res.params[0] == pytest.approx(d["invest"].mean(), rel=1e-14)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-12)
    np.testing.assert_allclose(res.tvalues, ref.tvalues, rtol=1e-12)
    np.testing.assert_allclose(res.pvalues, ref.pvalues, rtol=1e-10)
    np.testing.assert_allclose(res.conf_int(), ref.conf_int(), rtol=1e-12)
    with pytest.warns(NotAvailableWarning, match="no regressors"):
        assert np.isnan(res.fvalue)
    pred = res.get_prediction(np.empty((2, 0)))
    np.testing.assert_allclose(pred.se_mean, ref.bse.iloc[0], rtol=1e-12)
    # X with 0 columns: the same model from the estimator; without an intercept, refused
    est = LinearRegression().fit(np.empty((len(d), 0)), d["invest"])
    np.testing.assert_allclose(est.result_.bse, ref.bse, rtol=1e-12)
    with pytest.raises(DataError, match=r"olsnet.ols\('y ~ 1'"):
        LinearRegression(fit_intercept=False).fit(np.empty((5, 0)), np.arange(5.0))


# -- the summary's residual lines ---------------------------------------------------------------------
def test_summary_residual_lines_match_statsmodels_and_r() -> None:
    from statsmodels.stats.stattools import durbin_watson, jarque_bera, omni_normtest

    d = pd.read_csv(REF / "grunfeld.csv")
    X, y = d[["value", "capital"]], d["invest"]
    res = LinearRegression().fit(X, y).result_
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    tests = res.residual_tests()
    jb, jbp, skew, kurt = jarque_bera(ref.wresid)
    omni, omnip = omni_normtest(ref.wresid)
    for name, value in {
        "jarque_bera": jb,
        "jarque_bera_p": jbp,
        "skew": skew,
        "kurtosis": kurt,
        "omnibus": omni,
        "omnibus_p": omnip,
        "durbin_watson": durbin_watson(ref.wresid),
    }.items():
        assert tests.values[name][0] == pytest.approx(value, rel=1e-9), name
    r = json.loads((REF / "r_reference.json").read_text())["summary_lm"]
    np.testing.assert_allclose(tests.quantiles[0], r["quantiles"], rtol=1e-9)
    text = res.summary().as_text()
    assert f"Residual standard error: {r['sigma']:.4g} on {r['df']} degrees of freedom" in text
    for label in ("Omnibus:", "Durbin-Watson:", "Jarque-Bera (JB):", "Median", "3Q"):
        assert label in text
    assert "Method:" in text and "(qr-state)" not in text
    d = res.to_dict()["outputs"][0]
    assert d["durbin_watson"] == pytest.approx(durbin_watson(ref.wresid), rel=1e-9)
