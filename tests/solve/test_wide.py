"""Wide designs (p comparable to or larger than n): R's in-order aliasing rule, decided on the
data in one pass, against an independent reference (ranks of column prefixes by SVD)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import olsnet
from olsnet.errors import AliasedColumnWarning


def _aliased_by_prefix_ranks(A: np.ndarray) -> np.ndarray:
    """Column j is aliased iff adding it to the kept columns before it does not raise the rank."""
    kept: list[int] = []
    aliased = np.zeros(A.shape[1], dtype=bool)
    for j in range(A.shape[1]):
        if np.linalg.matrix_rank(A[:, [*kept, j]]) == len(kept) + 1:
            kept.append(j)
        else:
            aliased[j] = True
    return aliased


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_wide_design_rank_and_aliased_columns_follow_the_in_order_rule(fit_intercept):
    rng = np.random.default_rng(3)
    n, p = 40, 90
    X = rng.standard_normal((n, p))
    X[:, 5] = X[:, 1] - 2.0 * X[:, 2]  # aliased early, before the rows run out
    X[:, 7] = 3.0  # a constant: aliased with the intercept
    y = X[:, :4] @ [1.0, -1.0, 2.0, 0.5] + rng.standard_normal(n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = olsnet.LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    A = np.column_stack([np.ones(n), X]) if fit_intercept else X
    expected = _aliased_by_prefix_ranks(A)
    got = np.isnan(model.result_.params)
    np.testing.assert_array_equal(got, expected)
    assert model.rank_ == n == int((~expected).sum())
    assert sum(issubclass(w.category, AliasedColumnWarning) for w in caught) == expected.sum()
    # the kept columns reproduce y exactly (n kept columns, n rows)
    kept = np.flatnonzero(~expected)
    np.testing.assert_allclose(A[:, kept] @ model.result_.params[kept], y, rtol=0, atol=1e-9)


def test_wide_1000_columns_in_seconds():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 1000))
    y = X[:, :3].sum(axis=1) + rng.standard_normal(300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AliasedColumnWarning)
        model = olsnet.LinearRegression().fit(X, y)
    assert model.rank_ == 300
    assert np.isnan(model.coef_[299:]).all() and not np.isnan(model.coef_[:299]).any()
