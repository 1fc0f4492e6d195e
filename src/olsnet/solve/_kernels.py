"""The array kernels of the QR state, one of each: R of a block, merge of two triangles, Gram
to R, signs. Every builder of a :class:`~olsnet.solve.QRState` (in memory, files, threads, dask)
goes through these.

LAPACK / BLAS are called through ``olsnet.solve._blas`` (GIL released, in place) where a
thread pool benefits, else through SciPy.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from ._blas import tpqrt
from ._thresholds import GRAM_FOLD_MIN_DIAG

__all__ = [
    "PANEL",
    "GramNotDefinite",
    "gram_to_r",
    "merge_r",
    "panel_for",
    "pow2_scale",
    "qr_r",
    "sign_rows",
    "tri_inv",
    "tri_solve",
]

PANEL = 4  # dtpqrt's inner block size; 4 was fastest for k = 22 (2, 4, 6, 8, 11 measured)


def panel_for(k: int) -> int:
    """``dtpqrt``'s inner block size for ``k`` columns (chunks of 2,048 rows). Narrow designs
    keep ``PANEL`` (its level-2 calls stay on the calling thread); wide ones (a formula with a
    factor of many levels) need level-3 blocks. Measured, one (2,048, k) chunk, 2 cores:
    k = 101: nb 4 / 8 / 16 / 32 took 2.6 / 2.5 / 2.8 / 3.9 ms; k = 400: 34 / 19 / 18 / 22 ms;
    k = 1,003: nb 4 / 16 / 32 / 64 took 257 / 105 / 99 / 115 ms."""
    nb = PANEL if k < 128 else 16 if k < 512 else 32
    return max(1, min(nb, k))


def sign_rows(R: np.ndarray) -> np.ndarray:
    """``R`` upper-triangular with its rows signed so that ``diag(R) >= 0`` (in place on a copy
    when R is not writeable)."""
    R = np.triu(R)
    R *= np.where(np.diagonal(R) < 0, -1.0, 1.0)[:, None]
    return R


# Small LAPACK calls go to LAPACK directly (``scipy.linalg.lapack``), not through
# ``scipy.linalg.solve_triangular`` / ``qr``: measured on a busy 2-core machine (SciPy 1.17,
# OpenBLAS 0.3.30, 2 BLAS threads), ``solve_triangular(R, I)`` at 5 x 5 took 20 ms (median of
# 300) against 4 µs for ``dtrtrs`` -- its multi-right-hand-side path wakes BLAS threads that
# wait for a core. The direct calls run on the calling thread, with no process-global setting.


def tri_solve(R: np.ndarray, B: np.ndarray, *, trans: bool = False) -> np.ndarray:
    """``R⁻¹ B`` (``R⁻ᵀ B`` with ``trans``) for upper-triangular R (r, r), B (r,) or (r, m),
    by LAPACK ``dtrtrs``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When R has a zero on its diagonal.
    """
    X, info = lapack.dtrtrs(R, B, lower=0, trans=int(trans))
    if info > 0:
        raise np.linalg.LinAlgError(f"singular triangular factor: zero at diagonal entry {info}")
    return X


def tri_inv(R: np.ndarray) -> np.ndarray:
    """``R⁻¹`` (r, r) of an upper-triangular R by LAPACK ``dtrtri``.

    Raises
    ------
    numpy.linalg.LinAlgError
        When R has a zero on its diagonal.
    """
    if R.shape[0] == 0:
        return np.zeros((0, 0))
    Rinv, info = lapack.dtrtri(R, lower=0)
    if info > 0:
        raise np.linalg.LinAlgError(f"singular triangular factor: zero at diagonal entry {info}")
    return np.triu(Rinv)


def qr_r(A: np.ndarray) -> np.ndarray:
    """R factor (min(m, k), k) of A by Householder QR (LAPACK geqrf), rows signed so diag >= 0."""
    m, k = A.shape
    if m == 0 or k == 0:
        return np.zeros((k, k))
    qr, _, _, _ = lapack.dgeqrf(A, overwrite_a=1)
    R = sign_rows(qr[: min(m, k)])
    if m < k:  # fewer rows than columns: pad to a square (k, k) state
        R = np.vstack([R, np.zeros((k - m, k))])
    return R


def merge_r(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """R (k, k) of ``[Ra; Rb]`` for two (k, k) upper triangles, by ``dtpqrt`` with ``l = k`` (B
    triangular) in place: microseconds, where ``geqrf`` on the stacked (2k, k) takes ~1.6 ms a
    call through SciPy's wrapper at k = 22. Rows signed so diag >= 0."""
    k = Ra.shape[0]
    R = tpqrt(np.array(Ra, order="F"), np.array(Rb, order="F"), k, min(PANEL, max(k, 1)))
    return np.ascontiguousarray(sign_rows(R))


# A Gram diagonal entry (a sum of squares) below this went through the denormal range, where
# squares keep fewer than 53 bits: such a Gram matrix is not used (the QR fold takes the rows).
GRAM_MIN_SQUARE = np.finfo(np.float64).tiny / np.finfo(np.float64).eps


class GramNotDefinite(ArithmeticError):
    """The Gram matrix is not numerically positive definite: fold those rows with QR."""


def pow2_scale(G: np.ndarray) -> np.ndarray:
    """Powers of two ``s`` (k,) with ``s_j² G_jj`` in [0.5, 2): the exact diagonal scaling
    applied before a Cholesky factorization (zero columns get 1)."""
    d = np.diagonal(G).copy()
    d[~(d > 0)] = 1.0
    _, e = np.frexp(d)  # d = m 2^e, m in [0.5, 1)
    return np.ldexp(1.0, -(e // 2))


def gram_to_r(G: np.ndarray, min_diag: float = GRAM_FOLD_MIN_DIAG) -> np.ndarray:
    """Upper-triangular R with RᵀR = G, by Cholesky after an exact power-of-two scaling.

    Raises
    ------
    GramNotDefinite
        When a diagonal entry of G is below ``GRAM_MIN_SQUARE`` (denormal squares), Cholesky
        fails, gives non-finite values, or a diagonal entry of the scaled factor is below
        ``min_diag`` (the factor would be inaccurate; pass 0 to accept any definite G).
    """
    d = np.diagonal(G)
    if ((d > 0) & (d < GRAM_MIN_SQUARE)).any():  # squares in denormal range lost their digits
        raise GramNotDefinite
    s = pow2_scale(G)
    L, info = lapack.dpotrf(G * s[:, None] * s[None, :], lower=0, clean=1)
    if info != 0:
        raise GramNotDefinite
    if not np.isfinite(L).all() or (L.size and np.min(np.abs(np.diagonal(L))) < min_diag):
        raise GramNotDefinite
    return L / s[None, :]
