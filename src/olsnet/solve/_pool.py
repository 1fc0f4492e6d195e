"""Folds on a thread pool: tasks that each return a QR state, merged in the order they came.

LAPACK and BLAS release the GIL (``olsnet.solve._blas``), so threads fold blocks truly in
parallel while the calling thread reads the next ones. The states are merged in task order, so
the result is the same for every ``n_jobs`` (the same floating-point operations in the same
order): threads change when a block is folded, never how. No BLAS thread limit is set (that
would be process-global state): the fold kernels work on chunks small enough that OpenBLAS runs
them on the calling thread (``olsnet.solve._fold.CHUNK_ROWS``).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..errors import InputTypeError, OptionError
from ._blas import default_workers, usable_cpus
from ._fold import fold_arrays
from ._state import QRState

__all__ = ["Block", "OnBatch", "fold_blocks", "fold_in_pool", "n_workers"]

Block = tuple[np.ndarray, np.ndarray, np.ndarray | None]
OnBatch = Callable[[int, int], None]  # on_batch(rows, bytes) after each block is read


def n_workers(n_jobs: int | None) -> int:
    """The one worker-count rule: None -> the usable CPUs (at most 8), -1 -> all of them, a
    positive int as given.

    Raises
    ------
    InputTypeError
        For a non-integer (a float, a bool, a string).
    OptionError
        For an integer below 1 other than -1.
    """
    if n_jobs is None:
        return default_workers()
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)):
        raise InputTypeError(f"n_jobs={n_jobs!r} is not accepted; use a positive int, -1 or None")
    if n_jobs == -1:
        return usable_cpus()
    if n_jobs < 1:
        raise OptionError(f"n_jobs={n_jobs!r} is not accepted; use a positive int, -1 or None")
    return int(n_jobs)


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
    workers = n_workers(n_jobs)
    limit = 2 * workers if max_in_flight is None else max(1, min(2 * workers, max_in_flight))
    workers = min(workers, limit)
    if workers == 1:
        for task in tasks:
            total = total.merge(task())
        return total
    pending: deque[Future[QRState]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="olsnet-fold") as pool:
        try:
            for task in tasks:
                pending.append(pool.submit(task))
                if len(pending) >= limit:  # bounded: wait for the oldest block
                    total = total.merge(pending.popleft().result())
            while pending:
                total = total.merge(pending.popleft().result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    return total


def _as_block(block: Block) -> Block:
    X, Y, w = block
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    return X, Y, None if w is None else np.asarray(w, dtype=np.float64)


def fold_blocks(
    blocks: Iterable[Block],
    n_features: int,
    n_outputs: int,
    fit_intercept: bool,
    *,
    n_jobs: int | None = None,
    on_batch: OnBatch | None = None,
) -> QRState:
    """QR state of every row of ``blocks`` (``(X (b, p), Y (b, q), w (b,) or None)``), each
    block folded on a pool of ``n_jobs`` threads, merged in block order.

    ``on_batch(rows, bytes)`` is called in the calling thread after each block is read.
    """

    def fold(block: Block) -> QRState:
        X, Y, w = _as_block(block)
        return fold_arrays(X, Y, w, fit_intercept)

    def tasks() -> Iterator[Callable[[], QRState]]:
        for block in blocks:
            if on_batch is not None:
                X, Y, w = block
                on_batch(len(X), X.nbytes + Y.nbytes + (0 if w is None else w.nbytes))
            yield functools.partial(fold, block)

    return fold_in_pool(tasks(), QRState.empty(n_features, n_outputs, fit_intercept), n_jobs)
