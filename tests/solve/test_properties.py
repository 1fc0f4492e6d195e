"""Invariances of the exact fit (hypothesis): block splits and merge order, row order, weights."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import olsnet
from olsnet.solve import QRState, lstsq, solve_state

SETTINGS = settings(max_examples=25, deadline=None)


def _problem(seed, n, p, q=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.1, 10, p) + rng.uniform(-5, 5, p)
    Y = X @ rng.standard_normal((p, q)) + rng.standard_normal((n, q))
    return rng, X, Y


def _random_tree(states, rng):
    """Merge the states in a random binary tree."""
    states = list(states)
    while len(states) > 1:
        i = int(rng.integers(len(states) - 1))
        a, b = states.pop(i), states.pop(i)
        states.insert(i, a.merge(b) if rng.random() < 0.5 else b.merge(a))
    return states[0]


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(12, 80),
    p=st.integers(1, 5),
    q=st.integers(1, 2),
    pieces=st.integers(1, 7),
    icpt=st.booleans(),
)
def test_any_block_split_and_merge_tree_gives_the_same_fit(seed, n, p, q, pieces, icpt):
    rng, X, Y = _problem(seed, n, p, q)
    w = rng.uniform(0.2, 3.0, n)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(pieces - 1, n - 1), replace=False))
    states = [
        QRState.empty(p, q, icpt).fold(X[s], Y[s], w[s]) for s in np.split(np.arange(n), cuts)
    ]
    merged = solve_state(_random_tree(states, rng))
    ref = lstsq(X, Y, w, icpt, policy="exact")
    np.testing.assert_allclose(merged.params, ref.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(merged.ssr, ref.ssr, rtol=1e-9)
    np.testing.assert_allclose(merged.cov_unscaled, ref.cov_unscaled, rtol=1e-8, atol=1e-14)
    assert merged.nobs == n


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(8, 60), p=st.integers(1, 4))
def test_row_permutation_changes_nothing(seed, n, p):
    rng, X, Y = _problem(seed, n, p)
    perm = rng.permutation(n)
    a = olsnet.LinearRegression().fit(X, Y[:, 0]).result_
    b = olsnet.LinearRegression().fit(X[perm], Y[perm, 0]).result_
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-11)


@SETTINGS
@given(seed=st.integers(0, 2**31), n=st.integers(8, 40), p=st.integers(1, 4))
def test_integer_weight_equals_copies_and_zero_weight_equals_dropped_row(seed, n, p):
    rng, X, Y = _problem(seed, n, p)
    k = rng.integers(0, 4, n)
    k[: p + 2] = np.maximum(k[: p + 2], 1)  # keep the fit identified
    copies = np.repeat(np.arange(n), k)
    weighted = olsnet.LinearRegression().fit(X, Y[:, 0], sample_weight=k.astype(float))
    copied = olsnet.LinearRegression().fit(X[copies], Y[copies, 0])
    np.testing.assert_allclose(weighted.coef_, copied.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weighted.intercept_, copied.intercept_, rtol=1e-10, atol=1e-12)
    kept = k > 0
    dropped = olsnet.LinearRegression().fit(
        X[kept], Y[kept, 0], sample_weight=k[kept].astype(float)
    )
    np.testing.assert_allclose(
        weighted.result_.params, dropped.result_.params, rtol=1e-12, atol=1e-13
    )
    np.testing.assert_allclose(weighted.result_.bse, dropped.result_.bse, rtol=1e-11)
    assert weighted.result_.nobs == kept.sum()
    assert weighted.result_.df_resid == dropped.result_.df_resid


@SETTINGS
@given(seed=st.integers(0, 2**31), j=st.integers(0, 2), scale=st.floats(1e-3, 1e3))
def test_rescaling_a_column_rescales_its_coefficient_and_keeps_t(seed, j, scale):
    _, X, Y = _problem(seed, 50, 3)
    Xs = X.copy()
    Xs[:, j] *= scale
    a = olsnet.LinearRegression().fit(X, Y[:, 0]).result_
    b = olsnet.LinearRegression().fit(Xs, Y[:, 0]).result_
    np.testing.assert_allclose(b.params[1 + j] * scale, a.params[1 + j], rtol=1e-10)
    np.testing.assert_allclose(b.tvalues, a.tvalues, rtol=1e-9)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31), offset=st.sampled_from([0.0, 1e3, 1e5]), weighted=st.booleans())
def test_fast_path_agrees_with_exact_path(seed, offset, weighted):
    rng = np.random.default_rng(seed)
    n, p = 50_000, 8  # n * (p + 2) above EXACT_MAX_ELEMENTS: the fast path
    X = rng.standard_normal((n, p)) + offset
    Y = X @ rng.standard_normal((p, 1)) + 5.0 + rng.standard_normal((n, 1))
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    fast = lstsq(X, Y, w, True, policy="auto")
    exact = lstsq(X, Y, w, True, policy="exact")
    assert fast.method != "exact"
    np.testing.assert_allclose(fast.params[1:], exact.params[1:], rtol=1e-10)
    # the intercept is x̄ away from the data: its own condition grows with the offset
    np.testing.assert_allclose(fast.params[0], exact.params[0], rtol=1e-10 + 1e-14 * offset)
    np.testing.assert_allclose(fast.ssr, exact.ssr, rtol=1e-10)
    d = np.sqrt(np.diagonal(exact.cov_unscaled))
    np.testing.assert_allclose(np.sqrt(np.diagonal(fast.cov_unscaled)), d, rtol=1e-9)
