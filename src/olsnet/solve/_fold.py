"""The fast fold of a block of rows into a QR state: LAPACK ``dtpqrt`` on cache-sized chunks.

(Moved here from ``olsnet.scale._fold``: ``solve`` owns every kernel.)

``QRState.fold`` stacks ``[R; A]`` and calls ``geqrf`` on the whole block. For tall, narrow
blocks (k ≈ 20 columns) ``geqrf`` runs unblocked (its block size exceeds k) and sweeps the whole
block from memory once per column. Here each chunk (:func:`qr_chunk` rows) is written straight into
a reused, Fortran-ordered buffer (augmented, shifted, weighted) and folded with ``dtpqrt``, the
LAPACK routine for the QR of a triangle on top of a rectangle ``[R; B]`` (Elmroth & Gustavson
2000), so ``R`` is updated in place and the chunk stays in cache. Measured on 1,000,000 x 22
(one core): 0.94 s for ``QRState.fold`` on 65,536-row blocks, 0.15 s here, with the same R to
2e-15 relative (the benchmark ``benchmarks/bench_scale.py`` has the table).

The result is the same Householder QR (backward stable, no normal equations), so states folded
here merge with any other ``QRState``. The streaming file fold may instead take the Gram kernel
(``kernel="gram"``: ``BᵀB`` by ``dgemm`` on aligned chunks, then Cholesky), which the caller
checks by the condition number of the result (``olsnet.data`` file folds,
``FILE_GRAM_MAX_COND``). Both call LAPACK / BLAS
through ``olsnet.solve._blas`` with the GIL released, so folds on a thread pool run in parallel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..errors import DataError
from ._blas import SMP_THRESHOLD, ChunkQR, GramAccumulator, gram_chunk_rows
from ._kernels import GramNotDefinite, gram_to_r, panel_for, sign_rows
from ._state import QRState

__all__ = [
    "CHUNK_ROWS",
    "GramNotDefinite",
    "NonFiniteError",
    "fold_arrays",
    "fold_columns",
    "merge_states",
    "nonfinite_at",
]

# (2048, 22) doubles = 0.35 MB: the chunk stays in L2 while dtpqrt sweeps it, and dtpqrt's
# level-2 calls (2048 x PANEL entries) stay under OpenBLAS's threading threshold (9,216): folds
# of narrow designs on a thread pool never start BLAS threads, with no process-global limit
# needed. Wide designs (k >= 128, a factor of many levels) take level-3 panels (panel_for).
CHUNK_ROWS = 2048
# Narrow designs (k < NARROW_MAX_K) fold larger chunks with a narrower panel: dtpqrt's level-2
# calls are (rows x (nb - 1)) and its dgemm nb x (k - nb) x rows, so with nb = 2 a chunk of up to
# 8,192 rows (4,096 kept here, 0.7 MB at k = 22: in L2) stays on the calling thread. Fewer chunks
# mean fewer Python steps under the GIL per row, which limit a fold on 16 threads (at k = 22 a
# 2,048-row chunk spent 22 µs outside its fill and dtpqrt -- the ones column, the sums, the NaN
# check, tpqrt's work arrays -- against ~115 µs in dtpqrt; now 4,096 rows cost one sum and one
# foreign call, and NaN is looked for once per fold).
# Measured one (m, k = 22) chunk on the 2-core machine, ns per row: nb 4 at 2,048 rows 57-85,
# nb 2 at 4,096 / 6,544 rows 65 / 54-62, nb 3 at 4,096 rows 55-63 (noisy, loaded machine).
NARROW_MAX_K = 64
NARROW_PANEL = 2
NARROW_CHUNK_ROWS = 4096
LEVEL2_SINGLE = 8192  # OpenBLAS runs dger up to m·n = 8,192 (dgemv up to 9,215) on the caller
# The Gram fold fills its buffer from Arrow columns one column at a time (a Python step each, the
# GIL held): 4 small-kernel chunks a fill (8,192 rows at k = 22, 1.4 MB: in L2) cut those steps
# per row by 4; a fill stays within GRAM_FILL_BYTES.
GRAM_FILL_CHUNKS = 4
GRAM_FILL_BYTES = 2 << 20


def qr_chunk(k: int) -> tuple[int, int]:
    """(rows per chunk, dtpqrt panel) for folding k columns: every BLAS call inside ``dtpqrt``
    small enough that OpenBLAS runs it on the calling thread (folds run on a thread pool)."""
    if k >= NARROW_MAX_K:
        return CHUNK_ROWS, panel_for(k)
    nb = max(1, min(NARROW_PANEL, k))
    rows = NARROW_CHUNK_ROWS if nb == 1 else min(NARROW_CHUNK_ROWS, LEVEL2_SINGLE // (nb - 1))
    if k > nb:
        rows = min(rows, SMP_THRESHOLD // (nb * (k - nb)))
    return max(8, rows // 8 * 8), nb


SQUARES_OVERFLOW = (
    "the block's values are finite but their squares overflow float64; rescale the columns"
)

Weights = np.ndarray | None

_buffers = threading.local()  # one work buffer per thread: the folds run on a thread pool


def _chunk_qr(rows: int, k: int, nb: int) -> ChunkQR:
    """This thread's chunk QR for (rows, k) chunks and panel nb, with R set to zero."""
    qr = getattr(_buffers, "qr", None)
    if qr is None or qr.buf.shape != (rows, k) or qr._nb != nb:
        qr = _buffers.qr = ChunkQR(rows, k, nb)
    qr.R[...] = 0.0
    return qr


