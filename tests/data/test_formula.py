"""olsnet.ols / design_from_formula against statsmodels' formula API (patsy) on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import olsnet
from olsnet.api import from_formula
from olsnet.data.formula_frame import design_from_formula
from olsnet.errors import DataError, InputTypeError

smf = pytest.importorskip("statsmodels.formula.api")


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.uniform(0.5, 4.0, n),
            "x3": rng.normal(size=n),
            "group": rng.choice(["north", "south", "east"], n),
            "w": rng.uniform(0.2, 3.0, n),
        }
    )
    df["y"] = (
        1.0
        + 2.0 * df.x1
        - np.log(df.x2)
        + 0.5 * (df.group == "south")
        + 0.3 * df.x1 * df.x3
        + rng.normal(size=n)
    )
    return df


def _assert_matches(res, ref, rtol: float = 1e-9) -> None:
    names = list(res.param_names)
    assert sorted(names) == sorted(ref.params.index)
    np.testing.assert_allclose(res.params, ref.params[names].to_numpy(), rtol=rtol)
    np.testing.assert_allclose(res.bse, ref.bse[names].to_numpy(), rtol=rtol)
    np.testing.assert_allclose(res.pvalues, ref.pvalues[names].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(res.conf_int(), ref.conf_int().loc[names].to_numpy(), rtol=rtol)
    for stat in ("rsquared", "rsquared_adj", "fvalue", "llf", "aic", "bic", "ssr", "df_resid"):
        np.testing.assert_allclose(getattr(res, stat), getattr(ref, stat), rtol=rtol, err_msg=stat)


FORMULAS = [
    "y ~ x1 + np.log(x2) + C(group)",
    "y ~ x1 * x3 + I(x2 ** 2)",
    "y ~ C(group) + x1:C(group) + np.exp(x3 / 4)",
    "y ~ 0 + C(group) + x1",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_ols_matches_statsmodels(formula: str) -> None:
    df = _frame()
    res = olsnet.ols(formula, df)
    ref = smf.ols(formula, df).fit()
    if "0 +" in formula:
        # no intercept term: R's lm (and olsnet) report the uncentred R² and F; statsmodels
        # detects the constant implied by the full dummy set, unless told hasconst=False
        sm = pytest.importorskip("statsmodels.api")
        ref = sm.OLS(
            ref.model.endog,
            pd.DataFrame(ref.model.exog, columns=ref.model.exog_names),
            hasconst=False,
        ).fit()
    _assert_matches(res, ref)
    assert (res.param_names[0] == "Intercept") == ("0 +" not in formula)


@pytest.mark.parametrize("weights", ["w", "array"])
def test_weighted_formula_matches_wls(weights: str) -> None:
    df = _frame(seed=1)
    w = df["w"] if weights == "w" else df["w"].to_numpy()
    formula = "y ~ x1 + np.log(x2) + C(group)"
    res = olsnet.ols(formula, df, weights=w)
    ref = smf.wls(formula, df, weights=df["w"]).fit()
    _assert_matches(res, ref)


def test_robust_covariance_matches_statsmodels_hc3() -> None:
    df = _frame(seed=2)
    formula = "y ~ x1 + np.log(x2) + C(group)"
    res = olsnet.ols(formula, df, cov_type="HC3")
    ref = smf.ols(formula, df).fit(cov_type="HC3")
    names = list(res.param_names)
    np.testing.assert_allclose(res.bse, ref.bse[names].to_numpy(), rtol=1e-9)


def test_polars_and_dict_data_give_the_same_fit() -> None:
    pl = pytest.importorskip("polars")
    df = _frame(seed=3)
    formula = "y ~ x1 + C(group)"
    want = olsnet.ols(formula, df)
    for data in (pl.from_pandas(df), {c: df[c].to_numpy() for c in df.columns}):
        got = olsnet.ols(formula, data)
        assert got.param_names == want.param_names
        np.testing.assert_allclose(got.params, want.params, rtol=1e-12)


def test_missing_values_raise_naming_column_or_drop_as_statsmodels() -> None:
    df = _frame(seed=4)
    df.loc[5, "x2"] = np.nan
    df.loc[9, "group"] = None
    with pytest.raises(DataError, match=r"column 'x2' has a missing value at row 5"):
        olsnet.ols("y ~ x1 + np.log(x2) + C(group)", df)
    res = olsnet.ols("y ~ x1 + np.log(x2) + C(group)", df, missing="drop")
    ref = smf.ols("y ~ x1 + np.log(x2) + C(group)", df, missing="drop").fit()
    _assert_matches(res, ref)
    assert res.nobs == len(df) - 2 and res.n_dropped == 2
    df.loc[5, "x2"] = 0.0  # log(0) = -inf: a transform that is not finite
    with pytest.raises(DataError, match=r"term 'np.log\(x2\)' is -inf at row 5"):
        olsnet.ols("y ~ np.log(x2)", df.drop(index=9))


def test_unknown_column_and_bad_formula() -> None:
    df = _frame()
    with pytest.raises(InputTypeError, match=r"uses 'x9', which is not a column"):
        olsnet.ols("y ~ x1 + x9", df)
    with pytest.raises(InputTypeError, match="formula must be a string like"):
        olsnet.ols("y = x1", df)


def test_design_from_formula_is_patsys_design_without_intercept() -> None:
    df = _frame(seed=5)
    formula = "y ~ x1 + np.log(x2) + C(group)"
    X, y, names, target, spec = design_from_formula(formula, df)
    ref = smf.ols(formula, df)
    exog = pd.DataFrame(ref.exog, columns=ref.exog_names)
    np.testing.assert_allclose(X, exog[list(names)].to_numpy(), rtol=1e-15)
    np.testing.assert_array_equal(y, df["y"].to_numpy())
    assert target == "y" and spec.fit_intercept and "Intercept" not in names
    np.testing.assert_allclose(spec.design_matrix(df.iloc[:7]), X[:7], rtol=1e-15)


def test_from_formula_builds_a_network_with_the_terms_as_inputs() -> None:
    pytest.importorskip("torch")
    df = _frame(seed=6)
    net = from_formula("y ~ x1 + C(group)", df, hidden=(2,))
    assert (net.n_features, net.n_outputs, net.hidden) == (3, 1, (2,))
    assert net.feature_names == ("x1", "C(group)[T.north]", "C(group)[T.south]")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_change_the_fit(seed: int) -> None:
    df = _frame(n=40, seed=seed % 1000)
    perm = np.random.default_rng(seed).permutation(len(df))
    formula = "y ~ x1 + np.log(x2) + C(group)"
    a = olsnet.ols(formula, df)
    b = olsnet.ols(formula, df.iloc[perm])
    assert a.param_names == b.param_names
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-10)
