"""In-memory rows as a source. The checks and conversions live in ``olsnet._validate`` (below
``solve``, which uses them too); they are re-exported here, where users import them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .._validate import (
    FORMULA_HINT,
    Design,
    as_design,
    as_matrix,
    check_finite,
    check_weights,
    column_label,
    iter_row_blocks,
)
from ..solve import ALIAS_TOL, LstsqSolution, lstsq
from .source import OnBatch, Source

__all__ = [
    "FORMULA_HINT",
    "ArraySource",
    "Design",
    "as_design",
    "as_matrix",
    "check_finite",
    "check_weights",
    "column_label",
    "iter_row_blocks",
]


@dataclass(frozen=True)
class ArraySource(Source):
    """In-memory rows as a :class:`~olsnet.data.source.Source` (views, no copies).

    ``blocks()`` yields ``(X (b, p), Y (b, q), w (b,) or None)`` views of ``block_rows`` rows,
    starting over on each call. ``solve`` is the refined in-memory path of
    :func:`olsnet.solve.lstsq` (the accuracy policy applies); ``fit_state`` folds the blocks
    on a thread pool; the residual pass streams the blocks (threaded).
    """

    design: Design
    block_rows: int = 65536

    @property
    def y_ndim(self) -> int:  # type: ignore[override]
        return self.design.y_ndim

    @property
    def weighted(self) -> bool:  # type: ignore[override]
        return self.design.weights is not None

    @property
    def n_dropped(self) -> int:  # type: ignore[override]
        return self.design.n_dropped

    @property
    def names_from_frame(self) -> bool:  # type: ignore[override]
        return self.design.names_from_frame

    @property
    def feature_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.design.feature_names

    @property
    def target_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.design.target_names

    def solve(
        self,
        fit_intercept: bool,
        *,
        policy: str = "auto",
        tol: float = ALIAS_TOL,
        n_jobs: int | None = None,
        on_batch: OnBatch | None = None,
    ) -> LstsqSolution:
        """The refined in-memory fit (:func:`olsnet.solve.lstsq`, ``policy`` honoured)."""
        d = self.design
        check_finite(d.Y, "y", d.target_names)
        return lstsq(d.X, d.Y, d.weights, fit_intercept, d.feature_names, policy=policy, tol=tol)

    def pass_blocks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """The rows as one block (views): the residual pass cuts its own chunks and spans;
        ``block_rows`` blocks would only add a ragged chunk each (8% at (2M x 50))."""
        d = self.design
        return [(d.X, d.Y, d.weights)]

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        d = self.design
        for sl in iter_row_blocks(d.n_samples, self.block_rows):  # views
            yield d.X[sl], d.Y[sl], None if d.weights is None else d.weights[sl]