def _accumulator(rows: int, k: int) -> GramAccumulator:
    """This thread's Gram accumulator for (rows, k) chunks, with G set to zero."""
    acc = getattr(_buffers, "gram", None)
    if acc is None or acc.buf.shape != (rows, k):
        acc = _buffers.gram = GramAccumulator(rows, k)
    acc.G[...] = 0.0
    return acc


def nonfinite_at(X: np.ndarray, Y: np.ndarray) -> tuple[int, str, int] | None:
    """(row, "X" or "y", column) of the first NaN / inf in the block, or None when all finite."""
    for what, M in (("X", X), ("y", Y)):
        if np.isfinite(M.sum(axis=0)).all():  # cheap screen, as in olsnet.data
            continue
        bad = ~np.isfinite(M)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            i = int(rows[0])
            return i, what, int(np.flatnonzero(bad[i])[0])
    return None


def fold_arrays(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    fit_intercept: bool,
    chunk_rows: int | None = None,
    shift: np.ndarray | None = None,
) -> QRState:
    """QR state of the rows ``X`` (b, p), ``Y`` (b, q) with weights ``w`` (b,) or None.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    w : ndarray of shape (n_samples,) or None
        Non-negative weights; rows of weight zero add nothing to R and are not counted in nobs.
    fit_intercept : bool
    chunk_rows : int, optional
        Rows per chunk; default :func:`qr_chunk` (from the width).
    shift : ndarray of shape (n_features + n_outputs,), optional
        Column offsets subtracted first (with an intercept only; see ``olsnet.solve.QRState``).

    Returns
    -------
    QRState
        With ``shift`` zero unless one is given (states merge whatever their shifts).

    Raises
    ------
    NonFiniteError
        A NaN or inf in X or y (a DataError naming the block's row and column).

    Notes
    -----
    For ``A = sqrt(w) [1, X, Y]`` the returned ``R`` satisfies ``AᵀA = RᵀR`` with ``R`` upper
    triangular and ``diag(R) >= 0``.
    """
    p = X.shape[1]
    c = shift if fit_intercept and shift is not None else None

    def fill(B: np.ndarray, start: int, stop: int) -> None:
        if c is None:
            B[:, :p] = X[start:stop]
            B[:, p:] = Y[start:stop]
        else:
            np.subtract(X[start:stop], c[:p], out=B[:, :p])
            np.subtract(Y[start:stop], c[p:], out=B[:, p:])

    state = _fold(X.shape[0], p, Y.shape[1], fill, w, fit_intercept, chunk_rows)
    return state if c is None else replace(state, shift=np.asarray(c, dtype=np.float64))


