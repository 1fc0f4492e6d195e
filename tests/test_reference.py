"""Closed-form references: reduced-rank regression and ridge regression."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import olsnet
from olsnet.errors import NotFittedError, OptionError, RankError


def data(seed=0, n=120, p=5, q=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, size=p) + rng.normal(size=p)
    Y = X @ rng.normal(size=(p, q)) + rng.normal(size=(n, q)) + 3.0
    return X, Y


def test_full_rank_rrr_is_ols():
    from sklearn.linear_model import LinearRegression

    X, Y = data()
    rrr = olsnet.ReducedRankRegression(rank=4).fit(X, Y)
    sk = LinearRegression().fit(X, Y)
    np.testing.assert_allclose(rrr.coef_, sk.coef_, rtol=1e-10)
    np.testing.assert_allclose(rrr.intercept_, sk.intercept_, rtol=1e-10)
    assert rrr.score(X, Y) == pytest.approx(sk.score(X, Y), rel=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_rrr_is_the_best_rank_k_map(rank):
    """Against direct numerical minimisation over factors B = A C (p x k times k x q)."""
    X, Y = data(seed=rank)
    n, p = X.shape
    q = Y.shape[1]
    rrr = olsnet.ReducedRankRegression(rank=rank).fit(X, Y)
    assert np.linalg.matrix_rank(rrr.coef_, tol=1e-10) == rank
    ssr = ((Y - rrr.predict(X)) ** 2).sum()
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)

    def f(theta):
        A, C = theta[: p * rank].reshape(p, rank), theta[p * rank :].reshape(rank, q)
        R = Yc - Xc @ A @ C
        G = -2 * Xc.T @ R  # (p, q)
        return (R * R).sum(), np.r_[(G @ C.T).ravel(), (A.T @ G).ravel()]

    best = min(
        (
            minimize(
                f,
                np.random.default_rng(s).normal(size=rank * (p + q)),
                jac=True,
                method="BFGS",
                options={"gtol": 1e-10},
            )
            for s in range(3)
        ),
        key=lambda r: r.fun,
    )
    assert ssr == pytest.approx(best.fun, rel=1e-8)
    # the loss above OLS is the tail of the singular values of the OLS fitted values
    ols_ssr = np.linalg.lstsq(np.c_[np.ones(n), X], Y, rcond=None)[1].sum()
    assert ssr - ols_ssr == pytest.approx((rrr.singular_values_[rank:] ** 2).sum(), rel=1e-8)


def test_rrr_weights_equal_repeated_rows():
    X, Y = data(seed=7)
    k = np.random.default_rng(0).integers(1, 4, size=len(X))
    a = olsnet.ReducedRankRegression(rank=2).fit(X, Y, sample_weight=k)
    b = olsnet.ReducedRankRegression(rank=2).fit(np.repeat(X, k, 0), np.repeat(Y, k, 0))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-10)


def test_rrr_bad_rank_and_unfitted():
    X, Y = data()
    with pytest.raises(RankError, match="exceeds min"):
        olsnet.ReducedRankRegression(rank=5).fit(X, Y)
    with pytest.raises(OptionError, match="positive integer"):
        olsnet.ReducedRankRegression(rank=0).fit(X, Y)
    with pytest.raises(NotFittedError):
        olsnet.ReducedRankRegression(rank=1).predict(X)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.3, 25.0])
def test_ridge_matches_sklearn(alpha, fit_intercept):
    from sklearn.linear_model import Ridge

    X, Y = data(seed=3)
    w = np.random.default_rng(1).uniform(0.2, 2.0, size=len(X))
    for y in (Y[:, 0], Y):
        ours = olsnet.RidgeRegression(alpha=alpha, fit_intercept=fit_intercept).fit(X, y, w)
        sk = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(X, y, w)
        np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.intercept_, sk.intercept_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-9)


def test_ridge_bad_alpha():
    X, Y = data()
    with pytest.raises(OptionError, match="alpha"):
        olsnet.RidgeRegression(alpha=-1.0).fit(X, Y)
