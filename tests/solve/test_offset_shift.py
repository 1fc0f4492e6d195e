"""The checked Gram path shifts its one pass by the first rows' means when columns have offsets
(before: an unshifted pass, found ill-conditioned, then a second, shifted pass over X)."""

from __future__ import annotations

import numpy as np
import pytest
from test_fast_path import _exact_reference

import olsnet.solve._policy as policy
from olsnet import LinearRegression
from olsnet.errors import DataError


def _counting(monkeypatch):
    calls = []
    real = policy.gram_state

    def gram_state(*args, **kwargs):
        calls.append(kwargs.get("shift"))
        return real(*args, **kwargs)

    monkeypatch.setattr(policy, "gram_state", gram_state)
    return calls


def test_offset_columns_take_one_shifted_pass(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    n, p = 40_000, 6  # n·k above the exact path's limit: the checked Gram path
    X = rng.standard_normal((n, p)) * [1.0, 2.0, 0.5, 1.0, 3.0, 1.0] + [50.0, -80.0, 5.0, 0, 0, 9]
    y = 3.0 + X @ rng.standard_normal(p) + rng.standard_normal(n)
    calls = _counting(monkeypatch)
    fit = LinearRegression().fit(X, y)
    assert len(calls) == 1 and calls[0] is not None  # one pass, shifted
    np.testing.assert_allclose(calls[0][:p], X[: policy.OFFSET_HEAD_ROWS].mean(axis=0))
    sub = slice(0, 300)  # the exact reference on a subset: the same path, fewer rows
    calls.clear()
    small = LinearRegression(policy="fast").fit(X[sub], y[sub])
    assert calls and calls[0] is not None  # the Gram path, shifted (policy "fast")
    want = _exact_reference(X[sub], y[sub, None], None, True)[0][:, 0]
    got = np.concatenate([[small.intercept_], small.coef_])
    np.testing.assert_allclose(got, want, rtol=1e-11)
    ref = LinearRegression(policy="exact").fit(X, y)
    np.testing.assert_allclose(fit.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(fit.result_.bse, ref.result_.bse, rtol=1e-9)


def test_centred_columns_keep_the_unshifted_pass(monkeypatch) -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40_000, 6))
    y = X @ rng.standard_normal(6) + rng.standard_normal(40_000)
    calls = _counting(monkeypatch)
    LinearRegression().fit(X, y)
    assert calls == [None]


def test_sorted_offsets_still_take_the_exact_means_when_the_head_misleads(monkeypatch) -> None:
    """Rows sorted so the first rows' means are far from the whole's: the shifted pass is not
    clean and the second pass shifts by the exact means, as before."""
    rng = np.random.default_rng(3)
    n = 40_000
    x = np.sort(rng.uniform(0.0, 1e4, n)) + 1e6
    X = np.column_stack([x, rng.standard_normal(n)])
    y = 2.0 + 1e-3 * x + rng.standard_normal(n)
    calls = _counting(monkeypatch)
    fit = LinearRegression().fit(X, y)
    ref = LinearRegression(policy="exact").fit(X, y)
    np.testing.assert_allclose(fit.coef_, ref.coef_, rtol=1e-10)
    assert calls[0] is not None
    if len(calls) > 1:
        np.testing.assert_allclose(calls[1][:2], X.mean(axis=0), rtol=1e-12)


def test_nan_in_the_first_rows_is_still_named() -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40_000, 3)) + 100.0
    X[7, 1] = np.nan
    y = rng.standard_normal(40_000)
    with pytest.raises(DataError, match=r"'x2' \(index 1\) has NaN at row 7"):
        LinearRegression().fit(X, y)
