"""The exact path's fast branch for small, well-conditioned fits (issue 14 item 1) and the lazy
pieces of a result: exact rational references, the cases it must decline, no global state.

References are exact: the normal equations of the data (each double read as the rational it is)
solved in ``fractions.Fraction`` arithmetic, so the only error measured is olsnet's.
"""

from __future__ import annotations

import threading
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np
import pytest

import olsnet
from olsnet._nist import NIST_NAMES, lre, read_nist
from olsnet.errors import AliasedColumnWarning, DataError
from olsnet.solve import _exact, exact_lstsq, lstsq
from olsnet.solve._exact import _seminormal_lstsq


def _exact_reference(X, Y, w, fit_intercept):
    """(params (k, q), (AᵀWA)⁻¹ (k, k), ssr (q,)) in exact rational arithmetic."""
    n = X.shape[0]
    A = [([Fraction(1)] if fit_intercept else []) + [Fraction(float(v)) for v in row] for row in X]
    W = [Fraction(1)] * n if w is None else [Fraction(float(v)) for v in w]
    Ys = [[Fraction(float(v)) for v in row] for row in Y]
    k, q = len(A[0]), Y.shape[1]
    G = [[sum(W[r] * A[r][i] * A[r][j] for r in range(n)) for j in range(k)] for i in range(k)]
    # Gauss-Jordan on [G | I]: the exact inverse
    M = [G[i] + [Fraction(int(i == j)) for j in range(k)] for i in range(k)]
    for c in range(k):
        piv = next(r for r in range(c, k) if M[r][c] != 0)
        M[c], M[piv] = M[piv], M[c]
        inv = 1 / M[c][c]
        M[c] = [v * inv for v in M[c]]
        for r in range(k):
            if r != c and M[r][c] != 0:
                f = M[r][c]
                M[r] = [a - f * b for a, b in zip(M[r], M[c], strict=True)]
    Ginv = [row[k:] for row in M]
    rhs = [[sum(W[r] * A[r][i] * Ys[r][j] for r in range(n)) for j in range(q)] for i in range(k)]
    beta = [[sum(Ginv[i][m] * rhs[m][j] for m in range(k)) for j in range(q)] for i in range(k)]
    ssr = []
    for j in range(q):
        total = Fraction(0)
        for r in range(n):
            e = Ys[r][j] - sum(A[r][i] * beta[i][j] for i in range(k))
            total += W[r] * e * e
        ssr.append(total)
    to = np.vectorize(float)
    return to(np.array(beta, dtype=object)), to(np.array(Ginv, dtype=object)), to(np.array(ssr))


def _rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def _design(seed, n=40, p=3, q=1, offsets=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.01, 100.0, p)
    if offsets:
        X += rng.uniform(-50.0, 50.0, p)
    Y = X @ rng.standard_normal((p, q)) + 3.0 + rng.standard_normal((n, q))
    return X, Y


@pytest.mark.parametrize(
    ("seed", "fit_intercept", "weighted", "q"),
    [(0, True, False, 1), (1, False, False, 1), (2, True, True, 1), (3, True, False, 2)],
)
def test_fast_path_matches_exact_rationals(seed, fit_intercept, weighted, q):
    X, Y = _design(seed, q=q)
    w = np.random.default_rng(seed + 10).uniform(0.2, 5.0, X.shape[0]) if weighted else None
    sol = _seminormal_lstsq(X, Y, w, fit_intercept, None, 1e-10)
    assert sol is not None  # well-conditioned, full rank: the fast branch takes it
    beta, cov, ssr = _exact_reference(X, Y, w, fit_intercept)
    assert _rel(sol.params, beta) <= 1e-13
    assert _rel(sol.cov_unscaled, cov) <= 1e-13
    assert _rel(sol.ssr, ssr) <= 1e-13
    # and the public fit goes through it with the same numbers
    model = olsnet.LinearRegression(fit_intercept=fit_intercept).fit(
        X, Y if q > 1 else Y[:, 0], sample_weight=w
    )
    assert model.result_.method in ("exact", "qr")  # qr: kept unrefined by the policy
    np.testing.assert_allclose(model.result_.solution.params, beta, rtol=1e-13, atol=0)


