"""compare and inference_at against statsmodels and the reduced-rank closed form."""

from __future__ import annotations

import numpy as np
import pytest

import olsnet


def test_compare_table_lists_ols_and_network(diabetes, diabetes_ols):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, hidden=(3,), seed=0).fit(X, y)
    table = olsnet.compare(net, X, y)
    assert table.header == ("coefficient", "OLS", "network", "abs diff", "rel diff")
    ref = diabetes_ols[0]
    A = net.collapse()
    for row, r, m in zip(table.rows, ref, np.r_[A.bias, A.weight[0]], strict=True):
        assert row[1] == pytest.approx(r, rel=1e-12)
        assert row[2] == m
        assert row[3] == abs(row[2] - row[1])
        assert row[4] == pytest.approx(row[3] / abs(row[1]), rel=1e-12)
        assert row[4] <= 1e-7
    assert table.rows[0][0] == "Intercept"
    assert "OLS" in table.as_text() and "| Intercept" in table.as_markdown()
    assert any("relative loss gap" in n for n in table.notes)
    frame = table.to_frame()
    assert list(frame.columns)[-1] == "rel diff"


def test_compare_uses_reduced_rank_reference_for_a_bottleneck():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 6))
    Y = X @ rng.normal(size=(6, 4)) + rng.normal(size=(300, 4))
    net = olsnet.LinearNetwork(6, 4, hidden=(8, 2), seed=0).fit(X, Y)
    table = olsnet.compare(net, X, Y)
    assert table.header[2] == "RRR (rank 2)"
    rrr = olsnet.ReducedRankRegression(rank=2).fit(X, Y)
    first = [row for row in table.rows if row[0] == "y0"]
    np.testing.assert_allclose([row[2] for row in first[1:]], rrr.coef_[0], rtol=1e-12)
    assert max(row[-1] for row in table.rows) <= 1e-6


def test_inference_at_matches_statsmodels_at_the_optimum(diabetes):
    import statsmodels.api as sm

    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0).fit(X, y)
    res = olsnet.inference_at(net, X, y)
    sm_res = sm.OLS(y, sm.add_constant(X)).fit()
    np.testing.assert_allclose(res.params, sm_res.params, rtol=1e-9)
    np.testing.assert_allclose(res.bse, sm_res.bse, rtol=1e-9)
    assert res.rsquared == pytest.approx(sm_res.rsquared, rel=1e-12)
    assert abs(res.optimality.relative_gap) <= 1e-12


def test_inference_at_states_the_gap_of_a_perturbed_map(diabetes):
    X, y = diabetes
    lr = olsnet.LinearRegression().fit(X, y)
    A = olsnet.Affine(lr.coef_[None, :] * 1.01, [lr.intercept_])
    res = olsnet.inference_at(A, X, y)
    assert res.optimality.relative_gap > 1e-6
    r = y - A.predict(X)
    assert res.ssr == pytest.approx(r @ r, rel=1e-12)
