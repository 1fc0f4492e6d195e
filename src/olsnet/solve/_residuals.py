"""The second pass over the rows at given coefficients: residuals, leverages and HC meats.

One blocked, threaded pass (:func:`row_pass`: a thread pool over row spans; NumPy and BLAS
release the GIL) with no (n, k) temporaries beyond a chunk. :class:`RowMap` is the one row
kernel: a chunk's rows ``Q = Z̃ R⁻¹`` of the factored basis and its weighted residuals from one
small product. The HC meats (:func:`residual_pass`), the leverages (:func:`leverage`, for
prediction SEs and plots), the influence measures and the cluster scores
(:mod:`olsnet.inference.influence`, :mod:`olsnet.inference._robust`) are all passes of it. The
formulas and their sources are in :mod:`olsnet.inference.covariance`, which re-exports these
names.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import DimensionError, InputTypeError
from ._blas import LP64_MAX, SMALL_GEMM, TN_SMALL_MAX_MN, dgemm_raw, gemm_tn
from ._kernels import tri_inv
from ._pool import n_workers

__all__ = [
    "HC_MEATS",
    "ResidualPass",
    "RowMap",
    "bread_inverse",
    "float_block",
    "leverage",
    "meat_kinds",
    "residual_pass",
    "row_pass",
]


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
    the rows on ``n_jobs`` threads (None: the usable CPUs, at most 8) through the row kernel
    :class:`RowMap` that the HC pass, the influence measures and the cluster scores share; no
    (n, k) array is made, only one (chunk, r) buffer per thread. Shared by the HC covariances (inside
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
    rows = RowMap(np.zeros((p + int(fit_intercept), 0)), R_x, shift_x, kept, fit_intercept)
    blocks = [(X, np.empty((n, 0)), sample_weight)]  # weighted rows: Q = √w z̃ R⁻¹

    def squares(_start: int, Q: np.ndarray, _E: np.ndarray, _w: np.ndarray | None) -> np.ndarray:
        return np.einsum("ij,ij->i", Q, Q)

    parts = row_pass(blocks, rows, squares, n_threads=n_jobs)
    return np.concatenate(parts) if parts else np.zeros(0)


# the meats a pass can accumulate, in the slot order of ``ResidualPass.meats`` (HC1 is HC0
# rescaled, so it has no slot of its own)
HC_MEATS: tuple[str, ...] = ("HC0", "HC2", "HC3")
_SLOT = {"HC0": 0, "HC1": 0, "HC2": 1, "HC3": 2}


def meat_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The meats ``kinds`` (``"HC0".."HC3"``) need, in slot order (HC1 needs HC0's)."""
    slots = {_SLOT[k] for k in kinds}
    return tuple(HC_MEATS[s] for s in sorted(slots))


@dataclass(frozen=True, eq=False)
class ResidualPass:
    """What one pass over the data at given coefficients yields.

    meats : (q, 3, r, r) HC0, HC2, HC3 meats in ``Q`` coordinates (see module doc); a meat the
    pass was not asked for (not in ``kinds``) is NaN.
    ssr : (q,) Σ w e², sum_log_weights : Σ log wᵢ over positive weights (0 unweighted),
    nobs : rows with positive weight, max_leverage : largest hᵢ (1 means HC2/HC3 undefined),
    gradient : (r, q) ``Σ w z (y - zᵀb)`` in shifted coordinates (``Z̃ᵀẼ``),
    kinds : the meats computed (``HC_MEATS`` unless the pass was asked for fewer).
    """

    meats: np.ndarray
    ssr: np.ndarray
    sum_log_weights: float
    nobs: int
    max_leverage: float
    gradient: np.ndarray
    kinds: tuple[str, ...] = HC_MEATS

    @property
    def complete(self) -> bool:
        """Whether every meat (HC0, HC2, HC3) was computed."""
        return set(HC_MEATS) <= set(self.kinds)

    def merged(self, other: ResidualPass) -> ResidualPass:
        """This pass with the meats of ``other`` (a pass over the same rows) it lacks."""
        meats = np.array(self.meats, copy=True)
        for kind in other.kinds:
            if kind not in self.kinds:
                meats[:, _SLOT[kind]] = other.meats[:, _SLOT[kind]]
        kinds = tuple(k for k in HC_MEATS if k in self.kinds or k in other.kinds)
        return replace(self, meats=meats, kinds=kinds)