def fold_columns(
    columns: Sequence[np.ndarray],
    n_features: int,
    w: np.ndarray | None,
    fit_intercept: bool,
    chunk_rows: int | None = None,
    kernel: str = "qr",
) -> QRState:
    """QR state of rows given column by column: ``columns`` holds the p feature columns, then
    the q target columns, each (b,) float64 (e.g. zero-copy views of Arrow arrays), so no
    (b, p) row-major copy is made. Otherwise as :func:`fold_arrays`."""
    n = columns[0].shape[0] if columns else 0

    def fill(B: np.ndarray, start: int, stop: int) -> None:
        for j, col in enumerate(columns):
            B[:, j] = col[start:stop]

    return _fold(
        n, n_features, len(columns) - n_features, fill, w, fit_intercept, chunk_rows, kernel
    )


class NonFiniteError(DataError):
    """A NaN or inf in a block; ``row`` (in the block) and ``column`` (0..p+q-1) locate it."""

    def __init__(self, row: int, column: int, n_features: int) -> None:
        what = "X" if column < n_features else "y"
        j = column if column < n_features else column - n_features
        super().__init__(
            f"{what} column {j} has a NaN or inf at row {row} of this block; clean the data or "
            "drop the rows (missing='drop' applies to in-memory data and olsnet.read)"
        )
        self.row = row
        self.column = column


Fill = Callable[[np.ndarray, int, int], None]  # fill(B, start, stop): rows start..stop into B


def _fold(
    n: int,
    p: int,
    q: int,
    fill: Fill,
    w: Weights,
    fit_intercept: bool,
    chunk_rows: int | None,
    kernel: str = "qr",
) -> QRState:
    """The fold: ``fill(B, start, stop)`` writes rows start..stop of [X Y] into B (b, p + q).

    ``kernel="gram"`` accumulates ``BᵀB`` instead (a third of the work, see :func:`_fold_gram`)
    and ends with a Cholesky factor; it raises :class:`GramNotDefinite` when that factor would
    be inaccurate. The caller checks the condition number of the final state (see
    ``olsnet.data`` file folds).
    """
    if kernel == "gram":
        return _fold_gram(n, p, q, fill, w, fit_intercept)
    k0 = int(fit_intercept)
    k = k0 + p + q
    rows, nb = qr_chunk(k) if chunk_rows is None else (chunk_rows, panel_for(k))
    qr = _chunk_qr(max(8, min(rows, n)), k, nb)
    buf = qr.buf
    Z = buf[:, k0:]  # the [X Y] part of the chunk buffer
    starts = range(0, n, rows)
    sums = np.zeros((len(starts), p + q))  # each chunk's column sums (summed at the end)
    # Per chunk: fill, sum, one foreign call; NaN and inf are looked for once, at the end (they
    # make the sums non-finite), so a chunk costs a few Python steps under the GIL.
    for i, start in enumerate(starts):
        stop = min(start + rows, n)
        b = stop - start
        if fit_intercept:
            buf[:b, 0] = 1.0
        fill(Z[:b], start, stop)
        if w is None:
            np.sum(Z[:b], axis=0, out=sums[i])
        else:
            sw = np.sqrt(w[start:stop])  # (b,)
            buf[:b] *= sw[:, None]
            # Σ w z = Σ sqrt(w) (sqrt(w) z), by NumPy's own loop: a BLAS gemv of this size
            # (b x (p + q) > 9,216) would wake OpenBLAS's threads from every worker
            np.einsum("i,ij->j", sw, Z[:b], out=sums[i])
        qr.fold(b)  # in place, the GIL released
    zsum = sums.sum(axis=0)
    if not np.isfinite(zsum).all():  # a NaN / inf (or an overflowing sum) somewhere
        _locate_nonfinite(n, p, q, fill, rows)
        raise DataError(
            "these rows hold values so large that their sums overflow float64; rescale the columns"
        )
    return _state_of(qr.R.copy(), p, q, w, n, fit_intercept, zsum)


