"""Covariance kernels of least-squares coefficients, as pure functions of arrays.

Notation (one output; weights ``w``, analytic as in statsmodels' WLS and R's ``lm``):
``x̃ᵢ = √wᵢ xᵢ`` is a row of the weighted design (``wexog``), ``ẽᵢ = √wᵢ eᵢ`` its weighted
residual (``wresid``), ``B = (X̃ᵀX̃)⁻¹ = (XᵀWX)⁻¹`` the *bread*. Every estimator is a sandwich
``V = B M B`` with a *meat* ``M``:

* nonrobust  ``V = s² B``, ``s² = Σ ẽᵢ² / (n - rank)``
* HC0        ``M = Σ ẽᵢ² x̃ᵢ x̃ᵢᵀ``                           (White 1980)
* HC1        ``HC0 · n / (n - rank)``                         (Hinkley 1977)
* HC2        ``M = Σ ẽᵢ² / (1 - hᵢ) x̃ᵢ x̃ᵢᵀ``                 (MacKinnon & White 1985)
* HC3        ``M = Σ ẽᵢ² / (1 - hᵢ)² x̃ᵢ x̃ᵢᵀ``               (Davidson & MacKinnon 1993)

with the leverage ``hᵢ = x̃ᵢᵀ B x̃ᵢ = wᵢ xᵢᵀ (XᵀWX)⁻¹ xᵢ``. These are statsmodels'
``cov_type="HC0".."HC3"`` definitions (which use ``wexog`` and ``wresid``) and those of R's
``sandwich::vcovHC``. Rows of zero weight are not observations: they add nothing to any meat.

Computation. With ``R`` the triangular factor of the kept, shifted, weighted design
``Z̃ = √w [1, X - c]`` (``Z̃ᵀZ̃ = RᵀR``) and ``Q = Z̃ R⁻¹`` (orthonormal columns), the leverage is
``hᵢ = ‖Qᵢ‖²`` (a sum of squares: no cancellation) and ``V = R⁻¹ (Qᵀ diag(u) Q) R⁻ᵀ`` in shifted
coordinates, mapped to the user's by ``T = [[1, -cᵀ], [0, I]]``. One streaming pass over row
blocks accumulates the HC0, HC2 and HC3 meats of every output at once (HC1 is HC0 rescaled),
so switching covariance types never touches the data again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .._types import COV_TYPES, check_option

__all__ = [
    "HC_KINDS",
    "ResidualPass",
    "bread_inverse",
    "hc_covariance",
    "hc_scale",
    "leverage",
    "nonrobust_covariance",
    "residual_pass",
    "sandwich",
    "unshift_matrix",
]

HC_KINDS = ("HC0", "HC1", "HC2", "HC3")
# slot of each HC kind in the accumulated meats (HC1 reuses HC0)
_MEAT_SLOT = {"HC0": 0, "HC1": 0, "HC2": 1, "HC3": 2}


def bread_inverse(R_x: np.ndarray) -> np.ndarray:
    """``R⁻¹`` (r, r) of the upper-triangular factor; the bread is ``R⁻¹ R⁻ᵀ = (XᵀWX)⁻¹``."""
    r = R_x.shape[0]
    return sla.solve_triangular(R_x, np.eye(r), check_finite=False)


def unshift_matrix(shift: np.ndarray, r: int, intercept_kept: bool) -> np.ndarray:
    """``T`` (r, r) mapping shifted-coordinate covariances to the user's: ``V = T V_s Tᵀ``.

    For ``y = b0' + (x - c)ᵀβ`` the user's intercept is ``b0 = b0' - cᵀβ``, so row 0 of ``T`` is
    ``[1, -cᵀ]``; ``shift`` holds ``c`` of the kept features only.
    """
    T = np.eye(r)
    if intercept_kept and r > 1:
        T[0, 1:] = -shift
    return T


def leverage(Q: np.ndarray) -> np.ndarray:
    """Leverage ``hᵢ = ‖Qᵢ‖²`` (b,) from ``Q = Z̃ R⁻¹`` (b, r), the diagonal of the hat matrix."""
    return np.einsum("ij,ij->i", Q, Q)


def sandwich(bread_factor: np.ndarray, meat: np.ndarray) -> np.ndarray:
    """``F M Fᵀ`` for a bread factor ``F`` (r, r) and meat(s) ``M`` (..., r, r)."""
    V = bread_factor @ meat @ bread_factor.T
    return 0.5 * (V + np.swapaxes(V, -1, -2))  # exactly symmetric


def nonrobust_covariance(cov_unscaled: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``s²ⱼ (XᵀWX)⁻¹`` for each output: (q, k, k) from (k, k) and scale (q,)."""
    return scale[:, None, None] * cov_unscaled[None, :, :]


