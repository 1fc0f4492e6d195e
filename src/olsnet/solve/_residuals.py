"""The second pass over the rows at given coefficients: residuals, leverages and HC meats.

One blocked, threaded pass (a thread pool over row spans; NumPy and BLAS release the GIL) with
no (n, k) temporaries beyond a chunk. The formulas and their sources are in
:mod:`olsnet.inference.covariance`, which re-exports these names; :func:`leverage` is the one
leverage kernel shared by the HC covariances, influence measures and prediction SEs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from ._blas import SMALL_GEMM, TN_SMALL_MAX_MN, gemm_tn
from ._kernels import tri_inv
from ._pool import n_workers

__all__ = ["ResidualPass", "bread_inverse", "leverage", "residual_pass"]


def bread_inverse(R_x: np.ndarray) -> np.ndarray:
    """``R⁻¹`` (r, r) of the upper-triangular factor; the bread is ``R⁻¹ R⁻ᵀ = (XᵀWX)⁻¹``."""
    return tri_inv(R_x)


def _q_map(
    R_x: np.ndarray, shift_x: np.ndarray, kept: np.ndarray, fit_intercept: bool, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """(G (p, r), g0 (r,)) with ``Q = Z̃ R⁻¹ = (X - c) G + 1 g0ᵀ`` for unweighted rows
    (``G`` has zero rows for aliased features)."""
    r = R_x.shape[0]
    icpt_kept = fit_intercept and r > 0 and kept[0] == 0
    Rinv = bread_inverse(R_x)  # (r, r)
    G = np.zeros((p, r))
    G[kept[int(icpt_kept) :] - int(fit_intercept)] = Rinv[int(icpt_kept) :]
    g0 = Rinv[0] if icpt_kept else np.zeros(r)
    return G, g0


def leverage(
    X: np.ndarray,
    R_x: np.ndarray,
    shift_x: np.ndarray,
    kept: np.ndarray,
    fit_intercept: bool,
    sample_weight: np.ndarray | None = None,
    *,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Leverages ``hᵢ`` (n,), the diagonal of the hat matrix, from the factored ``R``.

    ``hᵢ = ‖Qᵢ‖² = wᵢ zᵢᵀ (Z̃ᵀZ̃)⁻¹ zᵢ`` with ``Q = Z̃ R⁻¹``, ``Z̃ = √w [1, X - c]`` (kept
    columns): a sum of squares, no cancellation, no inverse of ``XᵀWX``. One blocked pass over
    the rows on ``n_jobs`` threads (None: the usable CPUs, at most 8); no (n, k) array is made,
    only one (chunk, r) buffer per thread. Shared by the HC covariances (inside
    :func:`residual_pass`), influence measures and prediction standard errors.

    Parameters
    ----------
    X : ndarray of shape (n, p)
        The rows (all p features, aliased ones included).
    R_x : ndarray of shape (r, r)
        Upper-triangular factor of the kept, shifted, weighted ``[1 X]`` (``LstsqSolution.R_x``).
    shift_x : ndarray of shape (p,)
        Column offsets ``c`` of that factor (``LstsqSolution.shift_x``).
    kept : ndarray of shape (r,)
        Kept columns of ``[1 X]`` (intercept = 0).
    fit_intercept : bool
    sample_weight : ndarray of shape (n,), optional
        Rows of weight 0 get leverage 0.

    Returns
    -------
    ndarray of shape (n,)

    Notes
    -----
    Belsley, Kuh & Welsch (1980), *Regression Diagnostics*, §2.1; statsmodels'
    ``OLSInfluence.hat_matrix_diag``, R's ``hatvalues``.
    """
    n, p = X.shape
    r = R_x.shape[0]
    G, g0 = _q_map(R_x, shift_x, kept, fit_intercept, p)
    M = np.ascontiguousarray(G)  # (p, r) row-major: the small-matrix layout (see _ChunkKernel)
    offset = g0 - np.asarray(shift_x, dtype=np.float64) @ G
    out = np.empty(n)
    chunk = _chunk_rows(r, 0, p)
    local = threading.local()

    def run(start: int, stop: int) -> None:
        for s in range(start, stop, chunk):
            e = min(s + chunk, stop)
            Q = getattr(local, "Q", None)
            if Q is None or Q.shape[0] < e - s:
                Q = local.Q = np.empty((chunk, r), order="F")
            Qc = Q[: e - s]
            Qc[...] = offset
            gemm_tn(Qc, X[s:e].T, M)
            np.einsum("ij,ij->i", Qc, Qc, out=out[s:e])
        if sample_weight is not None:
            out[start:stop] *= sample_weight[start:stop]

    span = chunk * _SPAN_CHUNKS
    bounds = [(a, min(a + span, n)) for a in range(0, n, span)]
    workers = min(n_workers(n_jobs), len(bounds))
    if workers <= 1:
        for a, b in bounds:
            run(a, b)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda ab: run(*ab), bounds))
    return out


