"""The checked fast path: normal equations of the shifted, augmented design, by row blocks.

``G = AᵀA`` for ``A = sqrt(w) [1, X - c_x, Y - c_y]`` is accumulated over cache-sized row
blocks (one pass over X, no copy of it), and its Cholesky factor is the R of the QR state (in
exact arithmetic the two agree up to signs). The path is *checked*: the caller compares
the condition number of the scaled R with its limit and falls back to QR when it is exceeded,
because the normal equations lose ``cond²·eps`` where QR loses ``cond·eps``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np

from ._blas import (
    SMALL_GEMM,
    aligned_fortran,
    default_workers,
    gemm_tn,
    small_gemm_rows,
    syrk_tn,
    usable_cpus,
)
from ._kernels import GramNotDefinite, gram_to_r
from ._state import QRState
from ._thresholds import (
    GRAM_BLAS_THREADED_BLOCK_BYTES,
    GRAM_BLAS_THREADED_BLOCK_ROWS,
    GRAM_BLAS_THREADED_MIN_CPUS,
    GRAM_BLAS_THREADED_MIN_FLOPS,
    GRAM_BLAS_THREADED_MIN_K,
)

__all__ = ["gram_state", "scaled_condition"]

BLOCK_ROWS = 4096  # (4096, k) doubles stay in L2 cache for the k of typical designs
# Two threads, each on its share of the rows with one BLAS thread, were faster than one at
# every size measured from (1e6, 10) up: 1.2x at (1e6, 10), 1.2x at (2e6, 50), 1.7x at (4e6, 20).
PARALLEL_MIN_ELEMENTS = 1_000_000


def block_rows_for(k: int) -> int:
    """Rows per block: within OpenBLAS's small-matrix kernel (up to 8,192 rows, e.g. 6,944 at
    k = 12, 2,064 at k = 22, 368 at k = 52), which runs on the calling thread. (On one quiet
    core the packed kernel on 4,096 rows beat small blocks from k ≈ 30 on, but it wakes BLAS
    threads: on the busy 2-core machine (100,000 x 50) took 1.2 s that way against 0.02 s.)
    At least 64 rows (k > 125 then goes to the packed kernel)."""
    return small_gemm_rows(k, 64, 8192)


def _gram_rows(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    shift: np.ndarray | None,
    fit_intercept: bool,
    rows: range,
    block_rows: int,
    symmetric: bool = False,
) -> np.ndarray:
    """G = AᵀA (k, k) of the rows ``rows``, one cache-sized block at a time (``symmetric``:
    the blocks' AᵀA by ``dsyrk``, half the flops of ``dgemm``, for blocks so large that
    OpenBLAS threads each product itself)."""
    p = X.shape[1]
    k0 = int(fit_intercept)
    k = k0 + p + Y.shape[1]
    G = np.zeros((k, k), order="F")
    if w is None and shift is None and X.flags.c_contiguous:
        return _gram_rows_views(X, Y, fit_intercept, rows, block_rows, G, symmetric)
    buf = aligned_fortran(k, block_rows).T  # (block_rows, k) row-major, 64-byte aligned
    if fit_intercept:
        buf[:, 0] = 1.0
    for start in range(rows.start, rows.stop, block_rows):
        sl = slice(start, min(start + block_rows, rows.stop))
        A = buf[: sl.stop - start]  # (b, k) = sqrt(w) [1, X, Y] for this block
        if shift is None:
            A[:, k0 : k0 + p] = X[sl]
            A[:, k0 + p :] = Y[sl]
        else:
            np.subtract(X[sl], shift[:p], out=A[:, k0 : k0 + p])
            np.subtract(Y[sl], shift[p:], out=A[:, k0 + p :])
        if w is not None:
            sq = np.sqrt(w[sl])
            A[:, k0:] *= sq[:, None]
            if fit_intercept:
                A[:, 0] = sq
        if symmetric:
            syrk_tn(G, A)  # upper triangle only
        else:
            gemm_tn(G, A, A)  # (k, k), the GIL released
    return _symmetrized(G) if symmetric else G


def _symmetrized(G: np.ndarray) -> np.ndarray:
    """G with its strict lower triangle copied from the upper one (as ``dsyrk`` leaves it)."""
    lower = np.tril_indices(G.shape[0], -1)
    G[lower] = G.T[lower]
    return G


def _gram_rows_views(
    X: np.ndarray,
    Y: np.ndarray,
    fit_intercept: bool,
    rows: range,
    block_rows: int,
    G: np.ndarray,
    symmetric: bool = False,
) -> np.ndarray:
    """Unweighted, unshifted G without copying X: row blocks of a C-ordered X are views.

    G holds OᵀO, OᵀX and XᵀX in the column order [1, X, Y], with O = [1, Y] (b, 1 + q).
    ``symmetric``: each block's XᵀX by ``dsyrk`` (as NumPy's ``X.T @ X``), for blocks large
    enough that OpenBLAS threads it over all cores; XᵀO follows on the same block while it is
    still in the last-level cache, so X is read from memory once.
    """
    p, q = X.shape[1], Y.shape[1]
    k0 = int(fit_intercept)
    xs = slice(k0, k0 + p)
    os_ = np.r_[0:k0, k0 + p : k0 + p + q]  # positions of [1, Y] in G
    obuf = np.empty((block_rows, k0 + q))
    if fit_intercept:
        obuf[:, 0] = 1.0
    Gxx = np.zeros((p, p), order="F")
    Gxo = np.zeros((p, k0 + q), order="F")
    Goo = np.zeros((k0 + q, k0 + q), order="F")
    for start in range(rows.start, rows.stop, block_rows):
        sl = slice(start, min(start + block_rows, rows.stop))
        Xb = X[sl]  # (b, p) view
        Ob = obuf[: sl.stop - start]  # (b, 1 + q) = [1, Y]
        Ob[:, k0:] = Y[sl]
        if symmetric:
            syrk_tn(Gxx, Xb)  # upper triangle; threaded by OpenBLAS on large blocks
        else:
            gemm_tn(Gxx, Xb, Xb)  # dgemm on a cache-resident block, the GIL released
        gemm_tn(Gxo, Xb, Ob)
        gemm_tn(Goo, Ob, Ob)
    if symmetric:
        _symmetrized(Gxx)
    G[xs, xs] = Gxx
    G[xs, os_] = Gxo
    G[np.ix_(os_, os_)] = Goo
    G[os_, xs] = Gxo.T
    return G


def gram_state(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    fit_intercept: bool,
    shift: np.ndarray | None = None,
    block_rows: int | None = None,
    n_jobs: int | None = None,
) -> QRState | None:
    """QR state from the normal equations; None when the Gram matrix is not positive definite.

    ``shift`` (p + q,), used only with an intercept, is subtracted from the X and Y columns
    first: an exact reparametrization that takes the columns' offsets out of the conditioning
    (it costs one subtraction per entry, so the policy asks for it only when it pays).
    ``n_jobs`` threads each take a contiguous share of the rows (the products run with the
    GIL released, ``olsnet.solve._blas``); their Gram matrices are summed. Default: the usable
    CPUs (at most 8) from ``PARALLEL_MIN_ELEMENTS`` entries on. ``block_rows`` defaults to
    :func:`block_rows_for`.
    """
    n, p = X.shape
    q = Y.shape[1]
    if not fit_intercept:
        shift = None
    k = int(fit_intercept) + p + q
    # Wide and large: few large products, each threaded by OpenBLAS over all cores itself
    # (GRAM_BLAS_THREADED_MIN_K in ``_thresholds``), on one thread of ours.
    wide = (
        block_rows is None
        and n_jobs is None
        and k >= GRAM_BLAS_THREADED_MIN_K
        and n * k * k >= GRAM_BLAS_THREADED_MIN_FLOPS
        and usable_cpus() >= GRAM_BLAS_THREADED_MIN_CPUS
    )
    if wide:
        most = max(8, GRAM_BLAS_THREADED_BLOCK_BYTES // (8 * k)) // 8 * 8
        block_rows = max(block_rows_for(k), min(GRAM_BLAS_THREADED_BLOCK_ROWS, most))
        n_jobs = 1
    if block_rows is None:
        block_rows = block_rows_for(k)
    # Products too large for OpenBLAS's small-matrix kernel (k > 125) are threaded by BLAS
    # itself; our own threads would then nest in its (and limiting BLAS threads is
    # process-global state, which library code must not change), so those run on one of ours.
    packed = k * k * block_rows > SMALL_GEMM
    if n_jobs is None:
        n_jobs = default_workers() if n * (p + q) >= PARALLEL_MIN_ELEMENTS and not packed else 1
    n_jobs = max(1, min(n_jobs, n // block_rows))
    bounds = np.linspace(0, n, n_jobs + 1).astype(int)
    shares = [range(int(a), int(b)) for a, b in pairwise(bounds)]
    if n_jobs == 1:
        G = _gram_rows(X, Y, w, shift, fit_intercept, shares[0], block_rows, wide)
    else:
        with ThreadPoolExecutor(n_jobs) as pool:
            parts = list(
                pool.map(
                    lambda rows: _gram_rows(X, Y, w, shift, fit_intercept, rows, block_rows), shares
                )
            )
        G = np.sum(parts, axis=0)
    # Σ w z: the first row of G with an intercept, else one cheap pass over Y
    if fit_intercept:
        zsum = G[0, 1:].copy()
    else:
        zsum = np.concatenate([np.zeros(p), Y.sum(axis=0) if w is None else w @ Y])
    try:  # diagonal scaling by powers of two (exact) before the factorization
        R = gram_to_r(G, min_diag=0.0)  # the caller checks the condition number
    except GramNotDefinite:
        return None
    nobs = n if w is None else int(np.count_nonzero(w))
    sw_total = float(n if w is None else w.sum())
    c = np.zeros(p + q) if shift is None else np.asarray(shift, dtype=np.float64)
    return QRState(R, c, p, q, fit_intercept, nobs, sw_total, zsum)


def scaled_condition(R_x: np.ndarray) -> float:
    """2-norm condition number of R_x after scaling its columns to unit norm."""
    if R_x.size == 0:
        return 1.0
    big = np.abs(R_x).max(axis=0)  # column norms without squaring huge or tiny entries
    big[~(big > 0)] = 1.0
    Rb = R_x / big
    norms = np.sqrt((Rb * Rb).sum(axis=0))
    norms[norms == 0] = 1.0
    s = np.linalg.svd(Rb / norms, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
