"""The residual lines of a summary: statsmodels' normality and autocorrelation block, R's lines.

On the weighted residuals ``ẽ`` (statsmodels' ``wresid``; R's ``summary.lm`` shows the same for
weighted fits), in row order:

* Omnibus: D'Agostino-Pearson ``K²`` (``scipy.stats.normaltest``), its χ²(2) p value
* Skew ``m₃ / m₂^{3/2}``, Kurtosis ``m₄ / m₂²`` (not excess), central moments of ``ẽ``
* Jarque-Bera ``n/6 (S² + (K - 3)²/4)``, χ²(2) p value (``statsmodels.stats.stattools``)
* Durbin-Watson ``Σ (ẽ_t - ẽ_{t-1})² / Σ ẽ_t²``
* R: residual quantiles Min, 1Q, Median, 3Q, Max (``quantile`` type 7) and
  "Residual standard error: s on df degrees of freedom"

Each needs the rows (one pass of residuals); without them it is not available, and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["ResidualTests", "residual_tests"]

_NEEDS_DATA = "needs the residuals of every row, and no data are attached"
_NEEDS_ROWS = "needs at least 8 rows (D'Agostino's skewness test)"


@dataclass(frozen=True)
class ResidualTests:
    """Per output ``j``: ``values[name][j]`` and, when not available, ``reason``."""

    values: dict[str, np.ndarray]
    quantiles: np.ndarray | None  # (q, 5)
    reason: str | None


def residual_tests(res: RegressionResult) -> ResidualTests:
    """Omnibus, skew, kurtosis, Jarque-Bera, Durbin-Watson and quantiles of every output."""
    q = res.n_outputs
    names = (
        "omnibus",
        "omnibus_p",
        "skew",
        "kurtosis",
        "jarque_bera",
        "jarque_bera_p",
        "durbin_watson",
    )
    nan = {n: np.full(q, np.nan) for n in names}
    if res.source is None:
        return ResidualTests(nan, None, _NEEDS_DATA)
    from ._rows import fitted

    parts = []
    for X, Y, w in res.source.blocks():
        Yb = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
        e = Yb - fitted(res.solution, X)
        if w is not None:
            wv = np.asarray(w, dtype=np.float64)
            e = (e * np.sqrt(wv)[:, None])[wv > 0]  # rows of zero weight are not observations
        parts.append(e)
    E = np.concatenate(parts) if parts else np.zeros((0, q))
    quantiles = np.quantile(E, [0.0, 0.25, 0.5, 0.75, 1.0], axis=0).T if len(E) else None
    if E.shape[0] < 8:
        return ResidualTests(nan, quantiles, _NEEDS_ROWS)
    from scipy import stats  # imported when a summary is made, not with olsnet

    n = E.shape[0]
    c = E - E.mean(axis=0)
    m2, m3, m4 = (c**2).mean(axis=0), (c**3).mean(axis=0), (c**4).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew, kurt = m3 / m2**1.5, m4 / m2**2
        jb = n / 6.0 * (skew**2 + (kurt - 3.0) ** 2 / 4.0)
        omni = stats.normaltest(E, axis=0)
        dw = (np.diff(E, axis=0) ** 2).sum(axis=0) / (E**2).sum(axis=0)
    values = {
        "omnibus": np.asarray(omni.statistic, dtype=np.float64),
        "omnibus_p": np.asarray(omni.pvalue, dtype=np.float64),
        "skew": skew,
        "kurtosis": kurt,
        "jarque_bera": jb,
        "jarque_bera_p": stats.chi2.sf(jb, 2),
        "durbin_watson": dw,
    }
    return ResidualTests(values, quantiles, None)
