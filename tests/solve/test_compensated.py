"""Residuals by error-free transformations against exact rational arithmetic."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from olsnet.solve._compensated import residual_ab, residual_atr


def _cancelling(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A x nearly equal to b - r: the residual is ~1e-12 of the terms (heavy cancellation)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((37, 5)) * 10.0 ** rng.integers(-3, 4, size=5)
    x = rng.standard_normal((5, 2))
    r = rng.standard_normal((37, 2)) * 1e-3
    b = A @ x + r + rng.standard_normal((37, 2)) * 1e-12
    return A, x, r, b


def _exact(M: np.ndarray) -> list[list[Fraction]]:
    return [[Fraction(float(v)) for v in row] for row in M]


def test_residual_ab_is_the_rounded_exact_value():
    for seed in range(5):
        A, x, r, b = _cancelling(seed)
        got = residual_ab(b, r, A, x)
        Ae, xe, re, be = _exact(A), _exact(x), _exact(r), _exact(b)
        for i in range(A.shape[0]):
            for j in range(x.shape[1]):
                exact = be[i][j] - re[i][j] - sum(Ae[i][t] * xe[t][j] for t in range(A.shape[1]))
                assert abs(Fraction(float(got[i, j])) - exact) <= abs(exact) * Fraction(1, 2**50)
        plain = b - r - A @ x  # double arithmetic alone loses most digits here
        assert np.max(np.abs(plain - got) / np.abs(got)) > 1e-8


def test_residual_atr_is_the_rounded_exact_value():
    for seed in range(5):
        A, _, r, _ = _cancelling(seed)
        c = A.T @ r + np.random.default_rng(seed).standard_normal((5, 2)) * 1e-13
        got = residual_atr(c, A, r)
        Ae, re, ce = _exact(A), _exact(r), _exact(c)
        for t in range(A.shape[1]):
            for j in range(r.shape[1]):
                exact = ce[t][j] - sum(Ae[i][t] * re[i][j] for i in range(A.shape[0]))
                assert abs(Fraction(float(got[t, j])) - exact) <= abs(exact) * Fraction(1, 2**50)
