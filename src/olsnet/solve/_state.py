"""The sufficient statistic of a least-squares problem: the R factor of ``[1 X Y]``.

For weights ``w`` the state is the upper-triangular ``R`` (k, k) of the weighted, shifted
augmented design ``A = sqrt(w) * [1, X - c_x, Y - c_y]`` (k = intercept + p + q), with
``AᵀA = RᵀR``. With an intercept, the columns are shifted by ``c`` (the first block's means):
that is an exact reparametrization of the model (the intercept absorbs it) and keeps the
problem's conditioning independent of the columns' offsets. Without an intercept nothing is
shifted. Blocks are folded with Householder QR of ``[R; block]`` and two states merge with QR of
``[R₁; R₂]`` (after moving one to the other's shift), so the fold is associative: one array, a
stream of batches, threads and a dask tree all give the same R up to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from ..errors import DimensionError
from ._kernels import merge_r, qr_r

__all__ = ["QRState", "augmented_block", "qr_r"]


def augmented_block(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    shift: np.ndarray,
    fit_intercept: bool,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """sqrt(w) * [1, X - c_x, Y - c_y] as a new (b, k) array (written into ``out`` when given)."""
    b, p = X.shape
    k0 = int(fit_intercept)
    k = k0 + p + Y.shape[1]
    A = np.empty((b, k)) if out is None else out[:b]
    if fit_intercept:
        A[:, 0] = 1.0
        np.subtract(X, shift[:p], out=A[:, 1 : 1 + p])
        np.subtract(Y, shift[p:], out=A[:, 1 + p :])
    else:
        A[:, :p] = X
        A[:, p:] = Y
    if w is not None:
        A *= np.sqrt(w)[:, None]
    return A


def shift_matrix(delta: np.ndarray, p: int, q: int) -> np.ndarray:
    """T (k, k) with ``[1, Z - c_new] = [1, Z - c_old] T`` for ``delta = c_old - c_new``.

    Column j of Z - c_new equals (Z - c_old)_j + delta_j * 1, so T is I with delta in row 0.
    """
    k = 1 + p + q
    T = np.eye(k)
    T[0, 1:] = delta
    return T


@dataclass(frozen=True, eq=False)
class QRState:
    """R factor of the weighted, shifted ``[1 X Y]`` with the counts inference needs.

    Attributes
    ----------
    R : ndarray of shape (k, k)
        Upper triangular, ``k = fit_intercept + n_features + n_outputs``.
    shift : ndarray of shape (n_features + n_outputs,) or None
        Column offsets subtracted before folding (None until the first block arrives).
    nobs : int
        Rows with positive weight.
    sum_weights : float
    """

    R: np.ndarray
    shift: np.ndarray | None
    n_features: int
    n_outputs: int
    fit_intercept: bool
    nobs: int = 0
    sum_weights: float = 0.0
    zsum: np.ndarray | None = None  # (p + q,) weighted sums of the shifted X and Y columns

    @classmethod
    def empty(cls, n_features: int, n_outputs: int = 1, fit_intercept: bool = True) -> QRState:
        k = int(fit_intercept) + n_features + n_outputs
        return cls(np.zeros((k, k)), None, n_features, n_outputs, fit_intercept)

    @property
    def k(self) -> int:
        return int(self.fit_intercept) + self.n_features + self.n_outputs

    def _check_block(self, X: np.ndarray, Y: np.ndarray) -> None:
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DimensionError(
                f"block X has shape {X.shape}; this state takes {self.n_features} features"
            )
        if Y.ndim != 2 or Y.shape != (X.shape[0], self.n_outputs):
            raise DimensionError(
                f"block Y has shape {Y.shape}; expected ({X.shape[0]}, {self.n_outputs})"
            )

    def fold(
        self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> QRState:
        """The state after adding rows ``X`` (b, p), ``Y`` (b, q) with weights (b,)."""
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        self._check_block(X, Y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if X.shape[0] == 0:
            return self
        # Householder QR needs no shift (it is backward stable on the raw columns); states from
        # the normal-equations fast path carry one, and merges translate between them.
        shift = np.zeros(self.n_features + self.n_outputs) if self.shift is None else self.shift
        A = augmented_block(X, Y, w, shift, self.fit_intercept)
        R = qr_r(np.vstack([self.R, A]))
        nobs = int(X.shape[0] if w is None else np.count_nonzero(w))
        sw = float(X.shape[0] if w is None else w.sum())
        zs = _weighted_colsum(A, w, self.fit_intercept)
        return QRState(
            R,
            shift,
            self.n_features,
            self.n_outputs,
            self.fit_intercept,
            self.nobs + nobs,
            self.sum_weights + sw,
            _add(self.zsum, zs),
        )

    def with_shift(self, shift: np.ndarray) -> QRState:
        """The same state expressed for columns shifted by ``shift`` instead of ``self.shift``."""
        if self.shift is None or not self.fit_intercept:
            return self
        T = shift_matrix(self.shift - np.asarray(shift), self.n_features, self.n_outputs)
        R = qr_r(self.R @ T)
        zsum = None if self.zsum is None else self.zsum + (self.shift - shift) * self.sum_weights
        return QRState(
            R,
            np.asarray(shift, dtype=np.float64),
            self.n_features,
            self.n_outputs,
            self.fit_intercept,
            self.nobs,
            self.sum_weights,
            zsum,
        )

    def merge(self, other: QRState) -> QRState:
        """The state of both states' rows together (associative and commutative up to rounding)."""
        if (other.n_features, other.n_outputs, other.fit_intercept) != (
            self.n_features,
            self.n_outputs,
            self.fit_intercept,
        ):
            raise DimensionError(
                "cannot merge states of different problems: "
                f"(p, q, intercept) = {(self.n_features, self.n_outputs, self.fit_intercept)} and "
                f"{(other.n_features, other.n_outputs, other.fit_intercept)}"
            )
        if other.shift is None:
            return self
        if self.shift is None:
            return other
        # move the state with fewer rows to the other's shift
        a, b = (self, other) if self.sum_weights >= other.sum_weights else (other, self)
        a_shift = cast(np.ndarray, a.shift)  # both states hold rows, so both have a shift
        b = b.with_shift(a_shift) if not np.array_equal(a_shift, cast(np.ndarray, b.shift)) else b
        R = merge_r(a.R, b.R)
        return QRState(
            R,
            a.shift,
            self.n_features,
            self.n_outputs,
            self.fit_intercept,
            self.nobs + other.nobs,
            self.sum_weights + other.sum_weights,
            _add(a.zsum, b.zsum),
        )


def _weighted_colsum(A: np.ndarray, w: np.ndarray | None, fit_intercept: bool) -> np.ndarray:
    """Σ w (Z - c) for the (b, k) augmented block A = sqrt(w) [1?, Z - c]."""
    Z = A[:, 1:] if fit_intercept else A
    return Z.sum(axis=0) if w is None else np.sqrt(w) @ Z


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a + b
