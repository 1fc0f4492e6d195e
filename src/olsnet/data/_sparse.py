"""``scipy.sparse`` design matrices as a block source: rows densified one block at a time.

A ``OneHotEncoder`` in a scikit-learn Pipeline hands the estimator a sparse matrix. The exact
fit needs dense rows only one block at a time (the QR fold), so a sparse ``X`` is never
densified whole: memory stays ``block_rows x n_features``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DataError, DimensionError
from .source import Source

__all__ = ["SparseSource", "is_sparse"]

_BLOCK_BYTES = 32 * 2**20  # dense rows per block: at most 32 MiB


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a ``scipy.sparse`` matrix or array (without importing scipy.sparse)."""
    return type(X).__module__.startswith("scipy.sparse")


def check_sparse(X: Any, what: str = "X") -> Any:
    """``X`` as CSR float64, NaN/inf refused naming the row and column.

    Raises
    ------
    DimensionError
        Not 2-D.
    DataError
        A stored NaN or inf.
    """
    csr = X.tocsr().astype(np.float64)
    if csr.ndim != 2:
        raise DimensionError(f"{what} must be 2-D; got shape {csr.shape}")
    bad = ~np.isfinite(csr.data)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(csr.indptr, k, side="right") - 1)
        col = int(csr.indices[k])
        raise DataError(
            f"{what} (sparse) has {csr.data[k]} at row {row}, column {col}: the fit needs "
            f"finite values ({int(bad.sum())} non-finite stored entries)"
        )
    return csr


class SparseSource(Source):
    """Rows of a CSR ``X`` (n, p) with dense ``Y`` (n, q) and weights, densified per block.

    A :class:`~olsnet.data.source.Source`: the fit folds the dense blocks on a thread pool
    (exact Householder QR), the residual pass streams them.
    """

    names_from_frame = False

    def __init__(
        self,
        X: Any,
        Y: np.ndarray,
        weights: np.ndarray | None,
        feature_names: tuple[str, ...],
        target_names: tuple[str, ...],
        y_ndim: int = 1,
    ) -> None:
        self.X, self.Y, self.weights = X, Y, weights
        self.feature_names, self.target_names = feature_names, target_names
        self.y_ndim = y_ndim
        self.weighted = weights is not None
        self.block_rows = max(1, min(65536, _BLOCK_BYTES // max(8 * X.shape[1], 1)))

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        n = self.X.shape[0]
        for start in range(0, n, self.block_rows):
            sl = slice(start, min(start + self.block_rows, n))
            w = None if self.weights is None else self.weights[sl]
            yield self.X[sl].toarray(), self.Y[sl], w
