"""Blocks folded on every core: a thread pool over row blocks, states merged in block order.

LAPACK releases the GIL, so threads fold blocks truly in parallel while the main thread reads
the next ones (from memory, files or anything with ``blocks()``). Each block becomes its own
QR state and the states are merged in the order the blocks came, so the result is the same
for every ``n_jobs`` (the same floating-point operations in the same order): threads change
when a block is folded, never how. Inside the pool OpenBLAS runs one thread per worker
(threadpoolctl), so two workers never start four BLAS threads on two cores.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DimensionError, InputTypeError
from ..solve import QRState
from ..solve._blas import default_workers, one_blas_thread, usable_cpus
from ._fold import fold_arrays, merge_states

__all__ = ["BLOCK_ROWS", "ParallelSource", "fit_state_threaded", "fold_in_pool", "parallel"]

BLOCK_ROWS = 65536  # rows per task: ~11 MB at k = 22, large enough that a task dwarfs its overhead

Block = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _n_workers(n_jobs: int | None) -> int:
    if n_jobs is None:
        return default_workers()
    if n_jobs == -1:
        return usable_cpus()
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise InputTypeError(f"n_jobs={n_jobs!r} is not accepted; use a positive int, -1 or None")
    return int(n_jobs)


def _as_block(block: Block) -> Block:
    X, Y, w = block
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    return X, Y, None if w is None else np.asarray(w, dtype=np.float64)


def _array_blocks(
    X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, block_rows: int
) -> Iterator[Block]:
    for start in range(0, X.shape[0], block_rows):
        sl = slice(start, start + block_rows)
        yield X[sl], Y[sl], None if w is None else w[sl]


def _blocks_of(source_or_arrays: Any, block_rows: int) -> tuple[Iterator[Block], int, int]:
    """(block iterator, n_features, n_outputs) of a block source or an (X, Y[, w]) tuple."""
    if isinstance(source_or_arrays, (tuple, list)):
        if len(source_or_arrays) not in (2, 3):
            raise InputTypeError("pass (X, Y) or (X, Y, sample_weight) arrays, or a block source")
        X, Y, w = _as_block((*source_or_arrays, None)[:3])
        if X.ndim != 2 or Y.shape[0] != X.shape[0]:
            raise DimensionError(f"X {X.shape} and Y {Y.shape} must be (n, p) and (n, q)")
        return _array_blocks(X, Y, w, block_rows), X.shape[1], Y.shape[1]
    if not hasattr(source_or_arrays, "blocks"):
        raise InputTypeError(
            f"{type(source_or_arrays).__name__} is not a block source (it has no blocks() "
            "method); pass arrays (X, Y) or a source such as olsnet.read(...)"
        )
    src = source_or_arrays
    return src.blocks(), int(src.n_features), int(src.n_outputs)


def fit_state_threaded(
    source_or_arrays: Any,
    fit_intercept: bool,
    n_jobs: int | None = None,
    *,
    block_rows: int = BLOCK_ROWS,
) -> QRState:
    """QR state of all rows, folding blocks on ``n_jobs`` threads and merging in block order.

    Parameters
    ----------
    source_or_arrays : block source or tuple
        Anything with ``blocks()`` (yielding ``(X (b, p), Y (b, q), w (b,) or None)``) and
        ``n_features``, ``n_outputs``; or a tuple ``(X (n, p), Y (n, q), w (n,) or None)``,
        cut into blocks of ``block_rows`` rows.
    fit_intercept : bool
    n_jobs : int or None, default=None
        Worker threads; None for the CPUs this process may use (at most 8), -1 for all of them.
    block_rows : int, default=65536
        Rows per task for array input (a source decides its own block sizes).

    Returns
    -------
    QRState

    Notes
    -----
    At most ``2 * n_jobs`` blocks are in flight, so memory stays bounded by a few blocks
    whatever the number of rows. The merge order is the block order, so the state does not
    depend on ``n_jobs``.
    """
    blocks, p, q = _blocks_of(source_or_arrays, block_rows)

    def fold(block: Block) -> QRState:
        X, Y, w = _as_block(block)
        return fold_arrays(X, Y, w, fit_intercept)

    tasks = (functools.partial(fold, block) for block in blocks)
    return fold_in_pool(tasks, QRState.empty(p, q, fit_intercept), n_jobs)


def fold_in_pool(
    tasks: Iterator[Callable[[], QRState]],
    total: QRState,
    n_jobs: int | None,
    max_in_flight: int | None = None,
) -> QRState:
    """Run the fold ``tasks`` on ``n_jobs`` threads; merge their states into ``total`` in order.

    The iterator is advanced in the calling thread (reading the next block overlaps the folds)
    and at most ``2 * n_jobs`` tasks, and no more than ``max_in_flight``, are in flight, so
    memory is bounded by that many blocks. An error in a task or in the iterator cancels what
    is pending and propagates; no state is returned.
    """
    workers = _n_workers(n_jobs)
    limit = 2 * workers if max_in_flight is None else max(1, min(2 * workers, max_in_flight))
    workers = min(workers, limit)
    with one_blas_thread():
        if workers == 1:
            for task in tasks:
                total = merge_states(total, task())
            return total
        pending: deque[Future[QRState]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="olsnet-fold") as pool:
            try:
                for task in tasks:
                    pending.append(pool.submit(task))
                    if len(pending) >= limit:  # bounded: wait for the oldest block
                        total = merge_states(total, pending.popleft().result())
                while pending:
                    total = merge_states(total, pending.popleft().result())
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
    return total


@dataclass(frozen=True)
class ParallelSource:
    """A block source whose ``fit_state`` folds its blocks on a thread pool.

    Everything else (names, ``blocks()`` for the second pass) is the wrapped source's.
    """

    source: Any
    n_jobs: int | None = None

    def __getattr__(self, name: str) -> Any:  # names, n_features, ... of the wrapped source
        if name.startswith("__") or name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    def blocks(self) -> Iterator[Block]:
        return self.source.blocks()

    def fit_state(self, fit_intercept: bool) -> QRState:
        from .stream import file_state, is_plain_file_source

        if is_plain_file_source(self.source):  # Arrow columns straight into the fold
            return file_state(self.source, fit_intercept, self.n_jobs)
        return fit_state_threaded(self.source, fit_intercept, self.n_jobs)


def parallel(source: Any, n_jobs: int | None = None) -> Any:
    """``source`` with a ``fit_state`` that folds its blocks on ``n_jobs`` threads.

    Parameters
    ----------
    source : block source
        In-memory (``olsnet.data.ArraySource``), a file source (``olsnet.read``) or any object
        with ``blocks()``. A source that already has ``fit_state`` (dask) is returned as is.
    n_jobs : int or None, default=None
        Worker threads; None for the CPUs this process may use (at most 8), -1 for all of them.

    Returns
    -------
    block source
        ``LinearRegression().fit(parallel(source))`` fits with every core.
    """
    if hasattr(source, "fit_state"):
        return source
    _n_workers(n_jobs)
    return ParallelSource(source, n_jobs)
