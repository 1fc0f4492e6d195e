"""Every statistic of RegressionResult against statsmodels (OLS / WLS, use_t=True), rtol 1e-9.

Real data: scikit-learn's diabetes and statsmodels' spector datasets; nonrobust and HC0-HC3;
with and without analytic weights; one and two outputs (statsmodels fits each separately);
with and without an intercept (R² then uncentered).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inference_helpers import (
    SCALAR_STATS,
    olsnet_fit,
    random_weights,
    second_target,
    statsmodels_fit,
)

RTOL = 1e-9
COV_TYPES = ["nonrobust", "HC0", "HC1", "HC2", "HC3"]


def _check_output(ours: dict, ref) -> None:
    """Compare one output's statistics (``ours``: name -> value) with a statsmodels result."""
    for name in SCALAR_STATS:
        np.testing.assert_allclose(
            ours[name], float(getattr(ref, name)), rtol=RTOL, atol=0, err_msg=name
        )
    for name in ["params", "bse", "tvalues", "pvalues"]:
        np.testing.assert_allclose(
            ours[name], np.asarray(getattr(ref, name)), rtol=RTOL, atol=0, err_msg=name
        )
    np.testing.assert_allclose(
        ours["conf_int"], np.asarray(ref.conf_int(alpha=0.1)), rtol=RTOL, atol=0, err_msg="conf_int"
    )
    np.testing.assert_allclose(
        ours["cov_params"],
        np.asarray(ref.cov_params()),
        rtol=RTOL,
        atol=1e-13 * np.abs(np.asarray(ref.cov_params())).max(),
        err_msg="cov_params",
    )


def _single(res) -> dict:
    out = {
        name: getattr(res, name) for name in [*SCALAR_STATS, "params", "bse", "tvalues", "pvalues"]
    }
    out["conf_int"] = res.conf_int(alpha=0.1)
    out["cov_params"] = res.cov_params()
    return out


def _column(res, j: int) -> dict:
    out = {}
    for name in [*SCALAR_STATS, "params", "bse", "tvalues", "pvalues"]:
        v = getattr(res, name)
        out[name] = v[..., j] if np.ndim(v) else v
    out["conf_int"] = res.conf_int(alpha=0.1)[:, j, :]
    out["cov_params"] = res.cov_params()[j]
    return out


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["ols", "wls"])
def test_single_output(dataset, cov_type, weighted) -> None:
    _name, X, y = dataset
    w = random_weights(len(y)) if weighted else None
    ours = olsnet_fit(X, y, w, cov_type=cov_type)
    ref = statsmodels_fit(X, y, w, cov_type=cov_type)
    assert ours.cov_type == cov_type
    assert ours.params.shape == (X.shape[1] + 1,)
    _check_output(_single(ours), ref)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1", "HC3"])
@pytest.mark.parametrize("weighted", [False, True], ids=["ols", "wls"])
def test_multi_output_each_as_if_alone(dataset, cov_type, weighted) -> None:
    _name, X, y = dataset
    Y = pd.DataFrame({"first": np.asarray(y, dtype=float), "second": second_target(y)})
    w = random_weights(len(y), seed=3) if weighted else None
    ours = olsnet_fit(X, Y, w, cov_type=cov_type)
    k = X.shape[1] + 1
    assert ours.params.shape == (k, 2)
    assert ours.cov_params().shape == (2, k, k)
    assert ours.conf_int().shape == (k, 2, 2)
    assert ours.target_names == ("first", "second")
    for j, col in enumerate(Y.columns):
        ref = statsmodels_fit(X, Y[col], w, cov_type=cov_type)
        _check_output(_column(ours, j), ref)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "HC2"])
@pytest.mark.parametrize("weighted", [False, True], ids=["ols", "wls"])
def test_no_intercept_uses_uncentered_r2(dataset, cov_type, weighted) -> None:
    _name, X, y = dataset
    w = random_weights(len(y), seed=5) if weighted else None
    ours = olsnet_fit(X, y, w, fit_intercept=False, cov_type=cov_type)
    ref = statsmodels_fit(X, y, w, fit_intercept=False, cov_type=cov_type)
    assert ref.k_constant == 0
    _check_output(_single(ours), ref)
    np.testing.assert_allclose(ours.rsquared, 1 - ours.ssr / ours.uncentered_tss, rtol=1e-14)
    assert ours.param_names == tuple(X.columns)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC3"])
@pytest.mark.parametrize("weighted", [False, True], ids=["ols", "wls"])
def test_prediction_intervals(dataset, cov_type, weighted) -> None:
    _name, X, y = dataset
    w = random_weights(len(y), seed=7) if weighted else None
    ours = olsnet_fit(X, y, w, cov_type=cov_type)
    ref = statsmodels_fit(X, y, w, cov_type=cov_type)
    rng = np.random.default_rng(11)
    new = X.iloc[:7] * (1 + 0.1 * rng.standard_normal((7, X.shape[1])))
    new_w = rng.uniform(0.5, 2.0, 7)
    exog = np.column_stack([np.ones(7), new.to_numpy()])
    for pw in (None, new_w):
        got = ours.get_prediction(new, weights=pw).summary_frame(alpha=0.1)
        kwargs = {} if pw is None else {"weights": pw}
        want = ref.get_prediction(exog, **kwargs).summary_frame(alpha=0.1)
        assert list(got.columns) == list(want.columns)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=RTOL, atol=0)
    pred = ours.get_prediction(new)
    want = ref.get_prediction(exog).summary_frame(alpha=0.1)
    np.testing.assert_allclose(
        pred.conf_int(obs=True, alpha=0.1),
        want[["obs_ci_lower", "obs_ci_upper"]].to_numpy(),
        rtol=RTOL,
        atol=0,
    )
    np.testing.assert_allclose(
        pred.conf_int(alpha=0.1),
        want[["mean_ci_lower", "mean_ci_upper"]].to_numpy(),
        rtol=RTOL,
        atol=0,
    )
    np.testing.assert_allclose(pred.predicted_mean, want["mean"], rtol=RTOL, atol=0)


def test_in_sample_prediction_uses_data_weights(dataset) -> None:
    _name, X, y = dataset
    w = random_weights(len(y), seed=13)
    ours = olsnet_fit(X, y, w)
    ref = statsmodels_fit(X, y, w)
    got = ours.get_prediction().summary_frame()
    want = ref.get_prediction().summary_frame()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=RTOL, atol=0)
