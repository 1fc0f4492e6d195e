"""Rank and aliased columns of wide designs (p comparable to or larger than n) in one pass.

The rule is R's ``lm`` rule (LINPACK ``dqrdc2`` with limited pivoting), unchanged: walking the
columns of ``[1 X]`` in order, a column is *aliased* when the part of it orthogonal to the
kept columns before it has norm at most ``tol`` times its own norm. ``decide_rank`` applies it
to a triangular factor of every column and re-triangularizes after each aliased column
(O(k³) each: 105 s at 300 x 1,000). Here it is applied to the data directly: an orthonormal
basis of the kept columns grows one column at a time by classical Gram-Schmidt applied twice
("twice is enough": Giraud, Langou & Rozložník 2005, the orthogonality of Householder QR), so
each column costs O(n r) and once the kept columns span all n rows every later column is
aliased without work. Every product is a small ``gemm_tn`` (on the calling thread).
"""

from __future__ import annotations

import numpy as np

from ._blas import gemm_tn

__all__ = ["WIDE_MIN_COLUMNS", "aliased_in_order"]

# From this many columns of [1 X] (or whenever n < k) the exact path decides the rank here.
WIDE_MIN_COLUMNS = 256


def aliased_in_order(A: np.ndarray, colnorms: np.ndarray, tol: float) -> np.ndarray:
    """Aliased mask (k,) of the columns of ``A`` (n, k), in order (module doc).

    ``colnorms`` (k,) are the norms the tolerance is relative to (the unshifted, weighted
    columns); a zero column is aliased.
    """
    n, k = A.shape
    aliased = np.zeros(k, dtype=bool)
    Q = np.zeros((n, min(n, k)), order="F")  # orthonormal basis of the kept columns
    r = 0
    v = np.empty((n, 1), order="F")
    coef = np.empty((min(n, k), 1), order="F")
    for j in range(k):
        if r == n or colnorms[j] == 0.0:  # the kept columns span every row already
            aliased[j] = True
            continue
        v[:, 0] = A[:, j]
        for _ in range(2):  # CGS2: project out the basis twice
            if r == 0:
                break
            c = coef[:r]
            c[...] = 0.0
            gemm_tn(c, Q[:, :r], v)  # (r, 1) = Qᵀ v
            c *= -1.0
            gemm_tn(v, Q[:, :r].T, c)  # v -= Q c
        norm = float(np.sqrt((v * v).sum()))
        if norm <= tol * colnorms[j]:
            aliased[j] = True
            continue
        Q[:, r] = v[:, 0] / norm
        r += 1
    return aliased
