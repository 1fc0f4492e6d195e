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

from ._kernels import tri_inv
from ._pool import n_workers

__all__ = ["ResidualPass", "bread_inverse", "leverage", "residual_pass"]


def bread_inverse(R_x: np.ndarray) -> np.ndarray:
    """``R⁻¹`` (r, r) of the upper-triangular factor; the bread is ``R⁻¹ R⁻ᵀ = (XᵀWX)⁻¹``."""
    return tri_inv(R_x)


def leverage(Q: np.ndarray) -> np.ndarray:
    """Leverage ``hᵢ = ‖Qᵢ‖²`` (b,) from ``Q = Z̃ R⁻¹`` (b, r), the diagonal of the hat matrix."""
    return np.einsum("ij,ij->i", Q, Q)


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
_BLAS_SINGLE_THREAD_MNK = 250_000


# chunks per thread-pool task (a task costs far more to schedule than a chunk to compute)
_SPAN_CHUNKS = 16


def _chunk_rows(r: int, q: int, p: int) -> int:
    """Rows per chunk: a power of two in [256, 8192] keeping each product single-threaded."""
    per_row = max((r + q) * max(p, 1), r * r, 1)
    return int(min(max(2 ** int(np.log2(max(_BLAS_SINGLE_THREAD_MNK // per_row, 1))), 256), 8192))


class _ChunkKernel:
    """Residuals, leverages and the three HC meats of one chunk of rows.

    ``MT`` (r + q, p) is ``[G | -β]ᵀ`` with ``G`` the rows of ``R⁻¹`` for the kept features (zero
    rows for aliased ones), ``offset`` (r + q,) the intercept's row of ``R⁻¹`` and ``-(b0 + cᵀβ)``:
    one product ``MT (X - c)ᵀ + offset`` gives ``Qᵀ = R⁻ᵀ Z̃ᵀ`` and minus the fitted values.
    Working on transposed (r, chunk) arrays puts the long dimension last, the shape BLAS handles
    fastest. Rows of weight 0 get ``Q = 0`` and ``ẽ = 0``: they add nothing. Buffers are reused
    per thread (fresh (r, chunk) arrays each time would cost page faults, not arithmetic).
    """

    def __init__(self, MT: np.ndarray, offset: np.ndarray, shift: np.ndarray | None, r: int):
        self.MT, self.offset, self.shift, self.r = MT, offset[:, None], shift, r
        self._local = threading.local()

    def _buffers(self, c: int) -> dict[str, np.ndarray]:
        cache = self._local.__dict__.setdefault("by_rows", {})
        if c not in cache:
            r, rq = self.r, self.MT.shape[0]
            cache[c] = {
                "T": np.empty((rq, c)),
                "B": np.empty((r, c)),
                "a": np.empty(c),
                "h": np.empty(c),
                "d": np.empty(c),
                "m": np.empty((r, r)),
            }
        return cache[c]

    def __call__(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        r, q, c = self.r, Y.shape[1], X.shape[0]
        buf = self._buffers(c)
        T, B, a, h, d, m = buf["T"], buf["B"], buf["a"], buf["h"], buf["d"], buf["m"]
        Xc = X if self.shift is None else X - self.shift  # (c, p)
        np.matmul(self.MT, Xc.T, out=T)  # (r + q, c)
        T += self.offset
        Qt, Et = T[:r], T[r:]  # (r, c) rows of Qᵀ; (q, c) minus fitted values
        Et += Y.T  # residuals
        if w is not None:
            T *= np.sqrt(w)  # rotated wexog and wresid together
        np.einsum("ij,ij->j", Qt, Qt, out=h)  # (c,) leverages
        meats = np.empty((q, 3, r, r))
        with np.errstate(divide="ignore", invalid="ignore"):  # leverage 1: HC2/HC3 inf / NaN
            np.subtract(1.0, h, out=d)
            np.divide(1.0, d, out=d)
            for j in range(q):
                np.multiply(Et[j], Et[j], out=a)  # HC0 row weights ẽᵢ²
                for kind in range(3):  # then HC2: ẽᵢ² / (1 - hᵢ), HC3: ẽᵢ² / (1 - hᵢ)²
                    if kind:
                        a *= d
                    np.multiply(Qt, a, out=B)
                    np.matmul(B, Qt.T, out=m)  # (r, r) = Qᵀ diag(a) Q over the chunk
                    meats[j, kind] = m
        ssr = np.einsum("ij,ij->i", Et, Et)
        return meats, ssr, Qt @ Et.T, float(h.max(initial=0.0))


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
    icpt_kept = fit_intercept and r > 0 and kept[0] == 0
    coef = np.where(np.isnan(params), 0.0, params)  # (k, q)
    beta = coef[int(fit_intercept) :]  # (p, q)
    b0 = coef[0] if fit_intercept else np.zeros(q)
    Rinv = bread_inverse(R_x)  # (r, r)
    G = np.zeros((p, r))  # (p, r): Z̃ R⁻¹ = [1, X - c] R⁻¹ = 1·R⁻¹[0] + (X - c) G
    G[kept[int(icpt_kept) :] - int(fit_intercept)] = Rinv[int(icpt_kept) :]
    shifted = bool(np.any(shift_x != 0.0))
    kernel = _ChunkKernel(
        MT=np.ascontiguousarray(np.hstack([G, -beta]).T),
        offset=np.concatenate([Rinv[0] if icpt_kept else np.zeros(r), -(b0 + shift_x @ beta)]),
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
    # Z̃ᵀẼ = Rᵀ (Qᵀ Ẽ): the gradient's pieces in shifted coordinates
    return ResidualPass(meats, ssr, sum_log_w, nobs, max_h, R_x.T @ QtE)
