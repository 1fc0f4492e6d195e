"""Every statistic of a result, and the rule that says when it is not available and why.

One function per statistic, each returning a :class:`Stat`: the values and, beside each, the
reason it is not available (``None`` where it is). The result's properties, the summary, the
JSON rendering and the command line all read statistics through these functions, so one rule
decides "not available" for every output (an exact fit has no t or p anywhere, not only in
the text summary).

The definitions are statsmodels' ``RegressionResults`` (OLS / WLS with analytic weights) and
R's ``summary.lm``; the formulas are in :class:`~olsnet.inference.RegressionResult`'s Notes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import OptionError
from ._distributions import f_sf, t_isf, t_sf

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = [
    "EXACT",
    "FIT_STATISTICS",
    "Stat",
    "coef_table",
    "exact_fit",
    "fit_statistic",
]

# relative size below which a sum of squares counts as zero (rounding level of Σ w y²)
TSS_ZERO = 1e-24
EXACT = "the fit is exact (ssr is 0 up to rounding)"
ALIASED = "aliased: a linear combination of the columns before it, so not estimated"


@dataclass(frozen=True, eq=False)
class Stat:
    """A statistic's values and, beside each, why it is not available (``None`` where it is).

    Attributes
    ----------
    value : ndarray
        (q,) for a fit statistic, (k, q) for a coefficient statistic; NaN where not available.
    reason : ndarray of object
        Same shape as ``value``: a ``str`` saying why the entry is not available, else None.
    """

    value: np.ndarray
    reason: np.ndarray

    @classmethod
    def of(cls, value: np.ndarray, reason: object = None) -> Stat:
        """``value`` with one reason (or None) broadcast to every entry; NaN where a reason."""
        value = np.array(value, dtype=np.float64)
        why = np.empty(value.shape, dtype=object)
        why[...] = reason if not isinstance(reason, (list, tuple)) else None
        if isinstance(reason, (list, tuple)):  # one reason per output (last axis)
            for j, r in enumerate(reason):
                why[..., j] = r
        value[why != None] = np.nan  # noqa: E711 (element-wise)
        return cls(value, why)

    def where(self, mask: np.ndarray, reason: str) -> Stat:
        """This statistic with ``reason`` (and NaN) added where ``mask`` and no reason yet."""
        add = np.broadcast_to(mask, self.value.shape) & (self.reason == None)  # noqa: E711
        value, why = self.value.copy(), self.reason.copy()
        value[add], why[add] = np.nan, reason
        return Stat(value, why)

    def reasons(self) -> tuple[str, ...]:
        """The distinct reasons, sorted."""
        return tuple(sorted({r for r in self.reason.ravel() if r}))


# -- fit statistics (q,) ------------------------------------------------------------------------
def exact_fit(res: RegressionResult) -> np.ndarray:
    """(q,) bool: ssr is 0 up to rounding (relative to Σ w y²), the data lie on the plane."""
    sol = res.solution
    return sol.ssr <= TSS_ZERO * np.maximum(sol.uncentered_tss, np.finfo(float).tiny)


def no_df_reason(res: RegressionResult) -> str | None:
    if res.df_resid > 0:
        return None
    return f"no residual degrees of freedom (nobs {res.nobs} - rank {res.rank} = {res.df_resid:g})"


def tss(res: RegressionResult) -> np.ndarray:
    """Centered total sum of squares with an intercept, uncentered without (R, NIST)."""
    sol = res.solution
    return sol.centered_tss if res.k_constant else sol.uncentered_tss


def scale_values(res: RegressionResult) -> np.ndarray:
    """(q,) ``ssr / df_resid`` (NaN without residual degrees of freedom)."""
    if res.df_resid <= 0:
        return np.full(res.n_outputs, np.nan)
    return res.solution.ssr / res.df_resid


def scale(res: RegressionResult) -> Stat:
    return Stat.of(scale_values(res), no_df_reason(res))


def _constant_y(res: RegressionResult) -> list[str | None]:
    why = (
        "y is constant (its centered total sum of squares is 0)"
        if res.k_constant
        else "y is 0 in every row (its total sum of squares is 0)"
    )
    return [
        why if t <= TSS_ZERO * max(u, np.finfo(float).tiny) else None
        for t, u in zip(tss(res), res.solution.uncentered_tss, strict=True)
    ]


def rsquared(res: RegressionResult) -> Stat:
    with np.errstate(divide="ignore", invalid="ignore"):
        return Stat.of(1.0 - res.solution.ssr / tss(res), _constant_y(res))


def rsquared_adj(res: RegressionResult) -> Stat:
    if no_df_reason(res):
        return Stat.of(np.full(res.n_outputs, np.nan), no_df_reason(res))
    r2 = rsquared(res)
    adj = 1.0 - (res.nobs - res.k_constant) / res.df_resid * (1.0 - r2.value)
    return Stat(adj, r2.reason)


def ess(res: RegressionResult) -> Stat:
    return Stat.of(tss(res) - res.solution.ssr)


def _wald_f(res: RegressionResult) -> Stat:
    """F of all non-intercept coefficients: ESS-based (nonrobust) or Wald with the covariance."""
    q = res.n_outputs
    nan = np.full(q, np.nan)
    if res.df_model == 0:
        return Stat.of(nan, "the model has no regressors besides the intercept (df_model = 0)")
    if res.cov_reason:
        return Stat.of(nan, res.cov_reason)
    if no_df_reason(res):
        return Stat.of(nan, no_df_reason(res))
    tested = np.flatnonzero(~res.solution.aliased)[res.k_constant :]  # non-intercept kept
    if res.cov_type == "nonrobust":
        with np.errstate(divide="ignore", invalid="ignore"):  # constant y: reason set below
            F = (tss(res) - res.solution.ssr) / res.df_model / scale_values(res)
        stat = Stat.of(F)
    else:  # Wald F with the robust covariance, as statsmodels and lmtest::waldtest
        F = np.empty(q)
        for j in range(q):
            b = res.solution.params[tested, j]
            V = res.covariance[j][np.ix_(tested, tested)]
            try:
                F[j] = b @ np.linalg.solve(V, b) / tested.size
            except np.linalg.LinAlgError:
                F[j] = np.nan
        why = f"the {res.cov_type} covariance of the slopes is singular or undefined"
        stat = Stat.of(F).where(np.isnan(F), why)
    # F compares explained with residual variation: it needs both
    for j, c in enumerate(_constant_y(res)):
        if c:
            stat = stat.where(np.arange(q) == j, c)
    return stat.where(exact_fit(res), EXACT)


def fvalue(res: RegressionResult) -> Stat:
    return _wald_f(res)


def f_pvalue(res: RegressionResult) -> Stat:
    F = _wald_f(res)
    with np.errstate(invalid="ignore"):
        p = f_sf(F.value, res.df_model, res.df_resid_inference)
    return Stat(np.where(F.reason == None, p, np.nan), F.reason)  # noqa: E711


def llf(res: RegressionResult) -> Stat:
    q, n = res.n_outputs, res.nobs
    slw = res.sum_log_weights
    if slw is None:
        why = (
            "the log-likelihood of a weighted fit needs Σ log w, and no data are attached"
            " (refit with the data)"
        )
        return Stat.of(np.full(q, np.nan), why)
    with np.errstate(divide="ignore"):
        value = -0.5 * n * (np.log(2.0 * np.pi * res.solution.ssr / n) + 1.0) + 0.5 * slw
    return Stat.of(value).where(exact_fit(res), EXACT + ", so the likelihood is unbounded")


def aic(res: RegressionResult) -> Stat:
    ll = llf(res)
    return Stat(-2.0 * ll.value + 2.0 * res.rank, ll.reason)


def bic(res: RegressionResult) -> Stat:
    ll = llf(res)
    return Stat(-2.0 * ll.value + math.log(res.nobs) * res.rank, ll.reason)


FIT_STATISTICS: dict[str, Callable[[RegressionResult], Stat]] = {
    "scale": scale,
    "rsquared": rsquared,
    "rsquared_adj": rsquared_adj,
    "ess": ess,
    "fvalue": fvalue,
    "f_pvalue": f_pvalue,
    "llf": llf,
    "aic": aic,
    "bic": bic,
}


def fit_statistic(res: RegressionResult, name: str) -> Stat:
    """The fit statistic ``name`` (one of :data:`FIT_STATISTICS`) of every output."""
    try:
        return FIT_STATISTICS[name](res)
    except KeyError:
        raise OptionError(
            f"no fit statistic {name!r}; use one of {', '.join(FIT_STATISTICS)}"
        ) from None


# -- coefficient statistics (k, q) ----------------------------------------------------------------
def bse(res: RegressionResult) -> Stat:
    """Standard errors: the root of the covariance's diagonal."""
    diag = np.diagonal(res.covariance, axis1=1, axis2=2).T  # (k, q)
    with np.errstate(invalid="ignore"):
        stat = Stat.of(np.sqrt(diag))
    stat = stat.where(res.solution.aliased[:, None], ALIASED)
    no_df = no_df_reason(res)
    if no_df:
        stat = stat.where(np.ones_like(diag, dtype=bool), no_df)
    return stat.where(~np.isfinite(stat.value), res.cov_reason or "not finite")


