"""The immutable result of a linear regression: coefficients, covariances, tests, fit statistics.

Names and definitions follow statsmodels' ``RegressionResults`` (OLS / WLS with analytic
weights) so users find what they know; the formulas are in :class:`RegressionResult`'s Notes.
A statistic that does not apply (F with no regressors, R² of a constant y, anything without
residual degrees of freedom) is NaN, with the reason kept for the summary; reading it as an
attribute issues a :class:`~olsnet.errors.NotAvailableWarning` that says why.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import COV_TYPES, check_option
from ..errors import DataError, DimensionError, FormatError, NotAvailableWarning
from ._distributions import f_sf, t_isf, t_sf
from .covariance import (
    ResidualPass,
    hc_covariance,
    nonrobust_covariance,
    residual_pass,
    unshift_matrix,
)

if TYPE_CHECKING:
    from ..solve import LstsqSolution
    from .optimality import Optimality
    from .prediction import PredictionResult
    from .summary import Summary

__all__ = ["RegressionResult"]

# relative size below which a total sum of squares counts as zero (y constant up to rounding)
_TSS_ZERO = 1e-24
_EXACT = "the fit is exact (ssr is 0 up to rounding)"


def _readonly(a: Any, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def _stat_property(name: str, doc: str) -> Any:
    """A read-only fit statistic: float (1-D y) or (q,) array; warns when not available."""

    def get(self: RegressionResult) -> Any:
        return self._public(name)

    get.__doc__ = doc
    return property(get)


@dataclass
class _Cache:
    """Private, shared by a result and its ``with_cov`` copies: the one pass over the data."""

    data_pass: ResidualPass | None = None
    sum_log_weights: float | None = None


@dataclass(frozen=True, eq=False)
class RegressionResult:
    """Result of a least-squares fit of ``q`` outputs on ``[1 X]``.

    Build it with :meth:`from_solution` (or get it as ``LinearRegression().fit(...).result_``).
    All arrays are read-only; :meth:`with_cov` returns a new result.

    Shapes: ``k = fit_intercept + n_features`` parameters, intercept first (``param_names``).
    For a 1-D ``y`` (``y_ndim == 1``) ``params``, ``bse``, ``tvalues``, ``pvalues`` are (k,),
    ``conf_int()`` is (k, 2), ``cov_params()`` is (k, k) and fit statistics are floats. For a
    2-D ``y`` with ``q`` columns they are (k, q), (k, q, 2), (q, k, k) and (q,): each output's
    statistics are those of fitting that output alone.

    Notes
    -----
    With weighted residuals ``ẽ = √w e``, ``n`` rows of positive weight, ``r`` the rank and
    ``k₀ = 1`` with an intercept (else 0), as statsmodels' WLS and R's ``lm`` define them:

    * ``ssr = Σ ẽ²``, ``df_resid = n - r``, ``df_model = r - k₀``, ``scale = ssr / df_resid``
    * ``centered_tss = Σ w (y - ȳ_w)²``, ``uncentered_tss = Σ w y²``; ``tss`` is the centered one
      with an intercept, the uncentered one without (R's and NIST's R² for a model through 0)
    * ``ess = tss - ssr``, ``rsquared = 1 - ssr / tss``,
      ``rsquared_adj = 1 - (n - k₀) / df_resid · (1 - rsquared)``
    * nonrobust ``fvalue = (ess / df_model) / scale``; robust: the Wald F of all non-intercept
      coefficients with the robust covariance (statsmodels, lmtest::waldtest); ``f_pvalue``
      from F(df_model, df_resid)
    * ``llf = -n/2 (log(2π ssr / n) + 1) + ½ Σ log w``, ``aic = -2 llf + 2 r``,
      ``bic = -2 llf + r log n``
    * ``tvalues = params / bse``; p values and intervals from Student's t with ``df_resid``
      for every covariance type (statsmodels ``use_t=True``, R's lmtest, Stata)

    References: statsmodels ``RegressionResults``; R ``summary.lm``, ``sandwich::vcovHC``;
    MacKinnon & White (1985), J. Econometrics 29, 305-325.

    Examples
    --------
    >>> import numpy as np
    >>> from olsnet.data import ArraySource, as_design
    >>> from olsnet.solve import exact_lstsq
    >>> d = as_design(np.arange(5.0)[:, None], np.array([1.0, 2.9, 5.1, 7.0, 9.0]))
    >>> sol = exact_lstsq(d.X, d.Y, d.weights, True)
    >>> res = RegressionResult.from_solution(sol, ArraySource(d), y_ndim=1)
    >>> res.params.round(3)
    array([0.98, 2.01])
    >>> res.param_names, res.df_resid
    (('Intercept', 'x1'), 3.0)
    >>> res.with_cov("HC3").cov_type
    'HC3'
    """

    _params: np.ndarray = field(repr=False)  # (k, q)
    _cov_unscaled: np.ndarray = field(repr=False)  # (k, k)
    _cov: np.ndarray = field(repr=False)  # (q, k, k) under cov_type
    _ssr: np.ndarray = field(repr=False)  # (q,)
    _centered_tss: np.ndarray = field(repr=False)
    _uncentered_tss: np.ndarray = field(repr=False)
    _aliased: np.ndarray = field(repr=False)  # (k,) bool
    _R_x: np.ndarray = field(repr=False)  # (r, r)
    _shift_x: np.ndarray = field(repr=False)  # (p,)
    nobs: int
    sum_weights: float
    rank: int
    fit_intercept: bool
    condition_number: float
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    y_ndim: int
    cov_type: str = "nonrobust"
    n_dropped: int = 0
    method: str = ""
    optimality: Optimality | None = None
    _source: Any = field(default=None, repr=False)
    _cache: _Cache = field(default_factory=_Cache, repr=False)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_solution(
        cls,
        solution: LstsqSolution,
        source: Any = None,
        *,
        feature_names: tuple[str, ...] | list[str] | None = None,
        target_names: tuple[str, ...] | list[str] | None = None,
        y_ndim: int = 1,
        cov_type: str = "nonrobust",
        n_dropped: int = 0,
    ) -> RegressionResult:
        """Result of a solved least-squares problem.

        Parameters
        ----------
        solution : olsnet.solve.LstsqSolution
        source : block source or None
            The rows the solution was fitted on (``blocks()`` yielding ``(X, Y, w)``). Needed
            for HC covariances, the ``Σ log w`` term of ``llf`` and in-sample predictions;
            without it those raise a DataError saying the data are needed.
        feature_names, target_names : sequence of str, optional
            Defaults: the source's names, else ``x1..xp`` and ``y`` / ``y0..``.
        y_ndim : {1, 2}
            1 when y came 1-D (statistics are then scalars and params (k,)).
        cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3"}
        n_dropped : int
            Rows dropped for missing values (reported in the summary).
        """
        check_option("cov_type", cov_type, COV_TYPES)
        p, q = solution.n_features, solution.n_outputs
        fnames = _names(feature_names, getattr(source, "feature_names", None), p, "x", 1)
        default_t = ("y",) if q == 1 else None
        tnames = _names(target_names, getattr(source, "target_names", None) or default_t, q, "y", 0)
        if y_ndim not in (1, 2) or (y_ndim == 1 and q != 1):
            raise DimensionError(
                f"y_ndim must be 1 (one output) or 2; got {y_ndim} with {q} output(s)"
            )
        res = cls(
            _params=_readonly(solution.params),
            _cov_unscaled=_readonly(solution.cov_unscaled),
            _cov=_readonly(np.zeros((q, 0, 0))),
            _ssr=_readonly(solution.ssr),
            _centered_tss=_readonly(solution.centered_tss),
            _uncentered_tss=_readonly(solution.uncentered_tss),
            _aliased=_readonly(solution.aliased, bool),
            _R_x=_readonly(solution.R_x),
            _shift_x=_readonly(solution.shift_x),
            nobs=int(solution.nobs),
            sum_weights=float(solution.sum_weights),
            rank=int(solution.rank),
            fit_intercept=bool(solution.fit_intercept),
            condition_number=float(solution.condition_number),
            feature_names=fnames,
            target_names=tnames,
            y_ndim=int(y_ndim),
            n_dropped=int(n_dropped),
            method=str(solution.method),
            _source=source,
        )
        return res.with_cov(cov_type)

    def with_cov(self, cov_type: str) -> RegressionResult:
        """A new result with covariance ``cov_type`` ("nonrobust", "HC0", "HC1", "HC2", "HC3").

        The HC covariances come from one pass over the data, made on first use and shared by
        every result derived from this one. Raises DataError when no data are attached.
        """
        check_option("cov_type", cov_type, COV_TYPES)
        k, q = self._params.shape
        kept = np.flatnonzero(~self._aliased)
        if cov_type == "nonrobust":
            kept_cov = nonrobust_covariance(
                self._cov_unscaled[np.ix_(kept, kept)], self._scale_values()
            )
        else:
            data_pass = self._data_pass(f"cov_type={cov_type!r}")
            icpt_kept = self.fit_intercept and kept.size > 0 and kept[0] == 0
            feat = kept[int(icpt_kept) :] - int(self.fit_intercept)
            T = unshift_matrix(self._shift_x[feat], kept.size, icpt_kept)
            kept_cov = hc_covariance(
                cov_type, data_pass.meats, self._R_x, T, self.nobs, self.df_resid
            )
        cov = np.full((q, k, k), np.nan)
        cov[:, kept[:, None], kept[None, :]] = kept_cov
        return replace(self, cov_type=cov_type, _cov=_readonly(cov))

    def _data_pass(self, what: str) -> ResidualPass:
        """The cached pass over the data (residuals, leverages, HC meats), made once."""
        if self._cache.data_pass is None:
            if self._source is None:
                raise DataError(
                    f"{what} needs the data this result was fitted on (it sums over rows of "
                    "residuals), but none are attached: the result was built without a source "
                    "or loaded from a file saved before this was computed. Refit with the data, "
                    "or build it with RegressionResult.from_solution(solution, source)"
                )
            kept = np.flatnonzero(~self._aliased)
            args = (self._params, self._R_x, self._shift_x, kept, self.fit_intercept)
            own_pass = getattr(self._source, "residual_pass", None)  # e.g. dask: per partition
            self._cache.data_pass = (
                own_pass(*args)
                if callable(own_pass)
                else residual_pass(self._source.blocks(), *args)
            )
            self._cache.sum_log_weights = self._cache.data_pass.sum_log_weights
        return self._cache.data_pass

    def _sum_log_weights(self) -> float | None:
        """Σ log w over rows of positive weight (0 without weights); None when unknown."""
        if self._cache.sum_log_weights is None and _source_weighted(self._source) is False:
            self._cache.sum_log_weights = 0.0  # no weights: no pass over the data needed
        if self._cache.sum_log_weights is None and self._source is not None:
            total = 0.0
            for _X, _Y, w in self._source.blocks():
                if w is not None:
                    total += float(np.log(w[w > 0]).sum())
            self._cache.sum_log_weights = total
        return self._cache.sum_log_weights

    # -- shapes ------------------------------------------------------------------------------------
    @property
    def n_outputs(self) -> int:
        return int(self._params.shape[1])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names, "Intercept" first when the model has one."""
        return (("Intercept",) if self.fit_intercept else ()) + self.feature_names

    @property
    def aliased(self) -> tuple[str, ...]:
        """Names of aliased (collinear or constant) columns: NaN coefficients, not in the rank."""
        return tuple(n for n, a in zip(self.param_names, self._aliased, strict=True) if a)

    def _per_output(self, values: np.ndarray) -> Any:
        """(q,) -> float for a 1-D y, else a read-only (q,) array."""
        return float(values[0]) if self.y_ndim == 1 else _readonly(values)

    def _per_param(self, values: np.ndarray) -> np.ndarray:
        """(k, q) -> (k,) for a 1-D y, read-only."""
        return _readonly(values[:, 0] if self.y_ndim == 1 else values)

    def _public(self, name: str) -> Any:
        values, reasons = self._statistic(name)
        why = sorted({r for r in reasons if r})
        if why:
            warnings.warn(
                f"{name} is not available: {'; '.join(why)}", NotAvailableWarning, stacklevel=3
            )
        return self._per_output(values)

    # -- coefficients ------------------------------------------------------------------------------
    @property
    def params(self) -> np.ndarray:
        """Coefficients, intercept first: (k,) or (k, q); NaN for aliased columns."""
        return self._per_param(self._params)

    def _bse(self) -> np.ndarray:
        diag = np.diagonal(self._cov, axis1=1, axis2=2).T  # (k, q)
        with np.errstate(invalid="ignore"):
            return np.sqrt(diag)

    @property
    def bse(self) -> np.ndarray:
        """Standard errors under ``cov_type``: (k,) or (k, q)."""
        return self._per_param(self._bse())

    def _tvalues(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._params / self._bse()

    @property
    def tvalues(self) -> np.ndarray:
        """``params / bse``: (k,) or (k, q)."""
        return self._per_param(self._tvalues())

    def _pvalues(self) -> np.ndarray:
        return (
            2.0 * t_sf(np.abs(self._tvalues()), self.df_resid)
            if self.df_resid > 0
            else np.full(self._params.shape, np.nan)
        )

    @property
    def pvalues(self) -> np.ndarray:
        """Two-sided p values from Student's t with ``df_resid``: (k,) or (k, q)."""
        return self._per_param(self._pvalues())

    def _conf_int(self, alpha: float) -> np.ndarray:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1); got {alpha}")
        crit = t_isf(alpha / 2.0, self.df_resid) if self.df_resid > 0 else np.nan
        half = crit * self._bse()
        return np.stack([self._params - half, self._params + half], axis=-1)  # (k, q, 2)

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """``1 - alpha`` confidence intervals: (k, 2) or (k, q, 2), columns lower, upper."""
        ci = self._conf_int(alpha)
        return _readonly(ci[:, 0, :] if self.y_ndim == 1 else ci)

    def cov_params(self) -> np.ndarray:
        """Covariance of the coefficients under ``cov_type``: (k, k) or (q, k, k)."""
        return _readonly(self._cov[0] if self.y_ndim == 1 else self._cov)

    # -- degrees of freedom and sums of squares ----------------------------------------------------
    @property
    def k_constant(self) -> int:
        """1 when the model has an (identified) intercept, else 0."""
        return int(self.fit_intercept and not self._aliased[0])

    @property
    def df_resid(self) -> float:
        """``nobs - rank``."""
        return float(self.nobs - self.rank)

    @property
    def df_model(self) -> float:
        """``rank - k_constant``: aliased columns and the intercept are not counted."""
        return float(self.rank - self.k_constant)

    @property
    def ssr(self) -> Any:
        """Weighted sum of squared residuals ``Σ w e²``."""
        return self._per_output(self._ssr)

    @property
    def centered_tss(self) -> Any:
        """``Σ w (y - ȳ_w)²``."""
        return self._per_output(self._centered_tss)

    @property
    def uncentered_tss(self) -> Any:
        """``Σ w y²``."""
        return self._per_output(self._uncentered_tss)

    def _tss(self) -> np.ndarray:
        return self._centered_tss if self.k_constant else self._uncentered_tss

    def _exact_fit(self) -> np.ndarray:
        """(q,) bool: ssr is 0 up to rounding (relative to Σ w y²), the data lie on the plane."""
        return self._ssr <= _TSS_ZERO * np.maximum(self._uncentered_tss, np.finfo(float).tiny)

    def _scale_values(self) -> np.ndarray:
        if self.df_resid <= 0:
            return np.full(self.n_outputs, np.nan)
        return self._ssr / self.df_resid

    # -- statistics with reasons -------------------------------------------------------------------
    def _statistic(self, name: str) -> tuple[np.ndarray, list[str | None]]:
        """(values (q,), reason per output or None) for a named fit statistic."""
        q = self.n_outputs
        nan = np.full(q, np.nan)
        no_df = (
            (
                f"no residual degrees of freedom (nobs {self.nobs} - rank {self.rank} = "
                f"{self.df_resid:g})"
            )
            if self.df_resid <= 0
            else None
        )
        tss = self._tss()
        const_y = [
            (
                "y is constant (its centered total sum of squares is 0)"
                if self.k_constant
                else "y is 0 in every row (its total sum of squares is 0)"
            )
            if t <= _TSS_ZERO * max(u, np.finfo(float).tiny)
            else None
            for t, u in zip(tss, self._uncentered_tss, strict=True)
        ]
        every = [no_df] * q
        if name == "scale":
            return self._scale_values(), every
        if name == "rsquared":
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where([c is None for c in const_y], 1.0 - self._ssr / tss, np.nan)
            return r2, const_y
        if name == "rsquared_adj":
            r2, why = self._statistic("rsquared")
            if no_df:
                return nan, every
            return 1.0 - (self.nobs - self.k_constant) / self.df_resid * (1.0 - r2), why
        if name == "ess":
            return tss - self._ssr, [None] * q
        if name in ("fvalue", "f_pvalue"):
            values, reasons = self._f_test(name, no_df)
            for j in range(q):  # F compares explained with residual variation: needs both
                extra = const_y[j] or (_EXACT if self._exact_fit()[j] else None)
                if extra and not reasons[j]:
                    values[j], reasons[j] = np.nan, extra
            return values, reasons
        if name in ("llf", "aic", "bic"):
            return self._likelihood(name)
        raise AttributeError(name)

    def _f_test(self, name: str, no_df: str | None) -> tuple[np.ndarray, list[str | None]]:
        q = self.n_outputs
        nan = np.full(q, np.nan)
        if self.df_model == 0:
            why = "the model has no regressors besides the intercept (df_model = 0)"
            return nan, [why] * q
        if no_df:
            return nan, [no_df] * q
        tested = np.flatnonzero(~self._aliased)[self.k_constant :]  # non-intercept kept params
        if self.cov_type == "nonrobust":
            F = (self._tss() - self._ssr) / self.df_model / self._scale_values()
        else:  # Wald F with the robust covariance, as statsmodels and lmtest::waldtest
            F = np.empty(q)
            for j in range(q):
                b = self._params[tested, j]
                V = self._cov[j][np.ix_(tested, tested)]
                try:
                    F[j] = b @ np.linalg.solve(V, b) / tested.size
                except np.linalg.LinAlgError:
                    F[j] = np.nan
            if np.isnan(F).any():
                why = f"the {self.cov_type} covariance of the slopes is singular or undefined"
                reasons = [why if np.isnan(f) else None for f in F]
                return (F if name == "fvalue" else f_sf(F, self.df_model, self.df_resid), reasons)
        if name == "fvalue":
            return F, [None] * q
        return f_sf(F, self.df_model, self.df_resid), [None] * q

    def _likelihood(self, name: str) -> tuple[np.ndarray, list[str | None]]:
        q = self.n_outputs
        n = self.nobs
        slw = self._sum_log_weights()
        if slw is None:
            why = (
                "the log-likelihood of a weighted fit needs Σ log w, and no data are attached"
                " (refit with the data)"
            )
            return np.full(q, np.nan), [why] * q
        exact = self._exact_fit()
        reasons: list[str | None] = [
            _EXACT + ", so the likelihood is unbounded" if e else None for e in exact
        ]
        with np.errstate(divide="ignore"):
            llf = np.where(
                ~exact, -0.5 * n * (np.log(2.0 * np.pi * self._ssr / n) + 1.0) + 0.5 * slw, np.nan
            )
        if name == "llf":
            return llf, reasons
        penalty = 2.0 * self.rank if name == "aic" else math.log(n) * self.rank
        return -2.0 * llf + penalty, reasons

    scale = _stat_property("scale", "Residual variance ``ssr / df_resid``.")
    mse_resid = _stat_property("scale", "Same as ``scale``.")
    rsquared = _stat_property(
        "rsquared", "R²: centered with an intercept, uncentered without (as R and NIST)."
    )
    rsquared_adj = _stat_property("rsquared_adj", "Adjusted R².")
    ess = _stat_property("ess", "Explained sum of squares ``tss - ssr``.")
    fvalue = _stat_property(
        "fvalue", "F statistic of all non-intercept coefficients (robust Wald F under HC)."
    )
    f_pvalue = _stat_property("f_pvalue", "p value of ``fvalue`` from F(df_model, df_resid).")
    llf = _stat_property(
        "llf", "Gaussian log-likelihood (with the ``½ Σ log w`` term of statsmodels' WLS)."
    )
    aic = _stat_property("aic", "``-2 llf + 2 rank``.")
    bic = _stat_property("bic", "``-2 llf + rank log(nobs)``.")

    # -- predictions, summaries, serialisation -----------------------------------------------------
    def get_prediction(self, X: Any = None, *, weights: Any = None) -> PredictionResult:
        """Predictions at new rows ``X`` (m, p) with confidence and prediction intervals.

        ``X=None`` predicts the rows the model was fitted on (needs the data). ``weights``
        (m,) are the analytic weights of the new observations for prediction intervals
        (default 1), as statsmodels' ``get_prediction(weights=...)``.
        """
        from .prediction import predict

        return predict(self, X, weights)

    def summary(self, alpha: float = 0.05) -> Summary:
        """Summary tables (text, markdown, HTML, DataFrame): one block per output."""
        from .summary import build_summary

        return build_summary(self, alpha)

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def to_dict(self, alpha: float = 0.05) -> dict[str, Any]:
        """JSON-able description (NaN -> None; reasons for statistics not available)."""
        from .summary import result_dict

        return result_dict(self, alpha)

    def _state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(meta: JSON-able dict, arrays: plain numeric ndarrays) for safe model files.

        The current covariance is stored, and the HC meats when they have been computed, so a
        loaded result switches among the covariance types computed before without data.
        """
        from .optimality import optimality_to_dict

        meta: dict[str, Any] = {
            "kind": "olsnet.RegressionResult",
            "version": 1,
            "nobs": self.nobs,
            "sum_weights": self.sum_weights,
            "rank": self.rank,
            "fit_intercept": self.fit_intercept,
            "condition_number": _json_float(self.condition_number),
            "feature_names": list(self.feature_names),
            "target_names": list(self.target_names),
            "y_ndim": self.y_ndim,
            "cov_type": self.cov_type,
            "n_dropped": self.n_dropped,
            "method": self.method,
            "sum_log_weights": self._sum_log_weights_if_known(),
            "optimality": None if self.optimality is None else optimality_to_dict(self.optimality),
        }
        arrays = {
            "params": np.array(self._params),
            "cov_unscaled": np.array(self._cov_unscaled),
            "cov": np.array(self._cov),
            "ssr": np.array(self._ssr),
            "centered_tss": np.array(self._centered_tss),
            "uncentered_tss": np.array(self._uncentered_tss),
            "aliased": self._aliased.astype(np.uint8),
            "R_x": np.array(self._R_x),
            "shift_x": np.array(self._shift_x),
        }
        dp = self._cache.data_pass
        if dp is not None:
            arrays["hc_meats"] = np.array(dp.meats)
            arrays["gradient"] = np.array(dp.gradient)
            meta["max_leverage"] = dp.max_leverage
        return meta, arrays

    def _sum_log_weights_if_known(self) -> float | None:
        try:
            return self._sum_log_weights()
        except Exception:  # a source that can no longer be read: store what is known
            return self._cache.sum_log_weights

    @classmethod
    def _from_state_dict(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> RegressionResult:
        """Rebuild a result saved by :meth:`_state_dict` (no data attached)."""
        from .optimality import optimality_from_dict

        if meta.get("kind") != "olsnet.RegressionResult":
            raise FormatError(f"not a RegressionResult state (kind={meta.get('kind')!r})")
        try:
            params = np.asarray(arrays["params"], dtype=np.float64)
            k, q = params.shape
            a = {
                name: np.asarray(arrays[name], dtype=np.float64)
                for name in (
                    "cov_unscaled",
                    "cov",
                    "ssr",
                    "centered_tss",
                    "uncentered_tss",
                    "R_x",
                    "shift_x",
                )
            }
            aliased = np.asarray(arrays["aliased"]).astype(bool)
            rank = int(meta["rank"])
            expected = {
                "cov_unscaled": (k, k),
                "cov": (q, k, k),
                "ssr": (q,),
                "centered_tss": (q,),
                "uncentered_tss": (q,),
                "R_x": (rank, rank),
                "shift_x": (k - int(meta["fit_intercept"]),),
            }
            for name, shape in expected.items():
                if a[name].shape != shape:
                    raise FormatError(f"array {name!r} has shape {a[name].shape}, expected {shape}")
            if aliased.shape != (k,):
                raise FormatError(f"array 'aliased' has shape {aliased.shape}, expected ({k},)")
            cache = _Cache(sum_log_weights=meta.get("sum_log_weights"))
            if "hc_meats" in arrays:
                meats = np.asarray(arrays["hc_meats"], dtype=np.float64)
                if meats.shape != (q, 3, rank, rank):
                    raise FormatError(
                        f"array 'hc_meats' has shape {meats.shape}, expected {(q, 3, rank, rank)}"
                    )
                cache.data_pass = ResidualPass(
                    meats,
                    a["ssr"].copy(),
                    float(meta.get("sum_log_weights") or 0.0),
                    int(meta["nobs"]),
                    float(meta.get("max_leverage", np.nan)),
                    np.asarray(arrays.get("gradient", np.zeros((rank, q))), dtype=np.float64),
                )
            opt = meta.get("optimality")
            return cls(
                _params=_readonly(params),
                _cov_unscaled=_readonly(a["cov_unscaled"]),
                _cov=_readonly(a["cov"]),
                _ssr=_readonly(a["ssr"]),
                _centered_tss=_readonly(a["centered_tss"]),
                _uncentered_tss=_readonly(a["uncentered_tss"]),
                _aliased=_readonly(aliased, bool),
                _R_x=_readonly(a["R_x"]),
                _shift_x=_readonly(a["shift_x"]),
                nobs=int(meta["nobs"]),
                sum_weights=float(meta["sum_weights"]),
                rank=rank,
                fit_intercept=bool(meta["fit_intercept"]),
                condition_number=_float_or_nan(meta["condition_number"]),
                feature_names=tuple(meta["feature_names"]),
                target_names=tuple(meta["target_names"]),
                y_ndim=int(meta["y_ndim"]),
                cov_type=check_option("cov_type", meta["cov_type"], COV_TYPES),
                n_dropped=int(meta["n_dropped"]),
                method=str(meta["method"]),
                optimality=None if opt is None else optimality_from_dict(opt),
                _cache=cache,
            )
        except KeyError as exc:
            raise FormatError(f"RegressionResult state is missing {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"RegressionResult state is malformed: {exc}") from None


def _source_weighted(source: Any) -> bool | None:
    """Whether a block source carries weights, when it says so without a pass (else None)."""
    if source is None:
        return None
    design = getattr(source, "design", None)  # olsnet.data.ArraySource
    if design is not None and hasattr(design, "weights"):
        return design.weights is not None
    flag = getattr(source, "weighted", None)  # dask sources
    if isinstance(flag, bool):
        return flag
    if hasattr(source, "weights") and (source.weights is None or isinstance(source.weights, str)):
        return source.weights is not None  # file sources: the weight column's name or None
    return None


def _names(given: Any, from_source: Any, count: int, stem: str, start: int) -> tuple[str, ...]:
    names = given if given is not None else from_source
    if names is None:
        return tuple(f"{stem}{j + start}" for j in range(count)) if count > 1 or start else (stem,)
    names = tuple(str(n) for n in names)
    if len(names) != count:
        raise DimensionError(
            f"got {len(names)} names for {count} columns: {names}; pass one name per column"
        )
    return names


def _json_float(v: float) -> float | str:
    """A float for JSON: "nan", "inf" and "-inf" as strings (JSON has no such numbers)."""
    return float(v) if math.isfinite(v) else str(float(v))


def _float_or_nan(v: Any) -> float:
    return float("nan") if v is None else float(v)
