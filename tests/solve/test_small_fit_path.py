"""The small fit's lean path (issue 14 item 1): float64 arrays checked directly, the fast path's
owned read-only arrays adopted by the result, sums of squares from R's first row, ``bse`` from
the covariance diagonal. References are exact rationals (``fractions.Fraction``) or the generic
path's own errors, so what the lean path skips is shown to change nothing.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from test_fast_path import _exact_reference

import olsnet
from olsnet.data import ArraySource, as_design
from olsnet.errors import DataError, DimensionError
from olsnet.inference import RegressionResult
from olsnet.solve import lstsq
from olsnet.solve._exact import _seminormal_lstsq


def _design(seed, n=50, p=3, q=1, offset=40.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.1, 10.0, p) + rng.uniform(-offset, offset, p)
    Y = X @ rng.standard_normal((p, q)) + 7.0 + rng.standard_normal((n, q))
    return X, Y


def _exact_fit(X, Y, w):
    """(bse (k, q), centered TSS (q,), uncentered TSS (q,)) of the fit with an intercept: the
    exact rational (AᵀWA)⁻¹ and SSR of test_fast_path, and the sums of squares in rationals."""
    _, cov, ssr = _exact_reference(X, Y, w, True)
    n, k = X.shape[0], X.shape[1] + 1
    bse = np.sqrt(np.diagonal(cov)[:, None] * (ssr / (n - k)))
    W = [Fraction(1)] * n if w is None else [Fraction(float(v)) for v in w]
    sw = sum(W)
    centered, uncentered = np.empty(Y.shape[1]), np.empty(Y.shape[1])
    for j in range(Y.shape[1]):
        y = [Fraction(float(v)) for v in Y[:, j]]
        ybar = sum(wr * yr for wr, yr in zip(W, y, strict=True)) / sw
        centered[j] = float(sum(wr * (yr - ybar) ** 2 for wr, yr in zip(W, y, strict=True)))
        uncentered[j] = float(sum(wr * yr * yr for wr, yr in zip(W, y, strict=True)))
    return bse, centered, uncentered


@pytest.mark.parametrize(("seed", "weighted", "q"), [(0, False, 1), (1, True, 1), (2, False, 2)])
def test_bse_and_sums_of_squares_match_exact_rationals(seed, weighted, q):
    X, Y = _design(seed, q=q)
    w = np.random.default_rng(seed + 5).uniform(0.3, 3.0, X.shape[0]) if weighted else None
    res = olsnet.LinearRegression().fit(X, Y[:, 0] if q == 1 else Y, sample_weight=w).result_
    assert res.method in ("qr", "exact")  # the fast path took it
    bse, centered, uncentered = _exact_fit(X, Y, w)
    expected = bse[:, 0] if q == 1 else bse
    np.testing.assert_allclose(res.bse, expected, rtol=1e-13, atol=0)
    assert res.bse.shape == expected.shape and not res.bse.flags.writeable
    np.testing.assert_allclose(res.solution.centered_tss, centered, rtol=1e-13, atol=0)
    np.testing.assert_allclose(res.solution.uncentered_tss, uncentered, rtol=1e-13, atol=0)


def test_large_offsets_keep_the_unshifted_sums_exact():
    """Σ w y² recovered from the shifted R (means 1e6 times the spread) stays exact."""
    X, Y = _design(3, n=40, p=2, offset=1e6)
    Y = Y + 1e6
    sol = _seminormal_lstsq(X, Y, None, True, None, 1e-10)
    assert sol is not None
    _, centered, uncentered = _exact_fit(X, Y, None)
    np.testing.assert_allclose(sol.centered_tss, centered, rtol=1e-12, atol=0)
    np.testing.assert_allclose(sol.uncentered_tss, uncentered, rtol=1e-14, atol=0)


def test_result_adopts_the_fast_paths_arrays_and_copies_anyone_elses():
    X, Y = _design(4)
    sol = lstsq(X, Y, None, True)
    arrays = (sol.params, sol.cov_unscaled, sol.ssr, sol.centered_tss, sol.uncentered_tss)
    arrays += (sol.aliased, sol.R_x, sol.shift_x)
    assert all(a.base is None and not a.flags.writeable for a in arrays)
    source = ArraySource(as_design(X, Y[:, 0]))
    res = RegressionResult.from_solution(sol, source, y_ndim=1)
    assert res.solution is sol  # adopted: nothing can write it
    # a solution with writable arrays (anyone's) is copied: changing it changes no result
    mine = replace(sol, params=sol.params.copy(), method="mine")
    res2 = RegressionResult.from_solution(mine, source, y_ndim=1)
    before = res2.params.copy()
    mine.params[:] = 0.0
    assert res2.solution is not mine and not res2.solution.params.flags.writeable
    np.testing.assert_array_equal(res2.params, before)


def _error(fn):
    with pytest.raises((DataError, DimensionError)) as info:
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "case",
    ["nan_x", "nan_y", "nan_both", "inf_y_2d", "rows", "x_1d", "y_3d", "empty", "no_columns"],
)
def test_float64_arrays_give_the_generic_paths_errors(case):
    """Plain float64 arrays skip the generic conversion; the same data in float32 (the generic
    path) raise the same error class with the same message, in the same order."""
    X, Y = _design(6, n=30)
    y = Y[:, 0].copy()
    if case == "nan_x":
        X[4, 1] = np.nan
    elif case == "nan_y":
        y[9] = np.nan
    elif case == "nan_both":  # y's scan comes first, as before
        X[4, 1], y[9] = np.nan, np.inf
    elif case == "inf_y_2d":
        y = np.column_stack([y, y])
        y[3, 1] = -np.inf
    elif case == "rows":
        y = y[:-1]
    elif case == "x_1d":
        X = X[:, 0]
    elif case == "y_3d":
        y = y.reshape(30, 1, 1)
    elif case == "empty":
        X, y = X[:0], y[:0]
    else:
        X = X[:, :0]
    fast = _error(lambda: olsnet.LinearRegression(fit_intercept=False).fit(X, y))
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    generic = _error(lambda: olsnet.LinearRegression(fit_intercept=False).fit(X32, y32))
    assert fast == generic
    if case.startswith(("nan", "inf")):
        assert "row" in fast[1] and "column" in fast[1]
    if case == "nan_both":
        assert fast[1].startswith("y column")


def test_float64_arrays_make_the_generic_design():
    X, Y = _design(8, n=20, q=3)
    for y in (Y[:, 0], Y, Y[:, :1]):
        fast = as_design(X, y)
        generic = as_design(X.tolist(), y.tolist())
        assert fast.feature_names == generic.feature_names == ("x1", "x2", "x3")
        assert fast.target_names == generic.target_names
        assert fast.y_ndim == generic.y_ndim and fast.Y.shape == generic.Y.shape
        np.testing.assert_array_equal(fast.X, generic.X)
        np.testing.assert_array_equal(fast.Y, generic.Y)
    assert as_design(X, Y).target_names == ("y0", "y1", "y2")
    assert as_design(X, Y[:, :1]).target_names == ("y",)
