"""Numbers behind the diagnostic plots, as pure functions of arrays (no matplotlib here).

Leverage, standardized residuals and Cook's distance follow R's ``lm.influence``,
``rstandard`` and ``cooks.distance``; the smoother is Cleveland's (1979) LOWESS as in R's
``lowess`` (``f = 2/3``, three robustness iterations); Q-Q positions are R's ``ppoints``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy import stats

__all__ = ["cooks_distance", "leverage", "lowess", "normal_positions", "standardized_residuals"]


def leverage(
    X: np.ndarray, sample_weight: np.ndarray | None = None, *, fit_intercept: bool = True
) -> np.ndarray:
    """Diagonal of the hat matrix, ``h_i = w_i x_iᵀ (XᵀWX)⁻¹ x_i``, shape (n,).

    Computed from an orthonormal basis of the weighted, column-scaled design (pivoted QR, rank
    decided as R's ``lm`` would, relative tolerance 1e-7 of the largest diagonal of R), so
    aliased columns and ill-conditioned designs such as Longley's do not spoil it:
    ``h_i = ‖Q_i‖²``. Rows of zero weight get 0.
    """
    X = np.asarray(X, dtype=np.float64)
    A = np.column_stack([np.ones(X.shape[0]), X]) if fit_intercept else X  # (n, k)
    if sample_weight is not None:
        A = A * np.sqrt(np.asarray(sample_weight, dtype=np.float64))[:, None]
    if A.shape[1] == 0:
        return np.zeros(A.shape[0])
    norms = np.linalg.norm(A, axis=0)
    norms[norms == 0] = 1.0
    Q, R, _ = sla.qr(A / norms, mode="economic", pivoting=True)  # Q (n, k), R (k, k)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > 1e-7 * diag[0])) if diag.size else 0
    return np.einsum("ij,ij->i", Q[:, :rank], Q[:, :rank])  # (n,)


def standardized_residuals(
    resid: np.ndarray, hat: np.ndarray, scale: float, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Internally studentized residuals ``√w_i e_i / (σ̂ √(1 − h_i))`` (R's ``rstandard``).

    Rows with leverage 1 (fitted exactly whatever their value) get NaN, as in R.
    """
    e = np.asarray(resid, dtype=np.float64)
    if sample_weight is not None:
        e = e * np.sqrt(np.asarray(sample_weight, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e / (np.sqrt(scale) * np.sqrt(1.0 - hat))
    r[hat >= 1.0 - 1e-10] = np.nan
    return r


def cooks_distance(std_resid: np.ndarray, hat: np.ndarray, n_params: int) -> np.ndarray:
    """Cook's distance ``D_i = r_i² h_i / (k (1 − h_i))`` from standardized residuals."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return std_resid**2 * hat / (n_params * (1.0 - hat))


def normal_positions(n: int) -> np.ndarray:
    """Standard normal quantiles at R's ``ppoints(n)``: ``(i − a)/(n + 1 − 2a)``, a = 3/8 if n ≤ 10 else 1/2."""
    a = 0.375 if n <= 10 else 0.5
    return stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


def lowess(
    x: np.ndarray, y: np.ndarray, *, frac: float = 2.0 / 3.0, iterations: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """LOWESS smooth (Cleveland 1979): ``(x sorted, fitted values at x)``, each of shape (n,).

    Local linear fits with tricube weights over the ``floor(frac n)`` nearest points, then
    ``iterations`` robustness passes with bisquare weights of the residuals scaled by six
    median absolute residuals. Every point is fitted (R's ``delta = 0``).
    """
    order = np.argsort(x, kind="stable")
    xs = np.asarray(x, dtype=np.float64)[order]
    ys = np.asarray(y, dtype=np.float64)[order]
    n = xs.size
    if n < 3:
        return xs, ys.copy()
    r = min(n, max(2, int(frac * n + 1e-7)))  # R's lowess: ns
    robust = np.ones(n)
    fitted = ys.copy()
    for it in range(iterations + 1):
        for i in range(n):
            dist = np.abs(xs - xs[i])
            h = np.partition(dist, r - 1)[r - 1]  # distance to the r-th nearest point
            if h <= 0:
                fitted[i] = np.average(ys[dist == 0], weights=robust[dist == 0] + 1e-300)
                continue
            u = np.clip(dist / h, 0.0, 1.0)
            w = (1 - u**3) ** 3 * robust  # tricube x robustness
            sw = w.sum()
            if np.count_nonzero(w > 1e-12) < 2:  # no line through fewer than two points
                fitted[i] = ys[i]
                continue
            xm = np.dot(w, xs) / sw
            ym = np.dot(w, ys) / sw
            sxx = np.dot(w, (xs - xm) ** 2)
            slope = np.dot(w, (xs - xm) * (ys - ym)) / sxx if sxx > 1e-12 * (h * h) * sw else 0.0
            fitted[i] = ym + slope * (xs[i] - xm)
        if it == iterations:
            break
        res = ys - fitted
        s = np.median(np.abs(res))
        if s == 0:
            break
        robust = np.clip(1 - (res / (6.0 * s)) ** 2, 0.0, 1.0) ** 2  # bisquare
    return xs, fitted