def _fold_gram(n: int, p: int, q: int, fill: Fill, w: Weights, fit_intercept: bool) -> QRState:
    """Gram-matrix fold: ``G = BᵀB`` of ``B = sqrt(w) [1, X, Y]`` by chunks, then Cholesky.

    The column of ones is always there: ``G[0, 1:]`` holds the (weighted) column sums, so no
    separate sum is taken, and a NaN or inf anywhere reaches the diagonal of ``G``, which is
    checked once at the end (only then are the chunks searched for the row). Chunks are sized
    so that ``dgemm`` takes OpenBLAS's small-matrix kernel.
    """
    k = 1 + p + q
    chunk_rows = gram_chunk_rows(k, 256, CHUNK_ROWS)
    # the buffer is filled GRAM_FILL_CHUNKS chunks at a time (a fill from Arrow columns is one
    # Python step per column, under the GIL) and added chunk by chunk (the small kernel)
    fill_rows = chunk_rows * max(1, min(GRAM_FILL_CHUNKS, GRAM_FILL_BYTES // (8 * k * chunk_rows)))
    acc = _accumulator(fill_rows, k)
    buf = acc.buf
    buf[:, 0] = 1.0
    for start in range(0, n, fill_rows):
        stop = min(start + fill_rows, n)
        B = buf[: stop - start]
        fill(B[:, 1:], start, stop)
        if w is not None:
            B[:, 0] = np.sqrt(w[start:stop])
            B[:, 1:] *= B[:, :1]
        for at in range(0, stop - start, chunk_rows):
            acc.add(min(chunk_rows, stop - start - at), at)
    G = acc.G.copy()
    if not np.isfinite(np.diagonal(G)).all():  # a NaN / inf, or squares that overflow
        _locate_nonfinite(n, p, q, fill, chunk_rows)
        raise GramNotDefinite  # finite values whose squares overflow: the QR fold takes them
    zsum = G[0, 1:].copy()
    if not fit_intercept:
        G = G[1:, 1:]
    R = gram_to_r(G) if n > 0 else np.zeros_like(G)
    return _state_of(R, p, q, w, n, fit_intercept, zsum)


def _locate_nonfinite(n: int, p: int, q: int, fill: Fill, chunk_rows: int) -> None:
    """Raise for the first non-finite value of the block (the error path: a second sweep);
    return when every value is finite (then sums or squares overflowed)."""
    buf = np.empty((min(chunk_rows, n), p + q), order="F")
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        B = buf[: stop - start]
        fill(B, start, stop)
        if not np.isfinite(B).all():
            _raise_nonfinite(B, start, p)


def _state_of(
    R: np.ndarray, p: int, q: int, w: Weights, n: int, fit_intercept: bool, zsum: np.ndarray
) -> QRState:
    """QRState of a folded block: R signed with diag >= 0, shift zero."""
    if not np.isfinite(R).all():
        raise DataError(SQUARES_OVERFLOW)
    R = sign_rows(R)  # diag >= 0, as qr_r signs it
    nobs = n if w is None else int(np.count_nonzero(w))
    sum_w = float(n if w is None else w.sum())
    return QRState(np.ascontiguousarray(R), np.zeros(p + q), p, q, fit_intercept, nobs, sum_w, zsum)


def merge_states(a: QRState, b: QRState) -> QRState:
    """``a.merge(b)`` (kept under this name for the folds that import it)."""
    return a.merge(b)


def _raise_nonfinite(B: np.ndarray, start: int, p: int) -> None:
    bad = ~np.isfinite(B)  # (b, p + q) of the chunk (weighted: a NaN stays NaN)
    if not bad.any():
        raise DataError(
            f"rows from {start} of this block hold values so large that their sums overflow "
            "float64; rescale the columns"
        )
    i = int(np.flatnonzero(bad.any(axis=1))[0])
    raise NonFiniteError(start + i, int(np.flatnonzero(bad[i])[0]), p)
