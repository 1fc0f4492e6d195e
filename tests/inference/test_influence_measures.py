"""Residuals and influence measures against statsmodels' OLSInfluence, R's lm.influence (weighted,
values committed with tests/inference/reference/make_r_reference.R) and exact arithmetic."""

from __future__ import annotations

import json
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from inference_helpers import olsnet_fit

from olsnet.datasets import load_longley
from olsnet.errors import DataError, NotAvailableWarning

REF = Path(__file__).parent / "reference"
NIST = Path(__file__).parents[1] / "data" / "nist"
R = json.loads((REF / "r_reference.json").read_text())


@pytest.fixture(scope="module")
def grunfeld():
    d = pd.read_csv(REF / "grunfeld.csv")
    return d[["value", "capital"]], d["invest"], d


def test_residuals_and_influence_match_statsmodels(grunfeld) -> None:
    X, y, _ = grunfeld
    res = olsnet_fit(X, y)
    ref = sm.OLS(y, sm.add_constant(X)).fit()
    ri = ref.get_influence()
    infl = res.get_influence()
    np.testing.assert_allclose(res.fittedvalues, ref.fittedvalues, rtol=1e-12)
    np.testing.assert_allclose(res.resid, ref.resid, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.resid_pearson, ref.resid_pearson, rtol=1e-9, atol=1e-12)
    for name in ("hat_matrix_diag", "resid_studentized_internal", "resid_studentized_external"):
        np.testing.assert_allclose(getattr(infl, name), getattr(ri, name), rtol=1e-9, err_msg=name)
    np.testing.assert_allclose(infl.dfbetas, ri.dfbetas, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(infl.cooks_distance[0], ri.cooks_distance[0], rtol=1e-9)
    np.testing.assert_allclose(infl.cooks_distance[1], ri.cooks_distance[1], rtol=1e-9)
    np.testing.assert_allclose(infl.dffits[0], ri.dffits[0], rtol=1e-9)
    assert infl.dffits[1] == pytest.approx(ri.dffits[1], rel=1e-12)
    frame = infl.summary_frame()
    np.testing.assert_allclose(frame["cooks_d"], ri.summary_frame()["cooks_d"], rtol=1e-9)


def test_weighted_influence_matches_r_lm_influence(grunfeld) -> None:
    X, y, _ = grunfeld
    ref = R["weighted"]
    w = np.asarray(ref["weights"])
    res = olsnet_fit(X, y, w)
    infl = res.get_influence()
    kept = np.asarray(ref["kept_rows"])
    assert np.isnan(infl.resid_studentized_internal[6])  # the zero-weight row: not observed
    np.testing.assert_allclose(infl.hat_matrix_diag[kept], ref["hat"], rtol=1e-9)
    np.testing.assert_allclose(infl.resid_studentized_internal[kept], ref["rstandard"], rtol=1e-9)
    np.testing.assert_allclose(infl.resid_studentized_external[kept], ref["rstudent"], rtol=1e-9)
    np.testing.assert_allclose(infl.cooks_distance[0][kept], ref["cooks"], rtol=1e-9)
    np.testing.assert_allclose(infl.dffits[0][kept], ref["dffits"], rtol=1e-9)
    np.testing.assert_allclose(infl.dfbetas[kept], ref["dfbetas"], rtol=1e-8, atol=1e-12)


def _exact_hat(A: np.ndarray) -> list[Fraction]:
    """diag(A (AᵀA)⁻¹ Aᵀ) in rational arithmetic (Gauss-Jordan on AᵀA)."""
    F = [[Fraction(float(v)) for v in row] for row in A]
    k = len(F[0])
    G = [[sum(r[i] * r[j] for r in F) for j in range(k)] for i in range(k)]
    inv = [[Fraction(int(i == j)) for j in range(k)] for i in range(k)]
    for c in range(k):
        piv = next(r for r in range(c, k) if G[r][c] != 0)
        G[c], G[piv], inv[c], inv[piv] = G[piv], G[c], inv[piv], inv[c]
        f = G[c][c]
        G[c] = [v / f for v in G[c]]
        inv[c] = [v / f for v in inv[c]]
        for r in range(k):
            if r != c and G[r][c] != 0:
                m = G[r][c]
                G[r] = [a - m * b for a, b in zip(G[r], G[c], strict=True)]
                inv[r] = [a - m * b for a, b in zip(inv[r], inv[c], strict=True)]
    return [sum(r[i] * inv[i][j] * r[j] for i in range(k) for j in range(k)) for r in F]


def test_longley_leverage_has_twelve_digits_against_exact_arithmetic() -> None:
    d = load_longley()
    res = olsnet_fit(np.asarray(d.X), np.asarray(d.y))
    exact = _exact_hat(np.column_stack([np.ones(16), d.X]))
    h = res.get_influence().hat_matrix_diag
    np.testing.assert_allclose(h, [float(v) for v in exact], rtol=1e-12)
    assert h.sum() == pytest.approx(res.rank, rel=1e-13)


def test_filip_leverages_sum_to_the_fits_rank() -> None:
    """The plot used to recompute leverage at tolerance 1e-7 (sum 9 for this rank-11 fit)."""
    from olsnet._nist import read_nist

    d = read_nist(NIST / "Filip.dat")
    res = olsnet_fit(d.X, d.y)
    assert res.rank == 11
    assert res.get_influence().hat_matrix_diag.sum() == pytest.approx(11.0, rel=1e-9)


def test_leverage_one_rows_are_nan_with_a_warning_naming_them() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    X = np.column_stack([X, np.zeros(20)])
    X[5, 2] = 1.0  # a dummy with one row: that row has leverage 1
    y = X @ [1.0, 2.0, 3.0] + rng.normal(size=20)
    res = olsnet_fit(X, y)
    with pytest.warns(NotAvailableWarning, match="rows 5"):
        infl = res.get_influence()
    assert infl.hat_matrix_diag[5] == 1.0
    for a in (infl.resid_studentized_internal, infl.resid_studentized_external):
        assert np.isnan(a[5]) and np.isfinite(np.delete(a, 5)).all()
    assert np.isnan(infl.cooks_distance[0][5]) and np.isnan(infl.dffits[0][5])
    assert np.isnan(infl.dfbetas[5]).all()


def test_influence_needs_the_rows(grunfeld) -> None:
    from olsnet.io._result_state import result_from_state, result_state

    X, y, _ = grunfeld
    loaded = result_from_state(*result_state(olsnet_fit(X, y)))
    with pytest.raises(DataError, match="with_data"):
        loaded.get_influence()
    with pytest.raises(DataError, match="with_data"):
        _ = loaded.resid
    back = loaded.with_data(np.asarray(X), np.asarray(y))
    np.testing.assert_allclose(
        back.get_influence().hat_matrix_diag,
        olsnet_fit(X, y).get_influence().hat_matrix_diag,
        rtol=1e-14,
    )
    with pytest.raises(DataError, match="not the fit's"):
        loaded.with_data(np.asarray(X), np.asarray(y) + 1.0)


def test_multi_output_influence_has_a_column_per_output(grunfeld) -> None:
    X, y, d = grunfeld
    Y = pd.DataFrame({"invest": y, "twice": 2 * y + d["value"]})
    res = olsnet_fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        infl = res.get_influence()
    assert infl.resid_studentized_internal.shape == (len(y), 2)
    assert infl.dfbetas.shape == (len(y), 3, 2)
    single = olsnet_fit(X, y).get_influence()
    np.testing.assert_allclose(infl.dfbetas[:, :, 0], single.dfbetas, rtol=1e-10, atol=1e-15)
