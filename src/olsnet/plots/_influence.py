"""Numbers behind the diagnostic plots, as pure functions of arrays (no matplotlib here).

Leverage, studentized residuals and Cook's distance are the fit's own
(:meth:`olsnet.RegressionResult.get_influence`, with its rank and leverage rule); the smoother is Cleveland's (1979) LOWESS as in R's
``lowess`` (``f = 2/3``, three robustness iterations); Q-Q positions are R's ``ppoints``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["lowess", "normal_positions"]


def normal_positions(n: int) -> np.ndarray:
    """Standard normal quantiles at R's ``ppoints(n)``: ``(i − a)/(n + 1 − 2a)``, a = 3/8 if n ≤ 10 else 1/2."""
    a = 0.375 if n <= 10 else 0.5
    return ndtri((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


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