def hc_scale(kind: str, nobs: int, df_resid: float) -> float:
    """Small-sample factor applied to the meat: ``n / (n - rank)`` for HC1, else 1."""
    check_option("cov_type", kind, COV_TYPES)
    if kind == "HC1":
        return nobs / df_resid if df_resid > 0 else float("nan")
    return 1.0


@dataclass(frozen=True, eq=False)
class ResidualPass:
    """What one pass over the data at given coefficients yields.

    meats : (q, 3, r, r) HC0, HC2, HC3 meats in ``Q`` coordinates (see module doc).
    ssr : (q,) Σ w e², sum_log_weights : Σ log wᵢ over positive weights (0 unweighted),
    nobs : rows with positive weight, max_leverage : largest hᵢ (1 means HC2/HC3 undefined),
    gradient : (r, q) ``Σ w z (y - zᵀb)`` in shifted coordinates (``Z̃ᵀẼ``).
    """

    meats: np.ndarray
    ssr: np.ndarray
    sum_log_weights: float
    nobs: int
    max_leverage: float
    gradient: np.ndarray


def residual_pass(blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                  params: np.ndarray, R_x: np.ndarray, shift_x: np.ndarray,
                  kept: np.ndarray, fit_intercept: bool) -> ResidualPass:
    """Stream row blocks once: residuals at ``params``, leverages and the three HC meats.

    Parameters
    ----------
    blocks : iterable of (X (b, p), Y (b, q), w (b,) or None)
    params : (k, q) coefficients in the user's coordinates, intercept first. Residuals use
        every coefficient (NaN, as for aliased columns of a fit, counts as 0); the meats and
        leverages use the kept columns only.
    R_x : (r, r) upper-triangular factor of the kept, shifted, weighted ``[1 X]``.
    shift_x : (p,) column offsets used for ``R_x``.
    kept : (r,) indices of the kept columns of ``[1 X]`` (``k``-based).
    """
    r = R_x.shape[0]
    q = params.shape[1]
    icpt_kept = fit_intercept and r > 0 and kept[0] == 0
    feat = kept[int(icpt_kept):] - int(fit_intercept)  # kept feature columns of X
    coef = np.where(np.isnan(params), 0.0, params)  # (k, q)
    beta = coef[int(fit_intercept):]  # (p, q), all features
    b0 = coef[0] if fit_intercept else np.zeros(q)
    Rinv = bread_inverse(R_x)
    shift = shift_x[feat]
    meats = np.zeros((q, 3, r, r))
    ssr = np.zeros(q)
    grad = np.zeros((r, q))
    sum_log_w = 0.0
    nobs = 0
    max_h = 0.0
    all_feat = feat.size == shift_x.size and np.array_equal(feat, np.arange(shift_x.size))
    for X, Y, w in blocks:
        if w is not None:
            pos = w > 0
            if not pos.all():  # zero-weight rows are not observations
                X, Y, w = X[pos], Y[pos], w[pos]
            sum_log_w += float(np.log(w).sum())
        b = X.shape[0]
        if b == 0:
            continue
        nobs += b
        E = Y - X @ beta - b0  # (b, q) residuals
        Xk = X if all_feat else X[:, feat]  # (b, r - icpt) kept columns
        Z = np.empty((b, r))  # (b, r) shifted kept design [1, X - c]
        if icpt_kept:
            Z[:, 0] = 1.0
            np.subtract(Xk, shift, out=Z[:, 1:])
        else:
            np.subtract(Xk, shift, out=Z)
        if w is not None:
            sw = np.sqrt(w)[:, None]
            Z *= sw  # wexog
            E *= sw  # wresid
        ssr += np.einsum("ij,ij->j", E, E)
        grad += Z.T @ E
        Q = Z @ Rinv  # (b, r), orthonormal columns over all rows
        h = leverage(Q)
        max_h = max(max_h, float(h.max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            s2 = 1.0 / np.sqrt(1.0 - h)  # HC2 row factor on |ẽ|
        for j in range(q):
            A = Q * np.abs(E[:, j])[:, None]  # rows ẽᵢ qᵢ
            meats[j, 0] += A.T @ A
            A *= s2[:, None]
            meats[j, 1] += A.T @ A
            A *= s2[:, None]
            meats[j, 2] += A.T @ A
    return ResidualPass(meats, ssr, sum_log_w, nobs, max_h, grad)


def hc_covariance(kind: str, meats: np.ndarray, R_x: np.ndarray, T: np.ndarray, nobs: int,
                  df_resid: float) -> np.ndarray:
    """HC covariance (q, r, r) of the kept coefficients in the user's coordinates.

    ``V = T R⁻¹ M R⁻ᵀ Tᵀ`` times the HC1 factor; ``meats`` as from :func:`residual_pass`.
    """
    factor = hc_scale(kind, nobs, df_resid)
    F = T @ bread_inverse(R_x)
    return factor * sandwich(F, meats[:, _MEAT_SLOT[kind]])
