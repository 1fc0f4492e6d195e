"""Rows in the solver's factored, centred basis: the one place per-row statistics start from.

The solver keeps ``R`` (r, r), the triangular factor of the kept, shifted, weighted design
``Z̃ = √w [1, X - c]`` (``Z̃ᵀZ̃ = RᵀR``). Every derived statistic is evaluated in that basis and
never through an explicit ``(XᵀWX)⁻¹``:

* a row's coordinates ``Qᵢ = z̃ᵢ R⁻¹`` (a triangular solve); leverage ``hᵢ = ‖Qᵢ‖²``;
* a linear function ``L b`` of the user's coefficients has ``Var(L b) = G S Gᵀ`` with
  ``G = (L T) R⁻¹``, ``T = [[1, -cᵀ], [0, I]]`` and ``S`` the covariance's middle in ``Q``
  coordinates (``s² I`` nonrobust, the meat for sandwich estimators).

This is how R's ``predict.lm`` (``qr.Q``/``backsolve``) and ``lm.influence`` (LINPACK
``dqrdc2``/``lminfl``) keep full accuracy on ill-conditioned designs such as NIST's Longley.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla

from ..errors import DimensionError
from ..solve._blas import small_gemm_rows
from ..solve._residuals import float_block

if TYPE_CHECKING:
    from ..solve import LstsqSolution

__all__ = [
    "ESTIMABLE_TOL",
    "alias_relations",
    "block_rows",
    "centred",
    "factor_solve",
    "fitted",
    "non_estimable",
    "refined_hc_meats",
    "row_blocks",
    "row_map",
    "scaled_condition",
    "to_centred",
]


def _icpt_kept(sol: LstsqSolution) -> bool:
    return bool(sol.fit_intercept and not sol.aliased[0])


def centred(sol: LstsqSolution, X: np.ndarray) -> np.ndarray:
    """(b, r) kept columns of ``[1, X - c]`` for rows ``X`` (b, p) in the user's coordinates."""
    kept = sol.kept
    icpt = _icpt_kept(sol)
    feat = kept[int(icpt) :] - int(sol.fit_intercept)
    Z = np.asarray(X, dtype=np.float64)[:, feat] - sol.shift_x[feat]
    return np.hstack([np.ones((Z.shape[0], 1)), Z]) if icpt else Z


def to_centred(sol: LstsqSolution, L: np.ndarray) -> np.ndarray:
    """``L T`` (m, r): rows ``L`` (m, r) on the kept user coefficients, in centred coordinates.

    With ``b_user = T b_centred`` and ``T = [[1, -cᵀ], [0, I]]`` (intercept kept), ``L b_user =
    (L T) b_centred``: the intercept's column is unchanged, slope ``j`` gets ``L_j - L_0 c_j``.
    """
    L = np.array(L, dtype=np.float64, copy=True)
    if _icpt_kept(sol) and L.shape[1] > 1:
        kept = sol.kept
        c = sol.shift_x[kept[1:] - 1]
        L[:, 1:] -= L[:, :1] * c[None, :]
    return L


def factor_solve(sol: LstsqSolution, Z: np.ndarray) -> np.ndarray:
    """``Z R⁻¹`` (b, r) for centred rows ``Z`` (b, r): one triangular solve, no inverse."""
    if Z.shape[1] == 0:
        return np.zeros_like(Z)
    return sla.solve_triangular(sol.R_x, Z.T, trans="T", check_finite=False).T


