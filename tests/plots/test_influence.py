"""The numbers behind the diagnostic plots, against statsmodels (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from olsnet.plots._influence import (
    cooks_distance,
    leverage,
    lowess,
    normal_positions,
    standardized_residuals,
)


def _whitened_ols(X, y, w):
    sw = np.sqrt(w)
    A = sm.add_constant(X)
    fit = sm.OLS(y * sw, A * sw[:, None]).fit()
    return fit, y - A @ fit.params


@pytest.mark.parametrize("weighted", [False, True])
def test_leverage_residuals_cooks_match_statsmodels(weighted):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=40)
    w = rng.uniform(0.3, 3.0, 40) if weighted else np.ones(40)
    fit, resid = _whitened_ols(X, y, w)
    infl = fit.get_influence()
    h = leverage(X, w if weighted else None)
    r = standardized_residuals(resid, h, fit.scale, w if weighted else None)
    np.testing.assert_allclose(h, infl.hat_matrix_diag, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(r, infl.resid_studentized_internal, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(
        cooks_distance(r, h, 4), infl.cooks_distance[0], rtol=1e-10, atol=1e-14
    )


def test_leverage_on_ill_conditioned_longley_matches_exact_projection():
    from olsnet.datasets import load_longley

    d = load_longley()
    A = np.column_stack([np.ones(16), d.X])
    # reference: the hat matrix of the standardized design (same column space, condition ~100)
    Z = np.column_stack([np.ones(16), (d.X - d.X.mean(0)) / d.X.std(0)])
    H = Z @ np.linalg.solve(Z.T @ Z, Z.T)
    np.testing.assert_allclose(leverage(d.X), np.diag(H), rtol=1e-9)
    assert np.isclose(leverage(d.X).sum(), A.shape[1], rtol=1e-12)  # trace = rank


def test_aliased_column_does_not_count_in_leverage():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    X3 = np.column_stack([X, X[:, 0] + X[:, 1]])  # third column aliased
    np.testing.assert_allclose(leverage(X3), leverage(X), rtol=1e-10)
    assert np.isclose(leverage(X3).sum(), 3.0, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(20, 120), seed=st.integers(0, 10_000))
def test_lowess_matches_statsmodels(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.sin(2 * x) + 0.3 * rng.standard_t(3, size=n)
    xs, fitted = lowess(x, y)
    ref = sm.nonparametric.lowess(y, x, frac=2 / 3, it=3, delta=0.0)
    np.testing.assert_allclose(xs, ref[:, 0], rtol=0, atol=0)
    np.testing.assert_allclose(fitted, ref[:, 1], rtol=1e-9, atol=1e-12)


def test_normal_positions_are_r_ppoints():
    from statsmodels.graphics.gofplots import plotting_pos

    for n in (5, 10, 11, 50):  # R's ppoints: a = 3/8 up to n = 10, else 1/2
        p = plotting_pos(n, 3 / 8 if n <= 10 else 1 / 2)
        np.testing.assert_allclose(normal_positions(n), stats.norm.ppf(p), rtol=1e-14)
    # symmetric about zero
    np.testing.assert_allclose(normal_positions(9), -normal_positions(9)[::-1], atol=1e-15)