@pytest.mark.parametrize(("seed", "fit_intercept"), [(20, True), (21, False), (22, True)])
def test_unrefined_qr_kept_by_the_policy_matches_exact_rationals(seed, fit_intercept):
    """policy="auto" keeps QR's answer unrefined when κ ≤ GRAM_CLEAN_COND and TSS/SSR ≤
    SSR_CANCELLATION (the normal equations' policy); it is still right to 1e-13."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 3)) + rng.uniform(-3, 3, 3)
    Y = (X @ rng.standard_normal(3) + 1.0 + 2.0 * rng.standard_normal(60))[:, None]
    sol = lstsq(X, Y, None, fit_intercept)
    assert sol.method == "qr"
    beta, cov, ssr = _exact_reference(X, Y, None, fit_intercept)
    assert _rel(sol.params, beta) <= 1e-13
    assert _rel(sol.cov_unscaled, cov) <= 1e-13
    assert _rel(sol.ssr, ssr) <= 1e-13
    # policy="exact" refines the same fit
    assert lstsq(X, Y, None, fit_intercept, policy="exact").method == "exact"


def test_fast_path_agrees_with_the_full_exact_path(monkeypatch):
    X, Y = _design(7, n=500, p=6, q=2)
    fast = exact_lstsq(X, Y, None, True)
    monkeypatch.setattr(_exact, "fast_path_applies", lambda *a: False)
    full = exact_lstsq(X, Y, None, True)
    np.testing.assert_allclose(fast.params, full.params, rtol=1e-13, atol=0)
    np.testing.assert_allclose(fast.cov_unscaled, full.cov_unscaled, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fast.ssr, full.ssr, rtol=1e-13)
    np.testing.assert_allclose(fast.condition_number, full.condition_number, rtol=1e-10)


def test_fast_path_declines_ill_conditioned_aliased_extreme_and_nonfinite():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 3))
    y = X.sum(axis=1)[:, None] + rng.standard_normal((200, 1))
    near = X.copy()
    near[:, 2] = X[:, 0] + 1e-4 * rng.standard_normal(200)  # κ of the scaled design ~1e4
    assert _seminormal_lstsq(near, y, None, True, None, 1e-10) is None
    aliased = np.column_stack([X, X[:, 0] - X[:, 1]])
    assert _seminormal_lstsq(aliased, y, None, True, None, 1e-10) is None
    assert _seminormal_lstsq(X * 1e-250, y, None, True, None, 1e-10) is None
    bad = X.copy()
    bad[17, 1] = np.nan
    assert _seminormal_lstsq(bad, y, None, True, None, 1e-10) is None
    # the policy then takes the full path: the NaN is named, the scaled fit is right
    with pytest.raises(DataError, match=r"x2.*row 17"):
        lstsq(bad, y, None, True, ("x1", "x2", "x3"))
    scaled = lstsq(X * 1e-250, y, None, True)
    ref = lstsq(X, y, None, True)
    np.testing.assert_allclose(scaled.params[1:] * 1e-250, ref.params[1:], rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AliasedColumnWarning)
        sol = lstsq(aliased, y, None, True)
    assert sol.rank == 4 and sol.aliased.tolist() == [False, False, False, False, True]


@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_floors_on_the_fast_path_where_it_accepts(nist_dir, name):
    """Every NIST design the fast branch accepts meets the floor from it directly (the others
    are declined and fitted by the full path, tests/solve/test_nist.py)."""
    case = read_nist(nist_dir / f"{name}.dat")
    sol = _seminormal_lstsq(case.X, case.y[:, None], None, case.fit_intercept, None, 1e-10)
    if sol is None:
        assert name not in ("Norris", "NoInt1", "NoInt2"), f"{name} should be well-conditioned"
        return
    params = sol.params[:, 0]
    scale = sol.ssr[0] / sol.df_resid
    bse = np.sqrt(scale * np.diagonal(sol.cov_unscaled))
    worst = min(
        [lre(float(b), c) for b, c in zip(params, case.params, strict=True)]
        + [lre(float(s), c) for s, c in zip(bse, case.bse, strict=True)]
        + [lre(float(np.sqrt(scale)), case.resid_sd)]
    )
    assert worst >= 12.0, f"{name}: LRE {worst:.2f} on the fast path"


def test_lazy_covariance_is_statsmodels_scale_times_normalized_cov():
    sm = pytest.importorskip("statsmodels.api")
    X, Y = _design(11, n=60, p=4)
    res = olsnet.LinearRegression().fit(X, Y[:, 0]).result_
    ref = sm.OLS(Y[:, 0], sm.add_constant(X)).fit()
    np.testing.assert_allclose(res.cov_params(), ref.cov_params(), rtol=1e-11)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-11)
    np.testing.assert_allclose(res.condition_number, ref.condition_number, rtol=1e-9)
    assert not res.covariance.flags.writeable and res.covariance.shape == (1, 5, 5)


def test_wide_fit_allocates_no_k_squared_array_until_read():
    rng = np.random.default_rng(2)
    n, p = 60, 3_000
    X = rng.standard_normal((n, p))
    y = X[:, :3].sum(axis=1) + rng.standard_normal(n)
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AliasedColumnWarning)
        model = olsnet.LinearRegression().fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    k = p + 1
    assert peak < 0.5 * k * k * 8  # a (k, k) float64 matrix would be 72 MB
    assert model.rank_ == n and len(model.result_.aliased) == k - n
    cov = model.result_.cov_params()  # made now: NaN for aliased columns
    assert cov.shape == (k, k) and np.isnan(cov[-1]).all()


def test_singular_values_follow_each_refit():
    X1, Y1 = _design(3, n=50, p=3)
    X2 = 10.0 * X1[:, ::-1]
    model = olsnet.LinearRegression().fit(X1, Y1[:, 0])
    first = model.singular_.copy()
    model.fit(X2, Y1[:, 0])
    Xc = X2 - X2.mean(axis=0)
    np.testing.assert_allclose(model.singular_, np.linalg.svd(Xc, compute_uv=False), rtol=1e-12)
    assert not np.allclose(model.singular_, first)
    assert not hasattr(olsnet.LinearRegression(), "singular_")


def test_small_fits_from_many_threads_leave_no_global_state():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X, Y = _design(4, n=100, p=3)
    y = Y[:, 0]
    expected = olsnet.LinearRegression().fit(X, y).result_
    shared = olsnet.LinearRegression().fit(X, y).result_  # its lazy fields read concurrently
    blas_before = threadpoolctl.threadpool_info()
    filters_before = list(warnings.filters)
    barrier = threading.Barrier(8)

    def work(_):
        barrier.wait()
        out = []
        for _ in range(25):
            res = olsnet.LinearRegression().fit(X, y).result_
            out.append((res.bse.copy(), shared.bse.copy(), shared.condition_number))
        return out

    with ThreadPoolExecutor(8) as pool:
        runs = [r for chunk in pool.map(work, range(8)) for r in chunk]
    for bse, shared_bse, cond in runs:
        np.testing.assert_array_equal(bse, expected.bse)
        np.testing.assert_array_equal(shared_bse, expected.bse)
        assert cond == expected.condition_number
    assert threadpoolctl.threadpool_info() == blas_before
    assert list(warnings.filters) == filters_before