def row_blocks(
    sol: LstsqSolution, source: Any
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per block of the source: ``(Q (b, r), fitted (b, q), Y (b, q), w (b,))``.

    ``Q`` rows are ``√wᵢ zᵢ R⁻¹`` (weighted); fitted values ``zᵢ b_c`` use the centred kept
    coefficients (aliased: 0). One product ``Z [R⁻¹ | b_c]`` per block gives both (BLAS 3, as
    the HC pass does); callers that need full accuracy re-orthogonalize ``Q`` (see
    :func:`olsnet.inference.influence.reorthogonalized`).
    """
    M = row_map(sol)
    for X, Y, w in source.blocks():
        yield block_rows(sol, M, X, Y, w)


def row_map(sol: LstsqSolution) -> np.ndarray:
    """``[R⁻¹ | b_c]`` (r, r + q): a centred row times it gives ``(Qᵢ, fittedᵢ)``."""
    r = sol.rank
    rinv = factor_solve(sol, np.eye(r)) if r else np.zeros((0, 0))  # R⁻¹ (r, r)
    return np.hstack([rinv, centred_coefficients(sol)])


def block_rows(
    sol: LstsqSolution, M: np.ndarray, X: Any, Y: Any, w: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One block of :func:`row_blocks`: ``(Q (b, r), fitted (b, q), Y (b, q), w (b,))``,
    ``M`` from :func:`row_map`."""
    r = sol.rank
    X, Y, w = float_block(X, Y, w)
    p = sol.shift_x.shape[0]
    if X.ndim != 2 or X.shape[1] != p:
        raise DimensionError(
            f"a block of the data has shape {X.shape}; the fit has {p} feature(s), so every "
            f"block must be (rows, {p})"
        )
    wv = np.ones(X.shape[0]) if w is None else w
    if Y.shape[:1] != X.shape[:1] or wv.shape != X.shape[:1]:
        raise DimensionError(
            f"a block of {X.shape[0]} rows comes with y of shape {Y.shape} and weights of "
            f"shape {None if w is None else wv.shape}; each needs {X.shape[0]} rows"
        )
    Y = Y.reshape(X.shape[0], -1)
    P = _centred_times(sol, X, M)  # (b, r + q)
    Q = P[:, :r]
    if w is not None:
        Q *= np.sqrt(wv)[:, None]
    return Q, P[:, r:], Y, wv


def _centred_times(sol: LstsqSolution, X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``[1, X_kept - c] M`` without building the column of ones (M's first row is added)."""
    kept = sol.kept
    icpt = _icpt_kept(sol)
    feat = kept[int(icpt) :] - int(sol.fit_intercept)
    Xk = X if feat.size == X.shape[1] else X[:, feat]
    shift = sol.shift_x[feat]
    Z = Xk - shift if shift.any() else Xk
    # chunks within OpenBLAS's small-matrix kernel: one thread each, no BLAS threads spinning
    # against each other on a busy machine (solve._blas.small_gemm_rows, as the HC pass does)
    out = chunked_matmul(Z, M[1:] if icpt else M)
    if icpt:
        out += M[0]
    return out


def chunked_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` (n, k) @ (k, m) in row chunks within OpenBLAS's small-matrix kernel."""
    out = np.empty((A.shape[0], B.shape[1]))
    step = small_gemm_rows(max(A.shape[1], B.shape[1], 1), 2048, 8192)
    for start in range(0, A.shape[0], step):
        np.matmul(A[start : start + step], B, out=out[start : start + step])
    return out


def centred_coefficients(sol: LstsqSolution) -> np.ndarray:
    """(r, q) the kept coefficients in centred coordinates: ``b₀ + cᵀβ`` first, then ``β``."""
    kept = sol.kept
    coef = np.where(np.isnan(sol.params), 0.0, sol.params)
    b = coef[kept].copy()
    if _icpt_kept(sol) and kept.size > 1:
        beta = coef[int(sol.fit_intercept) :]
        b[0] = coef[0] + sol.shift_x @ beta
    return b


def fitted(sol: LstsqSolution, X: np.ndarray) -> np.ndarray:
    """(b, q) ``[1 X] b`` evaluated as ``b₀ + cᵀβ + (X - c) β`` (centred: no cancellation)."""
    coef = np.where(np.isnan(sol.params), 0.0, sol.params)  # (k, q)
    beta = coef[int(sol.fit_intercept) :]  # (p, q)
    out = (np.asarray(X, dtype=np.float64) - sol.shift_x) @ beta
    if sol.fit_intercept:
        out += coef[0] + sol.shift_x @ beta
    return out


# relative size of a new row's departure from the training collinearity that counts as 0 (R's
# predict.lm(rankdeficient=) uses tol = 1e-6 on its QR; ours is relative to the row's own terms)
ESTIMABLE_TOL = 1e-7


def _aliased_columns(sol: LstsqSolution, X: np.ndarray) -> np.ndarray:
    """(b, a) the aliased columns of ``[1, X - c]`` (the intercept's column is 1)."""
    cols = np.flatnonzero(sol.aliased)
    full = np.asarray(X, dtype=np.float64) - sol.shift_x
    if sol.fit_intercept:
        full = np.hstack([np.ones((full.shape[0], 1)), full])
    return full[:, cols]


def alias_relations(sol: LstsqSolution, source: Any) -> np.ndarray:
    """(a, r) each aliased column of the centred design as a combination of the kept ones.

    ``z_a = Z_kept β_a`` on the training rows, ``β_a = (Z̃ᵀZ̃)⁻¹ Z̃ᵀ z̃_a = R⁻¹ R⁻ᵀ Z̃ᵀ z̃_a``
    (one pass accumulating ``Z̃ᵀ z̃_a``, then two triangular solves).
    """
    C = np.zeros((sol.rank, int(sol.aliased.sum())))
    for X, _Y, w in source.blocks():
        sw = np.ones(len(X)) if w is None else np.sqrt(np.asarray(w, dtype=np.float64))
        C += (centred(sol, X) * sw[:, None]).T @ (_aliased_columns(sol, X) * sw[:, None])
    B = sla.solve_triangular(sol.R_x, C, trans="T", check_finite=False)
    return sla.solve_triangular(sol.R_x, B, check_finite=False).T


def non_estimable(sol: LstsqSolution, relations: np.ndarray, X: np.ndarray) -> np.ndarray:
    """(b,) bool: rows of ``X`` outside the row space of the training design.

    A row is estimable when each aliased column obeys the training collinearity,
    ``|z_a - z_keptᵀ β_a| ≤ ESTIMABLE_TOL · (|z_a| + |z_kept|ᵀ|β_a|)``; then every choice of
    which column to alias predicts the same value there (R's ``predict.lm`` "non-estim").
    """
    Za, Zk = _aliased_columns(sol, X), centred(sol, X)
    gap = np.abs(Za - Zk @ relations.T)
    size = np.abs(Za) + np.abs(Zk) @ np.abs(relations.T)
    return (gap > ESTIMABLE_TOL * np.maximum(size, np.finfo(float).tiny)).any(axis=1)


# Rows ``Q = Z̃ R⁻¹`` are orthonormal only as far as ``R`` is exact: ``‖QᵀQ - I‖ ≈ κ ε`` with κ
# the condition number of the column-scaled design. Above this κ the HC meats are made again
# from re-orthogonalized rows (:func:`refined_hc_meats`): on NIST Longley (κ 1e4 scaled) the
# one-pass meats give prediction SEs to 1.2e-12 (HC0) .. 2.3e-12 (HC3), the refined ones 6e-13.
REFINE_CONDITION = 100.0


def scaled_condition(sol: LstsqSolution) -> float:
    """κ₂ of ``R`` with unit-norm columns (Q's loss of orthogonality is κ ε; column scales,
    which QR is blind to, are divided out)."""
    R = np.asarray(sol.R_x)
    if R.shape[0] == 0:
        return 1.0
    norms = np.linalg.norm(R, axis=0)
    if not np.all(norms > 0) or not np.isfinite(R).all():
        return float("inf")
    return float(np.linalg.cond(R / norms))


def refined_hc_meats(sol: LstsqSolution, source: Any) -> tuple[np.ndarray, float]:
    """(q, 3, r, r) HC0, HC2, HC3 meats in ``R``'s basis, and the largest leverage, from two
    passes that remove the rounding of ``R``.

    Pass 1 sums ``QᵀQ`` and ``QᵀẼ``; with ``L Lᵀ = QᵀQ`` the rows ``Q' = Q L⁻ᵀ`` are
    orthonormal to rounding (the hat matrix ``Q (QᵀQ)⁻¹ Qᵀ`` is the same for any ``R``), and
    ``Ẽ' = Ẽ - Q' (Q'ᵀẼ)`` removes from the residuals the part of the fit's own rounding that
    lies in the column space (true residuals are orthogonal to it). Pass 2 sums the meats
    ``Σ ωᵢ ẽ'ᵢ² Q'ᵢQ'ᵢᵀ`` (ω = 1, 1/(1-h), 1/(1-h)², ``h = ‖Q'ᵢ‖²``) and maps them back to
    ``R``'s basis: ``V = R⁻¹ L⁻ᵀ S' L⁻¹ R⁻ᵀ``, so ``S = L⁻ᵀ S' L⁻¹`` (``L ≈ I``: no loss).
    This is the accuracy of R's ``lm.influence`` / ``sandwich::vcovHC`` on the QR (LINPACK
    ``dqrdc2``), whose leverages come from ``Q`` itself.
    """
    r, q = sol.rank, sol.n_outputs
    M = row_map(sol)
    QtQ, QtE = np.zeros((r, r)), np.zeros((r, q))
    for X, Y, w in source.blocks():
        Q, fit, Yb, wv = block_rows(sol, M, X, Y, w)
        E = (Yb - fit) * np.sqrt(wv)[:, None]
        QtQ += Q.T @ Q
        QtE += Q.T @ E
    meats = np.zeros((q, 3, r, r))
    if r == 0:
        return meats, 0.0
    try:
        L = np.linalg.cholesky(QtQ)
    except np.linalg.LinAlgError:
        L = np.eye(r)
    Linv = sla.solve_triangular(L, np.eye(r), lower=True, check_finite=False)
    C = Linv @ QtE  # Q'ᵀẼ (r, q)
    max_h = 0.0
    for X, Y, w in source.blocks():
        Q, fit, Yb, wv = block_rows(sol, M, X, Y, w)
        Qp = Q @ Linv.T
        E = (Yb - fit) * np.sqrt(wv)[:, None] - Qp @ C
        h = np.einsum("ij,ij->i", Qp, Qp)
        if h.size:
            max_h = max(max_h, float(h.max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            one_minus = np.where(wv > 0, 1.0 - h, 1.0)
            omegas = (np.ones_like(h), 1.0 / one_minus, 1.0 / one_minus**2)
        for j in range(q):
            e2 = E[:, j] ** 2
            for slot, om in enumerate(omegas):
                u = e2 * om
                meats[j, slot] += (Qp * u[:, None]).T @ Qp
    meats = Linv.T @ meats @ Linv
    return 0.5 * (meats + np.swapaxes(meats, -1, -2)), max_h
