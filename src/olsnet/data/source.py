"""The one protocol of everything that feeds a fit: arrays, frames, files, dask, devices.

A :class:`Source` has names, ``n_features``, ``n_outputs``, ``blocks()`` (the rows, block by
block, starting over on each call) and two passes, each built however the source is fastest:

* ``fit_state(fit_intercept, *, n_jobs=None, on_batch=None)`` -- the QR state of every row
  (threads over blocks by default; Arrow columns straight into the fold for files; a tree
  reduction for dask);
* ``residual_pass(params, R_x, shift_x, kept, fit_intercept, *, n_jobs=None, on_batch=None)``
  -- residuals, leverages and HC meats at given coefficients (HC covariances, influence);

``label_blocks(names)`` -- the blocks with named label columns of the same rows (cluster ids
for ``with_cov("cluster", groups="firm")``; by default only feature columns; files, frames and
dask read any column of their data) -- and ``solve(fit_intercept, ...)``, the fit itself (by default ``solve_state`` of
``fit_state``; sources with the rows at hand refine it). Progress is the ``on_batch(rows,
bytes)`` callback, never a wrapper. A new kind of source (a device array, a database query)
subclasses :class:`Source` and overrides what it can do faster; the estimator dispatches only
through these methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..errors import DimensionError
from ..solve import ALIAS_TOL, LstsqSolution, QRState, solve_state
from ..solve._pool import Block, OnBatch, fold_blocks
from ..solve._residuals import HC_MEATS, ResidualPass, residual_pass
from ._labels import CodedLabels, check_label_names

__all__ = ["Block", "LabelBlock", "Labels", "OnBatch", "Source"]

Labels = np.ndarray | CodedLabels  # one label column of a block: values, or codes and levels
LabelBlock = tuple[np.ndarray, np.ndarray, "np.ndarray | None", tuple[Labels, ...]]


class Source(ABC):
    """Rows of a regression, block by block, with the passes a fit needs (module doc).

    Attributes
    ----------
    feature_names, target_names : tuple of str
    y_ndim : int
        1 when y came as one 1-D column (results are then shaped as scikit-learn shapes them).
    weighted : bool or None
        Whether blocks carry sample weights (None: not known without a pass).
    fit_intercept : bool or None
        What the source itself implies (a formula ``y ~ x - 1`` gives False); None: no opinion.
    n_dropped : int or None
        Rows dropped for missing values in the last complete pass (None before one).
    names_from_frame : bool
        Whether the feature names came from the user's data (frame columns, file headers).
    """

    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    y_ndim: int = 1
    weighted: bool | None = None
    fit_intercept: bool | None = None
    n_dropped: int | None = 0
    names_from_frame: bool = True

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def n_outputs(self) -> int:
        return len(self.target_names)

    @abstractmethod
    def blocks(self) -> Iterator[Block]:
        """Yield ``(X (b, p), Y (b, q), w (b,) or None)`` float64 blocks over every row."""

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """QR state of every row: blocks folded on ``n_jobs`` threads (None: the usable CPUs,
        at most 8; -1: all), merged in block order. ``on_batch(rows, bytes)`` after each block.
        """
        return fold_blocks(
            self.blocks(),
            self.n_features,
            self.n_outputs,
            fit_intercept,
            n_jobs=n_jobs,
            on_batch=on_batch,
        )

    def solve(
        self,
        fit_intercept: bool,
        *,
        policy: str = "auto",
        tol: float = ALIAS_TOL,
        n_jobs: int | None = None,
        on_batch: OnBatch | None = None,
    ) -> LstsqSolution:
        """The least-squares fit. Default: ``solve_state(fit_state(...))`` (one pass; the
        ``policy`` applies to sources that hold their rows, see ``ArraySource``)."""
        state = self.fit_state(fit_intercept, n_jobs=n_jobs, on_batch=on_batch)
        return solve_state(state, tuple(self.feature_names), tol)

    def residual_pass(
        self,
        params: np.ndarray,
        R_x: np.ndarray,
        shift_x: np.ndarray,
        kept: np.ndarray,
        fit_intercept: bool,
        *,
        n_jobs: int | None = None,
        on_batch: OnBatch | None = None,
        kinds: Iterable[str] = HC_MEATS,
    ) -> ResidualPass:
        """One pass at ``params``: residuals, leverages, HC meats (see
        :func:`olsnet.inference.covariance.residual_pass` for the arguments)."""
        blocks = self.pass_blocks() if on_batch is None else _reporting(self.blocks(), on_batch)
        return residual_pass(
            blocks, params, R_x, shift_x, kept, fit_intercept, n_threads=n_jobs, kinds=kinds
        )

    def pass_blocks(self) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """The blocks of a residual pass without progress reports: ``blocks()`` unless a
        source holds its rows in memory (the pass cuts its own chunks from one whole block)."""
        return self.blocks()

    def label_blocks(
        self, names: Sequence[str], *, on_batch: OnBatch | None = None
    ) -> Iterator[LabelBlock]:
        """Yield ``(X (b, p), Y (b, q), w (b,) or None, labels)`` over every row, ``labels`` a
        tuple of one (b,) array per name: the named columns of the same rows, read alongside
        (nothing is held between blocks).

        The default reads feature columns only; sources with more columns (files, frames,
        dask) read any column of their data.

        Raises
        ------
        DimensionError
            A name that is not a column (close matches named).
        """
        check_label_names(names, self.feature_names, "the fit's features", DimensionError)
        cols = [list(self.feature_names).index(n) for n in names]
        blocks = self.blocks()
        if on_batch is not None:
            blocks = _reporting(blocks, on_batch)
        for X, Y, w in blocks:
            yield X, Y, w, tuple(X[:, j] for j in cols)


def _reporting(blocks: Iterable[Block], on_batch: OnBatch) -> Iterator[Block]:
    for X, Y, w in blocks:
        on_batch(len(X), X.nbytes + Y.nbytes + (0 if w is None else w.nbytes))
        yield X, Y, w
