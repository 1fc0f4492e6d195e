"""Residuals in twice double precision from double arithmetic alone (error-free transformations).

The exact path's refinement needs ``b - r - A x`` and ``c - Aᵀ r`` to more than double
precision. Where ``numpy.longdouble`` is wider than double (x86-64: 64-bit significand; Linux
aarch64: IEEE quad) it is used directly. Where it is plain double (Windows, macOS on Apple
silicon) these routines take over: every product is split exactly into ``p + e`` (Dekker's
TwoProduct with Veltkamp's split) and every sum into ``s + e`` (Knuth's TwoSum), the error
terms are summed separately, and the result is as accurate as if computed in twice the working
precision and then rounded (Ogita, Rump & Oishi 2005, "Accurate sum and dot product", SIAM J.
Sci. Comput. 26(6)).
"""

from __future__ import annotations

import numpy as np

__all__ = ["residual_ab", "residual_atr"]

_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's constant for float64


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s = fl(a + b) and e with a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = fl(a b) and e with a b = p + e exactly (Dekker; no FMA needed)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def residual_ab(b: np.ndarray, r: np.ndarray, A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``b - r - A x`` (n, m) for A (n, k), x (k, m), accurate as in twice double precision."""
    s, err = _two_sum(b, -r)
    for j in range(A.shape[1]):
        p, pe = _two_prod(A[:, j : j + 1], x[j : j + 1, :])
        s, e = _two_sum(s, -p)
        err += e - pe
    return s + err


def _sum_rows(values: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise sum over axis 0 by TwoSum: (sum, accumulated error terms), each (m,)."""
    while values.shape[0] > 1:
        half = values.shape[0] // 2
        s, e = _two_sum(values[:half], values[half : 2 * half])
        err = err + e.sum(axis=0)
        values = np.concatenate([s, values[2 * half :]]) if values.shape[0] % 2 else s
    return values[0], err


def residual_atr(c: np.ndarray, A: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``c - Aᵀ r`` (k, m) for A (n, k), r (n, m), accurate as in twice double precision."""
    out = np.empty_like(c, dtype=np.float64)
    for j in range(A.shape[1]):
        p, pe = _two_prod(A[:, j : j + 1], r)  # (n, m)
        total, err = _sum_rows(p, pe.sum(axis=0))
        s, e = _two_sum(c[j], -total)
        out[j] = s + (e - err)
    return out