# OpenBLAS runs a product on one thread when m·n·k is below about 65536·4; chunks are sized so
# that every product here stays below it (no BLAS threads nested in ours, which on a busy machine
# spin against each other) and the (r, chunk) temporaries stay in L2 cache.
_BLAS_SINGLE_THREAD_MNK = SMALL_GEMM  # OpenBLAS's small-matrix kernel: always one thread


# chunks per thread-pool task (a task costs far more to schedule than a chunk to compute)
_SPAN_CHUNKS = 16


def _chunk_rows(r: int, q: int, p: int, split: bool = False) -> int:
    """Rows per chunk: a multiple of 8 in [64, 8192] keeping each product within OpenBLAS's
    small-matrix kernel (m·n·k ≤ 100³, run on the calling thread: measured on the busy 2-core
    machine, (100,000 x 50) HC3 took 8.5 s when products woke BLAS threads, 0.1 s without):
    the row map's ``(c, p) x (p, r + q)`` and the meat's ``(r, c) x (c, r + q)``. With
    ``split`` (the one-kind pass) the row map is two products of half the columns each and the
    meat is cut by :func:`tn_blocks` (at most 1,200 entries a product): at 51 columns chunks
    of 768 rows instead of 376, half the Python steps per row."""
    if split:
        per_row = max((r + q + 1) // 2 * max(p, 1), min(r * (r + 1), TN_SMALL_MAX_MN), 1)
    else:
        per_row = max((r + q) * max(p, 1), r * (r + q), 1)
    return int(min(max(_BLAS_SINGLE_THREAD_MNK // per_row, 64), 8192)) // 8 * 8


def row_major_for(r: int, q: int, kinds: int = 1) -> bool:
    """Whether the meat's chunks are row-major. One kind of one output scales ``Q`` in place:
    column-major, whose elementwise work runs down columns of a whole chunk (3x faster than
    along rows of 51 entries), and whose "TN" meat is cut into blocks the small-matrix kernel
    takes (:func:`tn_blocks`). Otherwise (a scaled copy per kind and output) column-major while
    ``r·r ≤ 1,200``, where the kernel takes "TN" whole, and row-major beyond, which makes the
    meat "NT", taken at every size here."""
    if q == 1 and kinds == 1:
        return False
    return r * r > TN_SMALL_MAX_MN


def tn_blocks(r: int) -> list[tuple[int, int]]:
    """Row blocks ``(first, rows)`` covering the upper block triangle of the (r, r + 1) product
    ``Bᵀ [B | u]``: block ``[first, first + rows) x [first, r + 1)``, each with rows·columns
    ≤ 1,200, so that OpenBLAS's small-matrix kernel takes it as "TN" (a column-major B); the
    blocks left of the diagonal are the transposes of those above it (a quarter to a half
    fewer flops than the whole product)."""
    blocks, first = [], 0
    while first < r:
        rows = min(max(1, TN_SMALL_MAX_MN // (r + 1 - first)), r - first)
        blocks.append((first, rows))
        first += rows
    return blocks


class RowMap:
    """``Q`` rows and weighted residuals of a chunk from one product: the shared row kernel.

    With ``G`` the rows of ``R⁻¹`` for the kept features (zero rows for aliased ones) and ``g0``
    the intercept's row, ``Z̃ R⁻¹ = 1 g0ᵀ + (X - c) G``; fitted values are ``b0 + cᵀβ + (X - c)
    β``. So one product ``X [G | -β] + offset`` (the shift folded into the offset: no copy of a
    chunk) gives ``Q`` and minus the fitted values. ``right`` (r, r), optional, multiplies ``Q``
    on the right (``Q L⁻ᵀ``, a re-orthogonalization). Rows of weight 0 get ``Q = 0`` and
    ``ẽ = 0``. Buffers are reused per thread (fresh arrays each chunk would cost page faults).
    """

    def __init__(
        self,
        params: np.ndarray,
        R_x: np.ndarray,
        shift_x: np.ndarray,
        kept: np.ndarray,
        fit_intercept: bool,
        right: np.ndarray | None = None,
        *,
        row_major: bool = False,
        split: bool = False,
    ) -> None:
        r = R_x.shape[0]
        k, q = params.shape
        p = k - int(fit_intercept)
        coef = np.where(np.isnan(params), 0.0, params)  # (k, q)
        beta = coef[int(fit_intercept) :]  # (p, q)
        b0 = coef[0] if fit_intercept else np.zeros(q)
        G, g0 = _q_map(R_x, shift_x, kept, fit_intercept, p)  # Z̃ R⁻¹ = 1 g0ᵀ + (X - c) G
        if right is not None:
            G, g0 = G @ right, g0 @ right
        MT = np.hstack([G, -beta]).T  # (r + q, p)
        shift = np.asarray(shift_x, dtype=np.float64)
        self.M = np.ascontiguousarray(MT.T)  # (p, r + q), row-major: see __call__
        self.m_ptr = self.M.ctypes.data
        self.offset = np.concatenate([g0, -(b0 + shift @ beta)]) - MT @ shift  # (r + q,)
        self.r, self.q, self.p = r, q, p
        self.split = split and not row_major  # the row map in two column halves
        self.chunk = _chunk_rows(r, q, p, self.split)
        # chunks column-major (T is (c, r + q) Fortran-ordered) unless ``row_major``; the meat's
        # scaled copy of Q (the general pass) takes the same layout
        self.row_major = row_major
        self.b_order = "C" if row_major else "F"
        self._local = threading.local()

    def buffer(self, name: str, shape: tuple[int, ...], order: str = "C") -> np.ndarray:
        """A per-thread scratch array (reused: its contents are whatever was left there).

        One flat allocation per name and order, grown to the largest size asked for; smaller
        shapes (a block's last chunk) are views of its start, so ragged blocks cost no memory.
        """
        cache = self._local.__dict__.setdefault("bufs", {})
        size = int(np.prod(shape))
        flat = cache.get((name, order))
        if flat is None or flat.size < size:
            flat = cache[(name, order)] = np.empty(max(size, 1))
        return flat[:size].reshape(shape, order=order)

    def scratch(self, c: int) -> ChunkScratch:
        """This thread's buffers for chunks of ``c`` rows (reused): those of a full chunk, or
        views of their start for a shorter one (the last of a block)."""
        cache = self._local.__dict__
        full = cache.get("full")
        if full is None:
            full = cache["full"] = ChunkScratch(self.chunk, self.r, self.q, self.b_order)
        if c == full.c:
            return full
        tail = cache.get("tail")
        if tail is None or tail.c != c:
            tail = cache["tail"] = ChunkScratch(c, self.r, self.q, self.b_order, full)
        return tail

    def _product(self, sc: ChunkScratch, X: np.ndarray) -> bool:
        """``T += X M`` by one raw dgemm where X's layout is plain (False: not done)."""
        c, p = X.shape
        rq = self.r + self.q
        s0, s1 = X.strides
        if p != self.p:  # the raw product reads p rows of M: never past its end
            raise DimensionError(f"a chunk of shape {X.shape}; the fit has {self.p} feature(s)")
        if X.dtype != np.float64 or p == 0 or c == 0 or max(abs(s0), abs(s1)) // 8 > LP64_MAX:
            return False  # (a leading dimension beyond a C int would wrap: NumPy's product)
        if s1 == 8 and s0 % 8 == 0 and s0 >= 8 * p:  # row-major rows: Xᵀ column-major
            trans_x, ldx = "T", s0 // 8
        elif s0 == 8 and s1 % 8 == 0 and s1 >= 8 * c:  # column-major
            trans_x, ldx = "N", s1 // 8
        else:
            return False
        x = X.ctypes.data
        if self.row_major:  # Tᵀ (r + q, c) += Mᵀ Xᵀ
            op_x = "N" if trans_x == "T" else "T"
            return dgemm_raw("N", op_x, rq, c, p, self.m_ptr, rq, x, ldx, sc.t_ptr, rq)
        if self.split and rq * p * c > _BLAS_SINGLE_THREAD_MNK:  # two halves of the columns
            h = (rq + 1) // 2
            m, t = self.m_ptr, sc.t_ptr
            return dgemm_raw(trans_x, "T", c, h, p, x, ldx, m, rq, t, c) and dgemm_raw(
                trans_x, "T", c, rq - h, p, x, ldx, m + 8 * h, rq, t + 8 * h * c, c
            )
        return dgemm_raw(trans_x, "T", c, rq, p, x, ldx, self.m_ptr, rq, sc.t_ptr, c)

    def check(self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> None:
        """Raise DimensionError unless X is (c, p), Y (c, q) and w None or (c,): the raw
        product reads ``p`` rows of ``M`` whatever X's width (a wider X read past its end)."""
        c = X.shape[0] if X.ndim == 2 else -1
        if X.ndim != 2 or X.shape[1] != self.p:
            raise DimensionError(
                f"a block of the data has shape {X.shape}; the fit has {self.p} feature(s), so "
                f"every block must be (rows, {self.p})"
            )
        if Y.shape != (c, self.q) or (w is not None and w.shape != (c,)):
            raise DimensionError(
                f"a block of {c} rows comes with y of shape {Y.shape} and weights of shape "
                f"{None if w is None else w.shape}; the fit needs y ({c}, {self.q}) and "
                f"weights ({c},) or none"
            )

    def __call__(
        self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(Q (c, r), Ẽ (c, q)) of a chunk: views of a per-thread buffer, valid until the next
        call on this thread (the blocks were checked whole by :func:`row_pass`; the product
        itself refuses a chunk of another width)."""
        c = X.shape[0]
        sc = self.scratch(c)
        T = sc.T
        T[...] = self.offset
        # Every product is a dgemm through SciPy's Cython BLAS (the GIL released) in the
        # operand layouts OpenBLAS sends to its small-matrix kernel at these sizes (_chunk_rows),
        # which runs on the calling thread: no BLAS thread is ever woken, so the pool of
        # row_pass is the only parallelism. (Measured on the busy 2-core machine: the same
        # (12 x 10) x (10 x 8,192) product took 26 ms in the other layout, 0.09 ms in this one;
        # the meat Bᵀ Q with B column-major ("TN") leaves that kernel once r² > 1,200: (256, 51)
        # took 64 ms, with B row-major 0.035 ms.)
        if not self._product(sc, X):
            if self.row_major:
                gemm_tn(T.T, self.M, X.T)  # Tᵀ (r + q, c) = Mᵀ Xᵀ: "NN"
            else:
                gemm_tn(T, X.T, self.M)  # (c, r + q): Q and minus the fitted values
        E = sc.E
        E += Y  # residuals
        if w is not None:
            T *= np.sqrt(w)[:, None]  # rotated wexog and wresid together
        return sc.Q, E


class ChunkScratch:
    """One thread's buffers for chunks of ``c`` rows: ``T = [Q | Ẽ]`` (c, r + q) in the row
    map's layout, its address, and (c,) vectors for leverages and row weights; with ``within``,
    views of the start of that (larger) scratch's memory."""

    __slots__ = ("E", "Q", "T", "c", "d", "flat", "h", "s", "t_ptr", "vectors")

    def __init__(
        self, c: int, r: int, q: int, order: str, within: ChunkScratch | None = None
    ) -> None:
        size = c * (r + q)
        self.c = c
        self.flat: np.ndarray = np.empty(size) if within is None else within.flat[:size]
        self.vectors: np.ndarray = np.empty((3, c)) if within is None else within.vectors[:, :c]
        self.T: np.ndarray = self.flat.reshape((c, r + q), order=order)  # type: ignore[call-overload]
        self.t_ptr = self.T.ctypes.data
        self.Q, self.E = self.T[:, :r], self.T[:, r:]
        self.h: np.ndarray = self.vectors[0]
        self.d: np.ndarray = self.vectors[1]
        self.s: np.ndarray = self.vectors[2]


Span = tuple[int, np.ndarray, np.ndarray, np.ndarray | None]


def row_pass(
    blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    rows: RowMap,
    work: Callable[[int, np.ndarray, np.ndarray, np.ndarray | None], Any],
    *,
    n_threads: int | None = None,
    on_block: Callable[[np.ndarray, np.ndarray, np.ndarray | None], None] | None = None,
    finish: Callable[[list[Any]], Any] | None = None,
) -> list[Any]:
    """``work(start, Q, Ẽ, w)`` on every chunk of rows, on a thread pool; results in row order.

    ``start`` is the chunk's first row (counted over all blocks). ``Q`` and ``Ẽ`` are the
    chunk's views from ``rows`` (copy what outlives the call). Blocks are cut into spans of
    ``_SPAN_CHUNKS`` chunks, one pool task each; at most two spans per thread are in flight, so
    memory is bounded by that many blocks. ``on_block(X, Y, w)`` sees each block as it is read
    (in the calling thread). With ``finish``, the results of a span's chunks (a list, in row
    order) are reduced by ``finish`` on the worker thread and one result per span is returned.
    The order of the returned results does not depend on the threads.
    """
    chunk = rows.chunk
    start = 0

    def spans() -> Iterator[Span]:
        nonlocal start
        for block in blocks:
            X, Y, w = float_block(*block)
            rows.check(X, Y, w)  # whole blocks: a longer Y or w would be cut silently below
            if on_block is not None:
                on_block(X, Y, w)
            step = chunk * _SPAN_CHUNKS
            for s in range(0, X.shape[0], step):
                sl = slice(s, s + step)
                yield start + s, X[sl], Y[sl], None if w is None else w[sl]
            start += X.shape[0]

    def run_span(span: Span) -> list[Any]:
        first, X, Y, w = span
        out = []
        for s in range(0, X.shape[0], chunk):
            ws = None if w is None else w[s : s + chunk]
            Q, E = rows(X[s : s + chunk], Y[s : s + chunk], ws)
            out.append(work(first + s, Q, E, ws))
        return out if finish is None else [finish(out)]

    results: list[Any] = []
    workers = n_workers(n_threads)
    if workers <= 1:
        for span in spans():
            results.extend(run_span(span))
        return results
    # a sliding window of at most 2 spans per thread, taken in row order: a thread that is
    # descheduled (a busy machine) delays only its own span, not a whole round of them
    pending: deque[Future[list[Any]]] = deque()
    with ThreadPoolExecutor(workers) as pool:
        try:
            for span in spans():
                pending.append(pool.submit(run_span, span))
                del span  # the pool holds it until it is done, no longer
                if len(pending) >= 2 * workers:
                    results.extend(pending.popleft().result())
            while pending:
                results.extend(pending.popleft().result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results


def float_block(X: Any, Y: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A source's block as float64 arrays (no copy when they already are: views keep their
    strides), or InputTypeError for values that are not numbers."""
    try:
        return (
            np.asarray(X, dtype=np.float64),
            np.asarray(Y, dtype=np.float64),
            None if w is None else np.asarray(w, dtype=np.float64),
        )
    except (TypeError, ValueError) as exc:
        raise InputTypeError(
            f"a block of the data holds values that are not numbers ({exc})"
        ) from None


class _MeatSums:
    """One thread's sums over the chunks of its current span (a span is summed by one thread,
    in row order, so the result does not depend on the threads)."""

    def __init__(self, r: int, q: int) -> None:
        self.ext = np.zeros((r, r + 1), order="F")  # one meat and QᵀẼ from one product
        self.ext_ptr = self.ext.ctypes.data
        self.meats = np.zeros((q, 3, r, r), order="F")
        self.qte = np.zeros((r, q), order="F")
        self.ssr = np.zeros(q)
        self.max_h = 0.0
        self.fused = False

    def take(self, slot: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(meats (q, 3, r, r), ssr (q,), QᵀẼ (r, q), max_h) of the span; the sums restart."""
        r = self.qte.shape[0]
        meats, qte = self.meats.copy(), self.qte.copy()
        if self.fused and slot is not None:
            upper = np.triu(self.ext[:, :r])  # blocks below the diagonal were not computed
            meats[0, slot] += upper + np.triu(upper, 1).T
            qte[:, 0] += self.ext[:, r]
        out = (meats, self.ssr.copy(), qte, self.max_h)
        for acc in (self.ext, self.meats, self.qte, self.ssr):
            acc[...] = 0.0
        self.max_h, self.fused = 0.0, False
        return out


def _meat_work(
    rows: RowMap, kinds: tuple[str, ...]
) -> tuple[Callable[..., None], Callable[[list[Any]], tuple[Any, ...]]]:
    """(work, finish) for :func:`row_pass`: per chunk the requested HC meats, ssr, ``QᵀẼ`` and
    the largest leverage, added to the thread's sums; per span those sums."""
    r, q = rows.r, rows.q
    slots = [_SLOT[k] for k in kinds]
    # One output and one kind: the meat is (Q diag(s))ᵀ(Q diag(s)) with the chunk's Q scaled in
    # place by sᵢ = ẽᵢ (1 - hᵢ)^(-slot/2), and the residual column overwritten by ẽᵢ / sᵢ =
    # (1 - hᵢ)^(slot/2), so that one product (Q diag(s))ᵀ [Q diag(s) | ẽ/s] gives the meat and
    # QᵀẼ together (no copy of Q, no second product). A chunk with a leverage of 1 (s infinite)
    # takes the general way, which keeps QᵀẼ finite.
    slot1 = slots[0] if q == 1 and len(slots) == 1 and not rows.row_major else None
    blocks = tn_blocks(r)
    local = threading.local()

    def sums() -> _MeatSums:
        acc = getattr(local, "acc", None)
        if acc is None:
            acc = local.acc = _MeatSums(r, q)
        return acc

    def work(_start: int, Q: np.ndarray, E: np.ndarray, _w: np.ndarray | None) -> None:
        acc = sums()
        c = Q.shape[0]
        sc = rows.scratch(c)  # Q and E are its views
        h, d = sc.h, sc.d
        np.einsum("ij,ij->i", Q, Q, out=h)  # (c,) leverages
        max_h = float(np.maximum.reduce(h)) if c else 0.0
        acc.max_h = max(acc.max_h, max_h)
        if slot1 is not None and max_h < 1.0:
            s, e = sc.s, E[:, 0]
            acc.ssr[0] += np.dot(e, e)
            if slot1 == 0:
                np.copyto(s, e)
                d.fill(1.0)
            else:
                np.subtract(1.0, h, out=d)
                if slot1 == 1:
                    np.sqrt(d, out=d)
                np.divide(e, d, out=s)
            Q *= s[:, None]  # rows sᵢ Qᵢ (Q is this chunk's scratch)
            np.copyto(e, d)  # the residual column becomes ẽᵢ / sᵢ
            # (r, r + 1) += (Q diag(s))ᵀ [Q diag(s) | ẽ/s]: the meat's upper block triangle and
            # QᵀẼ, in blocks of rows the small-matrix kernel takes
            t, ext = sc.t_ptr, acc.ext_ptr
            for first, m in blocks:
                a = t + 8 * first * c  # column `first` of the chunk
                if not dgemm_raw(
                    "T", "N", m, r + 1 - first, c, a, c, a, c, ext + 8 * (first * r + first), r
                ):
                    gemm_tn(
                        acc.ext[first : first + m, first:],
                        Q[:, first : first + m],
                        sc.T[:, first : r + 1],
                    )  # pragma: no cover
            acc.fused = True
            return
        acc.ssr += np.einsum("ij,ij->j", E, E)
        gemm_tn(acc.qte, Q, E)
        B = rows.buffer("B", (c, r), rows.b_order)
        a = rows.buffer("a", (c,))
        with np.errstate(divide="ignore", invalid="ignore"):  # leverage 1: HC2/HC3 inf / NaN
            if slots != [0]:
                np.subtract(1.0, h, out=d)
                np.divide(1.0, d, out=d)
            for j in range(q):
                np.multiply(E[:, j], E[:, j], out=a)  # HC0 row weights ẽᵢ²
                power = 0
                for slot in slots:  # HC2: ẽᵢ² / (1 - hᵢ), HC3: ẽᵢ² / (1 - hᵢ)²
                    while power < slot:
                        a *= d
                        power += 1
                    np.multiply(Q, a[:, None], out=B)
                    gemm_tn(acc.meats[j, slot], B, Q)  # (r, r) = Qᵀ diag(a) Q over the chunk

    def finish(_parts: list[Any]) -> tuple[Any, ...]:
        return sums().take(slot1)

    return work, finish


def residual_pass(
    blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    params: np.ndarray,
    R_x: np.ndarray,
    shift_x: np.ndarray,
    kept: np.ndarray,
    fit_intercept: bool,
    *,
    n_threads: int | None = None,
    kinds: Iterable[str] = HC_MEATS,
) -> ResidualPass:
    """Stream row blocks once: residuals at ``params``, leverages and the HC meats.

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
    kinds : iterable of {"HC0", "HC1", "HC2", "HC3"}, default all
        The covariances whose meats to accumulate; the others are left NaN (each meat is one
        (r x r) product per chunk, the bulk of the pass: one kind costs about half of three).

    Notes
    -----
    Blocks are cut into chunks (:func:`_chunk_rows`), evaluated by a thread pool (NumPy and BLAS
    release the GIL) and summed in row order, so the result does not depend on the number of
    threads.
    """
    kinds = meat_kinds(kinds)
    r, q = R_x.shape[0], params.shape[1]
    rows = RowMap(
        params, R_x, shift_x, kept, fit_intercept, row_major=row_major_for(r, q, len(kinds)),
        split=q == 1 and len(kinds) == 1,
    )  # fmt: skip
    sum_log_w = 0.0
    nobs = 0

    def count(X: np.ndarray, _Y: np.ndarray, w: np.ndarray | None) -> None:
        nonlocal sum_log_w, nobs
        if w is not None:
            pos = w > 0
            sum_log_w += float(np.log(w[pos]).sum())
            nobs += int(np.count_nonzero(pos))
        else:
            nobs += X.shape[0]

    work, finish = _meat_work(rows, kinds)
    parts = row_pass(blocks, rows, work, n_threads=n_threads, on_block=count, finish=finish)
    meats = np.zeros((q, 3, r, r))
    ssr = np.zeros(q)
    QtE = np.zeros((r, q))
    max_h = 0.0
    for m, s, qe, mh in parts:  # one per span, summed in row order: deterministic
        meats += m
        ssr += s
        QtE += qe
        max_h = max(max_h, mh)
    for kind in HC_MEATS:
        if kind not in kinds:
            meats[:, _SLOT[kind]] = np.nan
    # Z̃ᵀẼ = Rᵀ (Qᵀ Ẽ): the gradient's pieces in shifted coordinates
    return ResidualPass(meats, ssr, sum_log_w, nobs, max_h, R_x.T @ QtE, kinds)
