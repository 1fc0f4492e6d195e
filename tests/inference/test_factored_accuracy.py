"""Derived statistics keep 12 digits on NIST's ill-conditioned designs (issue 15, fault 4).

References are exact: the design's floats as ``fractions.Fraction``, the normal equations
solved by Gauss-Jordan in rationals, the leverages, HC meats and covariances formed from them
(only the final square root is a float). olsnet evaluates every statistic in the solver's
factored, centred basis (``inference._rows``): prediction SEs under nonrobust and HC0-HC3,
t and F (Wald) tests under each, and the leverages, each to rel=1e-12 (the explicit
covariance lost 7.5 digits on Longley; the one-pass HC meats 11.9).

Wampler1 and Wampler2 are exact fits (their exact SEs are 0 or at rounding level of the
data): there the SEs must be 0 to 12 digits of the prediction itself.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import olsnet_fit

from olsnet._nist import read_nist

NIST = Path(__file__).parents[1] / "data" / "nist"
KINDS = ("nonrobust", "HC0", "HC1", "HC2", "HC3")


def _matmul(A, B):
    return [[sum(a * b for a, b in zip(row, col, strict=True)) for col in zip(*B, strict=True)]
            for row in A]  # fmt: skip


def _inverse(G):
    k = len(G)
    G = [row[:] for row in G]
    B = [[Fraction(int(i == j)) for j in range(k)] for i in range(k)]
    for c in range(k):
        piv = next(r for r in range(c, k) if G[r][c] != 0)
        G[c], G[piv], B[c], B[piv] = G[piv], G[c], B[piv], B[c]
        f = G[c][c]
        G[c], B[c] = [v / f for v in G[c]], [v / f for v in B[c]]
        for r in range(k):
            if r != c and G[r][c] != 0:
                m = G[r][c]
                G[r] = [a - m * b for a, b in zip(G[r], G[c], strict=True)]
                B[r] = [a - m * b for a, b in zip(B[r], B[c], strict=True)]
    return B


class Exact:
    """OLS of ``y`` on ``[1 X]`` in rationals: coefficients, leverages, every covariance."""

    def __init__(self, X: np.ndarray, y: np.ndarray) -> None:
        A = [[Fraction(1)] + [Fraction(float(v)) for v in row] for row in X]
        Y = [Fraction(float(v)) for v in y]
        n, k = len(A), len(A[0])
        At = [list(c) for c in zip(*A, strict=True)]
        B = _inverse(_matmul(At, A))
        Aty = [sum(a * v for a, v in zip(col, Y, strict=True)) for col in At]
        self.beta = [sum(b * v for b, v in zip(row, Aty, strict=True)) for row in B]
        e = [Y[r] - sum(a * b for a, b in zip(A[r], self.beta, strict=True)) for r in range(n)]
        BA = _matmul(B, At)  # (k, n): column r is B a_r
        h = [sum(A[r][i] * BA[i][r] for i in range(k)) for r in range(n)]
        self.leverage = h
        s2 = sum(v * v for v in e) / (n - k)
        omega = {
            "HC0": [Fraction(1)] * n,
            "HC1": [Fraction(n, n - k)] * n,
            "HC2": [1 / (1 - h[r]) for r in range(n)],
            "HC3": [1 / (1 - h[r]) ** 2 for r in range(n)],
        }
        self.cov = {"nonrobust": [[s2 * v for v in row] for row in B]}
        for kind, om in omega.items():
            # B Aᵀ diag(ω e²) A B
            scaled = [[BA[i][r] * om[r] * e[r] ** 2 for r in range(n)] for i in range(k)]
            self.cov[kind] = _matmul(scaled, [list(c) for c in zip(*BA, strict=True)])

    def quad(self, kind: str, u, v=None):
        V, v = self.cov[kind], u if v is None else v
        return sum(u[i] * V[i][j] * v[j] for i in range(len(u)) for j in range(len(v)))


@pytest.fixture(scope="module", params=["Longley", "Wampler3", "Wampler4", "Wampler5"])
def case(request):
    data = read_nist(NIST / f"{request.param}.dat")
    return request.param, data, Exact(data.X, data.y), olsnet_fit(data.X, data.y)


def _rows(X: np.ndarray) -> np.ndarray:
    """Two of the data's rows, and a row between two others (not a data row)."""
    n = len(X)
    return np.vstack([X[0], X[n // 2], (X[1] + X[n - 1]) / 2.0])


@pytest.mark.parametrize("kind", KINDS)
def test_prediction_se_twelve_digits(case, kind) -> None:
    name, data, exact, res = case
    x0 = _rows(data.X)
    got = res.with_cov(kind).get_prediction(x0).se_mean
    for i, row in enumerate(x0):
        z = [Fraction(1)] + [Fraction(float(v)) for v in row]
        assert got[i] == pytest.approx(float(exact.quad(kind, z)) ** 0.5, rel=1e-12), (name, i)


@pytest.mark.parametrize("kind", KINDS)
def test_wald_tests_twelve_digits(case, kind) -> None:
    name, _data, exact, res = case
    res = res.with_cov(kind)
    k = len(exact.beta)
    names = res.param_names
    L1 = [Fraction(0)] * k
    L1[1], L1[2] = Fraction(1), Fraction(-1)
    t = res.t_test(f"{names[1]} = {names[2]}")
    sd = float(exact.quad(kind, L1)) ** 0.5
    assert t.sd[0] == pytest.approx(sd, rel=1e-12), name
    lb = sum(a * b for a, b in zip(L1, exact.beta, strict=True))
    assert t.tvalue[0] == pytest.approx(float(lb) / sd, rel=1e-11), name
    # F of two restrictions: (Lb)ᵀ (L V Lᵀ)⁻¹ (Lb) / 2
    L2 = [Fraction(0)] * k
    L2[3] = Fraction(1)
    W = [[exact.quad(kind, a, b) for b in (L1, L2)] for a in (L1, L2)]
    Winv = _inverse(W)
    d = [lb, sum(a * b for a, b in zip(L2, exact.beta, strict=True))]
    F = sum(d[i] * Winv[i][j] * d[j] for i in range(2) for j in range(2)) / 2
    f = res.f_test(f"{names[1]} = {names[2]}, {names[3]} = 0")
    assert float(np.squeeze(f.fvalue)) == pytest.approx(float(F), rel=1e-11), name


def test_leverage_twelve_digits(case) -> None:
    _name, _data, exact, res = case
    got = res.get_influence().hat_matrix_diag
    np.testing.assert_allclose(got, [float(h) for h in exact.leverage], rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["Wampler1", "Wampler2"])
@pytest.mark.parametrize("kind", KINDS)
def test_exact_fits_give_se_zero_to_twelve_digits(name, kind) -> None:
    data = read_nist(NIST / f"{name}.dat")
    exact = Exact(data.X, data.y)
    x0 = _rows(data.X)
    pred = olsnet_fit(data.X, data.y).with_cov(kind).get_prediction(x0)
    for i, row in enumerate(x0):
        z = [Fraction(1)] + [Fraction(float(v)) for v in row]
        ref = float(exact.quad(kind, z)) ** 0.5
        assert abs(pred.se_mean[i] - ref) <= 1e-12 * abs(pred.predicted_mean[i]), (name, i)