@dataclass(frozen=True, eq=False)
class ResidualPass:
    """What one pass over the data at given coefficients yields.

    meats : (q, 3, r, r) HC0, HC2, HC3 meats in ``Q`` coordinates (see module doc).
    ssr : (q,) Σ w e², sum_log_weights : Σ log wᵢ over positive weights (0 unweighted),
    nobs : rows with positive weight, max_leverage : largest hᵢ (1 means HC2/HC3 undefined),
    gradient : (r, q) ``Σ w z (y - zᵀb)`` in shifted coordinates (``Z̃ᵀẼ``).
    """

    meats: np.ndarray
    ssr: np.ndarray
    sum_log_weights: float
    nobs: int
    max_leverage: float
    gradient: np.ndarray


# OpenBLAS runs a product on one thread when m·n·k is below about 65536·4; chunks are sized so
# that every product here stays below it (no BLAS threads nested in ours, which on a busy machine
# spin against each other) and the (r, chunk) temporaries stay in L2 cache.
_BLAS_SINGLE_THREAD_MNK = SMALL_GEMM  # OpenBLAS's small-matrix kernel: always one thread


# chunks per thread-pool task (a task costs far more to schedule than a chunk to compute)
_SPAN_CHUNKS = 16


def _chunk_rows(r: int, q: int, p: int) -> int:
    """Rows per chunk: a power of two in [64, 8192] keeping each product within OpenBLAS's
    small-matrix kernel (m·n·k ≤ 100³, run on the calling thread: measured on the busy 2-core
    machine, (100,000 x 50) HC3 took 8.5 s when products woke BLAS threads, 0.1 s without)."""
    per_row = max((r + q) * max(p, 1), r * r, 1)
    return int(min(max(2 ** int(np.log2(max(_BLAS_SINGLE_THREAD_MNK // per_row, 1))), 64), 8192))


class _ChunkKernel:
    """Residuals, leverages and the three HC meats of one chunk of rows.

    ``MT`` (r + q, p) is ``[G | -β]ᵀ`` with ``G`` the rows of ``R⁻¹`` for the kept features (zero
    rows for aliased ones), ``offset`` (r + q,) the intercept's row of ``R⁻¹`` and ``-(b0 + cᵀβ)``:
    one product ``(X - c) MTᵀ + offset`` gives ``Q = Z̃ R⁻¹`` and minus the fitted values. Rows of weight 0 get ``Q = 0`` and ``ẽ = 0``: they add nothing. Buffers are reused
    per thread (fresh (r, chunk) arrays each time would cost page faults, not arithmetic).
    """

    def __init__(self, MT: np.ndarray, offset: np.ndarray, shift: np.ndarray | None, r: int):
        # (X - c) enters as X with MT c folded into the offset: no copy of a chunk
        self.M = np.ascontiguousarray(MT.T)  # (p, r + q), row-major: see __call__
        self.offset = offset if shift is None else offset - MT @ shift  # (r + q,)
        self.r = r
        self._local = threading.local()

    def _buffers(self, c: int) -> dict[str, np.ndarray]:
        cache = self._local.__dict__.setdefault("by_rows", {})
        if c not in cache:
            r, rq = self.r, self.M.shape[1]
            cache[c] = {
                "T": np.empty((c, rq), order="F"),
                # the meat's first operand: column-major while OpenBLAS's "TN" small-matrix
                # kernel takes it (r² ≤ 1,200: 1.75x the fit at (1e6, 10) against 5.8x
                # row-major, busy machine), row-major beyond (see __call__)
                "B": np.empty((c, r), order="F" if r * r <= TN_SMALL_MAX_MN else "C"),
                "a": np.empty(c),
                "h": np.empty(c),
                "d": np.empty(c),
            }
        return cache[c]

    def __call__(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        r, q, c = self.r, Y.shape[1], X.shape[0]
        buf = self._buffers(c)
        T, B, a, h, d = buf["T"], buf["B"], buf["a"], buf["h"], buf["d"]
        T[...] = self.offset
        # Every product is gemm_tn (dgemm through SciPy's Cython BLAS, the GIL released) in the
        # operand layouts OpenBLAS sends to its small-matrix kernel at these sizes (_chunk_rows),
        # which runs on the calling thread: no BLAS thread is ever woken, so the pool of
        # residual_pass is the only parallelism. (Measured on the busy 2-core machine: the same
        # (12 x 10) x (10 x 8,192) product took 26 ms in the other layout, 0.09 ms in this one;
        # the meat Bᵀ Q with B column-major ("TN") leaves that kernel once r² > 1,200: (256, 51)
        # took 64 ms, with B row-major 0.035 ms.)
        gemm_tn(T, X.T, self.M)  # (c, r + q): Q and minus the fitted values
        Q, E = T[:, :r], T[:, r:]  # (c, r) rows of Q; (c, q) minus fitted values
        E += Y  # residuals
        if w is not None:
            T *= np.sqrt(w)[:, None]  # rotated wexog and wresid together
        np.einsum("ij,ij->i", Q, Q, out=h)  # (c,) leverages
        meats = np.zeros((q, 3, r, r), order="F")
        with np.errstate(divide="ignore", invalid="ignore"):  # leverage 1: HC2/HC3 inf / NaN
            np.subtract(1.0, h, out=d)
            np.divide(1.0, d, out=d)
            for j in range(q):
                np.multiply(E[:, j], E[:, j], out=a)  # HC0 row weights ẽᵢ²
                for kind in range(3):  # then HC2: ẽᵢ² / (1 - hᵢ), HC3: ẽᵢ² / (1 - hᵢ)²
                    if kind:
                        a *= d
                    np.multiply(Q, a[:, None], out=B)
                    gemm_tn(meats[j, kind], B, Q)  # (r, r) = Qᵀ diag(a) Q over the chunk
        ssr = np.einsum("ij,ij->j", E, E)
        QtE = gemm_tn(np.zeros((r, q), order="F"), Q, E)
        return meats, ssr, QtE, float(h.max(initial=0.0))


def residual_pass(
    blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    params: np.ndarray,
    R_x: np.ndarray,
    shift_x: np.ndarray,
    kept: np.ndarray,
    fit_intercept: bool,
    *,
    n_threads: int | None = None,
) -> ResidualPass:
    """Stream row blocks once: residuals at ``params``, leverages and the three HC meats.

    Parameters
    ----------
    blocks : iterable of (X (b, p), Y (b, q), w (b,) or None)
    params : (k, q) coefficients in the user's coordinates, intercept first. Residuals use
        every coefficient (NaN, as for aliased columns of a fit, counts as 0); the meats and
        leverages use the kept columns only.
    R_x : (r, r) upper-triangular factor of the kept, shifted, weighted ``[1 X]``.
    shift_x : (p,) column offsets used for ``R_x``.
    kept : (r,) indices of the kept columns of ``[1 X]`` (``k``-based).
    n_threads : int, optional
        Threads for the chunks (default: the CPUs this process may use, at most 8). Pass 1 when
        the caller already runs passes in parallel (one per dask partition, say).

    Notes
    -----
    Blocks are cut into chunks (:func:`_chunk_rows`), evaluated by a thread pool (NumPy and BLAS
    release the GIL) and summed in row order, so the result does not depend on the number of
    threads.
    """
    r = R_x.shape[0]
    k, q = params.shape
    p = k - int(fit_intercept)
    coef = np.where(np.isnan(params), 0.0, params)  # (k, q)
    beta = coef[int(fit_intercept) :]  # (p, q)
    b0 = coef[0] if fit_intercept else np.zeros(q)
    G, g0 = _q_map(R_x, shift_x, kept, fit_intercept, p)  # Z̃ R⁻¹ = 1 g0ᵀ + (X - c) G
    shifted = bool(np.any(shift_x != 0.0))
    kernel = _ChunkKernel(
        MT=np.ascontiguousarray(np.hstack([G, -beta]).T),
        offset=np.concatenate([g0, -(b0 + shift_x @ beta)]),
        shift=np.asarray(shift_x, dtype=np.float64) if shifted else None,
        r=r,
    )
    chunk = _chunk_rows(r, q, p)
    meats = np.zeros((q, 3, r, r))
    ssr = np.zeros(q)
    QtE = np.zeros((r, q))
    sum_log_w = 0.0
    nobs = 0
    max_h = 0.0

    def spans() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """Row spans of at most _SPAN_CHUNKS chunks: one thread-pool task each."""
        nonlocal sum_log_w, nobs
        for X, Y, w in blocks:
            if w is not None:
                pos = w > 0
                sum_log_w += float(np.log(w[pos]).sum())
                nobs += int(np.count_nonzero(pos))
            else:
                nobs += X.shape[0]
            step = chunk * _SPAN_CHUNKS
            for start in range(0, X.shape[0], step):
                sl = slice(start, start + step)
                yield X[sl], Y[sl], None if w is None else w[sl]

    def run_span(span: tuple[np.ndarray, np.ndarray, np.ndarray | None]) -> tuple[Any, ...]:
        X, Y, w = span
        parts = [
            kernel(X[s : s + chunk], Y[s : s + chunk], None if w is None else w[s : s + chunk])
            for s in range(0, X.shape[0], chunk)
        ]
        return (
            sum(p[0] for p in parts),
            sum(p[1] for p in parts),
            sum(p[2] for p in parts),
            max(p[3] for p in parts),
        )

    workers = n_workers(n_threads)
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        stream = spans()
        while True:
            batch = list(islice(stream, 2 * workers))  # bounded: a few spans in flight
            if not batch:
                break
            results = (
                pool.map(run_span, batch)
                if pool and len(batch) > 1
                else [run_span(b) for b in batch]
            )
            for m, s, qe, mh in results:  # summed in row order: deterministic
                meats += m
                ssr += s
                QtE += qe
                max_h = max(max_h, mh)
            # drop this round's spans before the next are read (else two rounds of blocks,
            # and their Arrow batches, would be held at once)
            del batch, results
    # Z̃ᵀẼ = Rᵀ (Qᵀ Ẽ): the gradient's pieces in shifted coordinates
    return ResidualPass(meats, ssr, sum_log_w, nobs, max_h, R_x.T @ QtE)
