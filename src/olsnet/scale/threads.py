"""Blocks folded on every core: arrays or any source's blocks on a thread pool, merged in order.

The pool and the merge rule are ``olsnet.solve._pool``; this module only cuts arrays into
tasks. The state is the same for every ``n_jobs`` (merged in block order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DimensionError, InputTypeError
from ..solve import QRState
from ..solve._pool import Block, OnBatch, fold_blocks, fold_in_pool, n_workers

__all__ = ["BLOCK_ROWS", "fit_state_threaded", "fold_in_pool"]

# Rows per task: ~23 MB at k = 22 (views, not copies). The calling thread submits and merges
# each task under the GIL (~60 µs a merge at k = 22): with 16 workers and 2^16-row tasks (5-10 ms
# each) that was 10-20% of the GIL; 2^17 halves it, and 4M rows still make 31 tasks (2 rounds on
# 16 threads). Fixed, not derived from n_jobs, so the state is the same for every n_jobs.
BLOCK_ROWS = 131072


def _array_blocks(
    X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, block_rows: int
) -> Iterator[Block]:
    for start in range(0, X.shape[0], block_rows):
        sl = slice(start, start + block_rows)
        yield X[sl], Y[sl], None if w is None else w[sl]


def fit_state_threaded(
    source_or_arrays: Any,
    fit_intercept: bool,
    n_jobs: int | None = None,
    *,
    block_rows: int = BLOCK_ROWS,
    on_batch: OnBatch | None = None,
) -> QRState:
    """QR state of all rows, folding blocks on ``n_jobs`` threads and merging in block order.

    Parameters
    ----------
    source_or_arrays : Source or tuple
        A :class:`olsnet.data.Source` (its ``blocks()`` are folded; use ``source.fit_state``
        for the source's own fastest fold), or a tuple ``(X (n, p), Y (n, q)[, w (n,)])``, cut
        into blocks of ``block_rows`` rows.
    fit_intercept : bool
    n_jobs : int or None, default=None
        Worker threads; None for the CPUs this process may use (at most 8), -1 for all of them.
    block_rows : int, default=131072
        Rows per task for array input (a source decides its own block sizes).
    on_batch : callable, optional
        ``on_batch(rows, bytes)`` after each block is read.

    Returns
    -------
    QRState

    Raises
    ------
    InputTypeError
        Neither arrays nor a block source, or a bad ``n_jobs``.
    DimensionError
        Arrays whose shapes do not line up.

    Notes
    -----
    At most ``2 * n_jobs`` blocks are in flight, so memory stays bounded by a few blocks
    whatever the number of rows. The merge order is the block order, so the state does not
    depend on ``n_jobs``.
    """
    n_workers(n_jobs)  # a bad n_jobs fails before any work
    if isinstance(source_or_arrays, (tuple, list)):
        if len(source_or_arrays) not in (2, 3):
            raise InputTypeError("pass (X, Y) or (X, Y, sample_weight) arrays, or a block source")
        X, Y, w = (*source_or_arrays, None)[:3]
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        w = None if w is None else np.asarray(w, dtype=np.float64)
        if X.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise DimensionError(f"X {X.shape} and Y {Y.shape} must be (n, p) and (n, q)")
        blocks, p, q = _array_blocks(X, Y, w, block_rows), X.shape[1], Y.shape[1]
    elif hasattr(source_or_arrays, "blocks"):
        src = source_or_arrays
        blocks, p, q = src.blocks(), int(src.n_features), int(src.n_outputs)
    else:
        raise InputTypeError(
            f"{type(source_or_arrays).__name__} is not a block source (it has no blocks() "
            "method); pass arrays (X, Y) or a source such as olsnet.read(...)"
        )
    return fold_blocks(blocks, p, q, fit_intercept, n_jobs=n_jobs, on_batch=on_batch)