def tvalues(res: RegressionResult) -> Stat:
    """``params / bse``; not available for an exact fit (0 / 0 up to rounding)."""
    se = bse(res)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = Stat(res.solution.params / se.value, se.reason)
    t = t.where(exact_fit(res)[None, :], EXACT + ": t and p are not defined")
    return t.where(~np.isfinite(t.value), "not finite")


def pvalues(res: RegressionResult) -> Stat:
    """Two-sided p values from Student's t with ``df_resid_inference``."""
    t = tvalues(res)
    df = res.df_resid_inference
    p = 2.0 * t_sf(np.abs(t.value), df) if df > 0 else np.full(t.value.shape, np.nan)
    return Stat(np.where(t.reason == None, p, np.nan), t.reason)  # noqa: E711


def t_critical(res: RegressionResult, alpha: float) -> float:
    """``t(1 - alpha/2, df_resid_inference)``; NaN without degrees of freedom."""
    if not 0.0 < alpha < 1.0:
        raise OptionError(f"alpha must be in (0, 1); got {alpha}")
    df = res.df_resid_inference
    return t_isf(alpha / 2.0, df) if df > 0 else float("nan")


def conf_int(res: RegressionResult, alpha: float) -> tuple[Stat, Stat]:
    """(lower, upper) ``params ∓ t(1 - alpha/2) bse``."""
    se = bse(res)
    half = t_critical(res, alpha) * se.value
    params = res.solution.params
    return Stat(params - half, se.reason), Stat(params + half, se.reason)


def coef_table(res: RegressionResult, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``(values (k, q, 6), reasons (k, q, 6))``: coef, std err, t, p, lower, upper."""
    coef = Stat.of(res.solution.params).where(res.solution.aliased[:, None], ALIASED)
    lo, hi = conf_int(res, alpha)
    parts = [coef, bse(res), tvalues(res), pvalues(res), lo, hi]
    return (
        np.stack([s.value for s in parts], axis=-1),
        np.stack([s.reason for s in parts], axis=-1),
    )
