"""The immutable result of a linear regression: a small value object with a typed read API.

Names and definitions follow statsmodels' ``RegressionResults`` (OLS / WLS with analytic
weights) so users find what they know; the formulas are in :class:`RegressionResult`'s Notes.
Which statistic is available, and why not, is decided in :mod:`._statistics` (one function per
statistic returning ``Stat(value, reason)``); reading a statistic that is not available as an
attribute gives NaN and a :class:`~olsnet.errors.NotAvailableWarning` that says why.
Persistence lives in :mod:`olsnet.io._result_state`.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import RESULT_COV_TYPES, check_option
from ..errors import DataError, DimensionError, NotAvailableWarning, OptionError
from ..solve._kernels import tri_inv
from ..solve._lazy import Deferred, LazyField, stored
from ..solve._solution import solution_condition
from . import _statistics as st
from ._residual_tests import ResidualTests, residual_tests
from ._robust import choose_covariance
from ._rows import to_centred
from ._statistics import Stat
from .covariance import (
    HC_MEATS,
    ResidualPass,
    meat_kinds,
    nonrobust_covariance,
    residual_pass,
    sandwich,
)
from .hypothesis import ContrastResults, compare_f_test, wald
from .influence import OLSInfluence, collect_rows

if TYPE_CHECKING:
    from ..solve import LstsqSolution
    from .optimality import Optimality
    from .prediction import PredictionResult
    from .summary import Summary

__all__ = ["RegressionResult", "Stat"]


def _readonly(a: Any, dtype: Any = np.float64) -> np.ndarray:
    if type(a) is np.ndarray and a.dtype == dtype:  # the common case, in a third of the time
        out = a.copy(order="K")
    else:
        out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


_F64, _BOOL = np.dtype(np.float64), np.dtype(np.bool_)  # (builtin dtypes are singletons)


def _owned_readonly(a: Any, dtype: np.dtype = _F64) -> bool:
    """Whether ``a`` is a read-only ``dtype`` array owning its data (nothing can write it)."""
    return type(a) is np.ndarray and a.base is None and not a.flags.writeable and a.dtype is dtype


def _adoptable(sol: LstsqSolution) -> bool:
    """Whether a solution is already as :meth:`RegressionResult.from_solution` makes it (owned
    read-only arrays, exact scalar types; the fast path's are): then it is adopted, not copied."""
    cond = stored(sol, "condition_number")
    return (
        type(sol.nobs) is int
        and type(sol.rank) is int
        and type(sol.sum_weights) is float
        and type(sol.fit_intercept) is bool
        and type(sol.method) is str
        and (type(cond) is float or (type(cond) is Deferred and cond.compute is solution_condition))
        and _owned_readonly(stored(sol, "cov_unscaled"))
        and _owned_readonly(sol.aliased, _BOOL)
        and _owned_readonly(sol.params)
        and _owned_readonly(sol.ssr)
        and _owned_readonly(sol.centered_tss)
        and _owned_readonly(sol.uncentered_tss)
        and _owned_readonly(sol.R_x)
        and _owned_readonly(sol.shift_x)
    )


@dataclass
class _Cache:
    """Private, shared by a result and its ``with_cov`` copies: the one pass over the data."""

    data_pass: ResidualPass | None = None
    sum_log_weights: float | None = None
    residual_tests: ResidualTests | None = None


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

    solution: LstsqSolution = field(repr=False)
    """The solver's record (read-only arrays): ``params`` (k, q), ``cov_unscaled`` (k, k),
    ``ssr``, ``centered_tss``, ``uncentered_tss`` (q,), ``aliased`` (k,), ``R_x``, ``shift_x``."""
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    y_ndim: int
    covariance: LazyField[np.ndarray] = LazyField()  # noqa: RUF009 (required: no default)
    """(q, k, k) covariance of each output's coefficients under ``cov_type`` (read-only; made
    from ``cov_middle`` and ``R_x`` on first read, see :mod:`olsnet.solve._lazy`)."""
    cov_type: str = "nonrobust"
    n_dropped: int = 0
    optimality: Optimality | None = None
    cov_reason: str | None = None
    """Why the covariance (and every statistic from it) is not available, or None."""
    cov_middle: LazyField[np.ndarray | None] = LazyField(default=None)  # noqa: RUF009
    """(q, r, r) the covariance in the solver's factored basis: ``V = F S Fᵀ``, ``F = T R⁻¹``
    (nonrobust: ``s² I``, made on first read)."""
    cov_kwds: tuple[tuple[str, Any], ...] = ()
    """The covariance's options (groups, n_groups, maxlags, kernel...) as (name, value) pairs."""
    df_inference: float | None = None
    """Degrees of freedom of t and F when not ``df_resid`` (cluster: ``G - 1``)."""
    source: Any = field(default=None, repr=False)
    """The rows the result was fitted on (a block source), or None."""
    model_spec: Any = field(default=None, repr=False)
    """A formula fit's :class:`~olsnet.data.model_spec.ModelSpec` (encodes raw new rows for
    :meth:`predict` / :meth:`get_prediction`), or None."""
    _cache: _Cache = field(default_factory=_Cache, repr=False)

    def __repr__(self) -> str:  # the dataclass's, without the (lazy) arrays
        shown = (f for f in fields(self) if f.repr and f.name not in _LAZY_FIELDS)
        body = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in shown)
        return f"{type(self).__name__}({body})"

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
        optimality: Optimality | None = None,
        data_pass: ResidualPass | None = None,
        sum_log_weights: float | None = None,
        residual_tests: ResidualTests | None = None,
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
            (``"cluster"`` and ``"HAC"`` need options: use :meth:`with_cov`.)
        n_dropped : int
            Rows dropped for missing values (reported in the summary).
        optimality : Optimality, optional
            For coefficients given rather than fitted (:func:`~olsnet.inference.result_at`).
        data_pass, sum_log_weights, residual_tests : optional
            The pass over the data, ``Σ log w`` and the residual tests when already known (a
            loaded result).

        Raises
        ------
        DimensionError
            Names of the wrong length, or ``y_ndim`` not matching the outputs.
        OptionError
            An unknown ``cov_type``.
        """
        check_option("cov_type", cov_type, RESULT_COV_TYPES)
        p, q = solution.n_features, solution.n_outputs
        fnames = _names(feature_names, getattr(source, "feature_names", None), p, "x", 1)
        default_t = ("y",) if q == 1 else None
        tnames = _names(target_names, getattr(source, "target_names", None) or default_t, q, "y", 0)
        if y_ndim not in (1, 2) or (y_ndim == 1 and q != 1):
            raise DimensionError(
                f"y_ndim must be 1 (one output) or 2; got {y_ndim} with {q} output(s)"
            )
        frozen = solution
        if not _adoptable(solution):  # else: the solver's own read-only record, as it is
            frozen = replace(
                solution,
                params=_readonly(solution.params),
                cov_unscaled=_readonly_field(solution, "cov_unscaled"),
                ssr=_readonly(solution.ssr),
                centered_tss=_readonly(solution.centered_tss),
                uncentered_tss=_readonly(solution.uncentered_tss),
                aliased=_readonly(solution.aliased, bool),
                R_x=_readonly(solution.R_x),
                shift_x=_readonly(solution.shift_x),
                nobs=int(solution.nobs),
                rank=int(solution.rank),
                sum_weights=float(solution.sum_weights),
                fit_intercept=bool(solution.fit_intercept),
                condition_number=_float_field(solution, "condition_number"),
                method=str(solution.method),
            )
        nonrobust = cov_type == "nonrobust"  # as with_cov("nonrobust"), without the copy
        res = cls(
            solution=frozen,
            covariance=_LAZY_NONROBUST if nonrobust else _NO_COVARIANCE,
            feature_names=fnames,
            target_names=tnames,
            y_ndim=int(y_ndim),
            n_dropped=int(n_dropped),
            optimality=optimality,
            cov_middle=_LAZY_NONROBUST_MIDDLE if nonrobust else None,
            source=source,
            _cache=_Cache(data_pass, sum_log_weights, residual_tests),
        )
        return res if nonrobust else res.with_cov(cov_type)

    def with_cov(self, cov_type: str, **options: Any) -> RegressionResult:
        """A new result with covariance ``cov_type``.

        Parameters
        ----------
        cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster", "HAC"}
        groups : array_like (n,) or (n, 2), a pair of (n,) arrays, or column name(s)
            ``"cluster"`` only: cluster labels of every row of the data (two columns: two-way).
            A column name is read from the data alongside the rows (any column of a file,
            ``olsnet.ols`` frame or dask frame, not only the features), in one pass keeping
            per-cluster sums (CR1; CR2/CR3 gather the labels).
        cluster_type : {"CR1", "CR2", "CR3"}, default "CR1"
            ``"cluster"`` only (see :mod:`olsnet.inference._cluster`).
        maxlags : int
            ``"HAC"`` only: the Newey-West lag truncation ``L``, ``0 <= L < nobs``.
        kernel : {"bartlett", "uniform"}, default "bartlett"
            ``"HAC"`` only.
        use_correction : bool
            Small-sample factor: cluster default True (CR1's ``G/(G-1)·(n-1)/(n-r)``), HAC
            default False (``n/(n-r)`` when True), as statsmodels.

        Notes
        -----
        The HC meat comes from a pass over the data, made on first use of its kind and shared
        by every result derived from this one; cluster and HAC make a pass of their own. t and
        F use ``df_resid_inference`` (``G - 1`` for cluster, as Stata and statsmodels).

        Raises
        ------
        DataError
            A robust covariance and no data attached; groups with a missing label or one
            cluster.
        DimensionError
            ``groups`` not one label per row.
        OptionError
            An unknown ``cov_type`` or option, ``maxlags`` out of range.
        """
        check_option("cov_type", cov_type, RESULT_COV_TYPES)
        if cov_type == "nonrobust" and not options:  # s² (XᵀWX)⁻¹: made on first read
            return replace(
                self,
                cov_type=cov_type,
                covariance=_LAZY_NONROBUST,
                cov_middle=_LAZY_NONROBUST_MIDDLE,
                cov_reason=None,
                cov_kwds=(),
                df_inference=None,
            )
        choice = choose_covariance(self, cov_type, **options)
        return replace(
            self,
            cov_type=cov_type,
            covariance=_LAZY_COVARIANCE,
            cov_middle=_readonly(choice.middle),
            cov_reason=choice.reason,
            cov_kwds=choice.kwds,
            df_inference=choice.df_inference,
        )

    def at(
        self,
        params: np.ndarray,
        optimality: Optimality | None = None,
        *,
        data_pass: ResidualPass | None = None,
    ) -> RegressionResult:
        """The result evaluated at other coefficients ``params`` (k, q) on the same data.

        Residuals, ``ssr`` and the covariances are those of ``params``; the bread and the
        degrees of freedom those of the data. ``data_pass``: the residual pass at ``params``
        when already made. Raises DataError without data.
        """
        sol = self.solution
        P = np.asarray(params, dtype=np.float64)
        if data_pass is None:
            if self.source is None:
                raise DataError("evaluating at other coefficients needs the data; none attached")
            data_pass = _pass_over(self.source, P, sol)
        moved = replace(
            self,
            solution=replace(
                sol, params=_readonly(P), ssr=_readonly(data_pass.ssr), method="given coefficients"
            ),
            optimality=optimality,
            _cache=_Cache(data_pass, data_pass.sum_log_weights),
        )
        return moved.with_cov(self.cov_type)

    # -- the data behind the result -----------------------------------------------------------------
    def residual_pass(
        self, what: str = "this statistic", kinds: tuple[str, ...] = HC_MEATS
    ) -> ResidualPass:
        """The pass over the data (residuals, leverages, HC meats), made once and shared.

        ``kinds``: the HC meats needed (a pass for fewer costs less); a later call for another
        kind adds its meat with a pass of its own.

        Raises
        ------
        DataError
            No data are attached (``what`` names the statistic that needed them).
        """
        known = self._cache.data_pass
        if known is not None and not set(meat_kinds(kinds)) <= set(known.kinds):
            if self.source is None:
                return known  # a loaded pass: the missing meats are NaN
            more = _pass_over(self.source, self.solution.params, self.solution, kinds)
            self._cache.data_pass = known.merged(self._same_rows(more))
        if self._cache.data_pass is None:
            if self.source is None:
                raise DataError(
                    f"{what} needs the data this result was fitted on (it sums over rows of "
                    "residuals), but none are attached: the result was built without a source "
                    "or loaded from a file saved before this was computed, or made by partial_fit "
                    "or merge. Attach the rows with result.with_data(X, y), pass them again with "
                    "LinearRegression.partial_residuals, or refit with the data"
                )
            self._cache.data_pass = self._same_rows(
                _pass_over(self.source, self.solution.params, self.solution, kinds)
            )
            self._cache.sum_log_weights = self._cache.data_pass.sum_log_weights
        return self._cache.data_pass

    def with_residual_pass(self, data_pass: ResidualPass) -> RegressionResult:
        """This result with a residual pass made elsewhere (chunk by chunk, ``partial_residuals``).

        Raises
        ------
        DataError
            The pass covers a different number of rows than the fit.
        """
        if data_pass.nobs != self.nobs or data_pass.meats.shape[-1] != self.rank:
            raise DataError(
                f"the residual pass covers {data_pass.nobs} rows of rank {data_pass.meats.shape[-1]}"
                f"; this fit has {self.nobs} rows of rank {self.rank}"
            )
        self._same_rows(data_pass)
        return replace(self, _cache=_Cache(data_pass, data_pass.sum_log_weights))

    def _same_rows(self, data_pass: ResidualPass) -> ResidualPass:
        """``data_pass`` (at this fit's coefficients), checked to have the fit's ``nobs`` and
        ``ssr`` (relative 1e-8, as :meth:`with_data`): a file rewritten since the fit would
        otherwise give statistics of other rows at these coefficients."""
        sol = self.solution
        scale = np.maximum(sol.uncentered_tss, np.finfo(float).tiny)
        if data_pass.nobs != self.nobs or np.any(
            ~(np.abs(data_pass.ssr - sol.ssr) <= 1e-8 * scale)
        ):
            paths = list(getattr(self.source, "paths", None) or ())
            where = f" ({paths[0]}{' ...' if len(paths) > 1 else ''})" if paths else ""
            raise DataError(
                f"the data{where} are not the rows of the fit: a pass over them gives "
                f"{data_pass.nobs} rows of positive weight and ssr {data_pass.ssr.tolist()}, the "
                f"fit {self.nobs} and {sol.ssr.tolist()} (changed since the fit?); refit"
            )
        return data_pass

    @property
    def known_residual_pass(self) -> ResidualPass | None:
        """The pass over the data if it has been made (or loaded), else None; never reads data
        (``complete`` says whether it holds every HC meat)."""
        return self._cache.data_pass

    @property
    def sum_log_weights(self) -> float | None:
        """``Σ log w`` over rows of positive weight (0 without weights); None when unknown."""
        if self._cache.sum_log_weights is None and _source_weighted(self.source) is False:
            self._cache.sum_log_weights = 0.0  # no weights: no pass over the data needed
        if self._cache.sum_log_weights is None and self.source is not None:
            total = 0.0
            for _X, _Y, w in self.source.blocks():
                if w is not None:
                    total += float(np.log(w[w > 0]).sum())
            self._cache.sum_log_weights = total
        return self._cache.sum_log_weights

    def residual_tests(self) -> ResidualTests:
        """Omnibus, skew, kurtosis, Jarque-Bera, Durbin-Watson, residual quantiles (made once)."""
        if self._cache.residual_tests is None or (
            self._cache.residual_tests.reason and self.source is not None
        ):
            self._cache.residual_tests = residual_tests(self)
        return self._cache.residual_tests

    @property
    def known_residual_tests(self) -> ResidualTests | None:
        """The residual tests if made (or loaded), else None; never reads data."""
        return self._cache.residual_tests

    @property
    def known_sum_log_weights(self) -> float | None:
        """``Σ log w`` if known without reading data, else None."""
        return self._cache.sum_log_weights

    @property
    def weighted(self) -> bool:
        """Whether the fit had (non-unit) weights, as far as known without reading data."""
        slw = self._cache.sum_log_weights
        if slw is None and self.source is not None:
            slw = 0.0 if _source_weighted(self.source) is False else None
        return self.sum_weights != self.nobs or (slw is not None and slw != 0.0)

    # -- the solver's record -------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Rows of positive weight."""
        return self.solution.nobs

    @property
    def sum_weights(self) -> float:
        return self.solution.sum_weights

    @property
    def rank(self) -> int:
        return self.solution.rank

    @property
    def fit_intercept(self) -> bool:
        return self.solution.fit_intercept

    @property
    def condition_number(self) -> float:
        """2-norm condition number of the weighted ``[1 X]`` (kept columns), as statsmodels."""
        return self.solution.condition_number

    @property
    def method(self) -> str:
        """How the solver computed the fit (``"exact"``, ``"gram+refine"``, ``"qr-state"``...)."""
        return self.solution.method

    # -- shapes ------------------------------------------------------------------------------------
    @property
    def n_outputs(self) -> int:
        return int(self.solution.params.shape[1])

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
        mask = self.solution.aliased
        return tuple(n for n, a in zip(self.param_names, mask, strict=True) if a)

    def _per_output(self, values: np.ndarray) -> Any:
        """(q,) -> float for a 1-D y, else a read-only (q,) array."""
        return float(values[0]) if self.y_ndim == 1 else _readonly(values)

    def _per_param(self, values: np.ndarray) -> np.ndarray:
        """(k, q) -> (k,) for a 1-D y, read-only."""
        return _readonly(values[:, 0] if self.y_ndim == 1 else values)

    def _warned(self, name: str, stat: Stat) -> Stat:
        why = [r for r in stat.reasons() if r != st.ALIASED]  # aliasing was warned at the fit
        if why:
            warnings.warn(
                f"{name} is not available: {'; '.join(why)}", NotAvailableWarning, stacklevel=3
            )
        return stat

    # -- the typed read API ---------------------------------------------------------------------------
    def statistic(self, name: str) -> Stat:
        """The fit statistic ``name`` of every output as ``Stat(value (q,), reason (q,))``.

        ``name`` is one of ``scale``, ``rsquared``, ``rsquared_adj``, ``ess``, ``fvalue``,
        ``f_pvalue``, ``llf``, ``aic``, ``bic``. Never warns (the summary reads this).
        """
        return st.fit_statistic(self, name)

    def coef_table(self, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """``(values (k, q, 6), reasons (k, q, 6))``: coef, std err, t, p, lower, upper.

        A reason (str) stands beside each entry that is not available (its value is NaN).
        """
        return st.coef_table(self, alpha)

    # -- coefficients ------------------------------------------------------------------------------
    @property
    def params(self) -> np.ndarray:
        """Coefficients, intercept first: (k,) or (k, q); NaN for aliased columns."""
        return self._per_param(self.solution.params)

    @property
    def bse(self) -> np.ndarray:
        """Standard errors under ``cov_type``: (k,) or (k, q)."""
        sol = self.solution
        df = sol.nobs - sol.rank
        if self.cov_reason is None and df > 0 and not any(sol.aliased.tolist()):
            if stored(self, "covariance") is _LAZY_NONROBUST:  # its diagonal, without it
                cov = sol.cov_unscaled  # (the scale ssr / df_resid of st.scale_values)
                if self.y_ndim == 1:  # (k,) straight away
                    diag = cov.diagonal() * (float(sol.ssr[0]) / df)
                else:
                    diag = cov.diagonal()[:, None] * (sol.ssr / df)
            else:
                diag = np.diagonal(self.covariance, axis1=1, axis2=2).T  # (k, q)
                if self.y_ndim == 1:
                    diag = diag[:, 0]
            # every entry available: none negative, inf or NaN (NaN fails every comparison)
            if all(0.0 <= v < np.inf for v in diag.ravel().tolist()):
                out = np.sqrt(diag)  # a new array: read-only as it is
                out.setflags(write=False)
                return out
        return self._per_param(st.bse(self).value)

    @property
    def tvalues(self) -> np.ndarray:
        """``params / bse``: (k,) or (k, q); NaN with a warning where not defined."""
        return self._per_param(self._warned("tvalues", st.tvalues(self)).value)

    @property
    def pvalues(self) -> np.ndarray:
        """Two-sided p values from Student's t (``df_resid_inference``): (k,) or (k, q)."""
        return self._per_param(self._warned("pvalues", st.pvalues(self)).value)

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """``1 - alpha`` confidence intervals: (k, 2) or (k, q, 2), columns lower, upper."""
        lo, hi = st.conf_int(self, alpha)
        ci = np.stack([lo.value, hi.value], axis=-1)
        return _readonly(ci[:, 0, :] if self.y_ndim == 1 else ci)

    def cov_params(self) -> np.ndarray:
        """Covariance of the coefficients under ``cov_type``: (k, k) or (q, k, k)."""
        return _readonly(self.covariance[0] if self.y_ndim == 1 else self.covariance)

    # -- degrees of freedom and sums of squares ----------------------------------------------------
    @property
    def k_constant(self) -> int:
        """1 when the model has an (identified) intercept, else 0."""
        return int(self.fit_intercept and not self.solution.aliased[0])

    @property
    def df_resid(self) -> float:
        """``nobs - rank``."""
        return float(self.nobs - self.rank)

    @property
    def df_resid_inference(self) -> float:
        """Degrees of freedom of t and F: ``df_resid`` (cluster covariances: ``G - 1``)."""
        return self.df_resid if self.df_inference is None else self.df_inference

    @property
    def df_model(self) -> float:
        """``rank - k_constant``: aliased columns and the intercept are not counted."""
        return float(self.rank - self.k_constant)

    @property
    def ssr(self) -> Any:
        """Weighted sum of squared residuals ``Σ w e²``."""
        return self._per_output(self.solution.ssr)

    @property
    def centered_tss(self) -> Any:
        """``Σ w (y - ȳ_w)²``."""
        return self._per_output(self.solution.centered_tss)

    @property
    def uncentered_tss(self) -> Any:
        """``Σ w y²``."""
        return self._per_output(self.solution.uncentered_tss)

    @property
    def exact_fit(self) -> Any:
        """Whether ``ssr`` is 0 up to rounding (then t, p, F and llf are not available)."""
        e = st.exact_fit(self)
        return bool(e[0]) if self.y_ndim == 1 else _readonly(e, bool)

    # -- fit statistics (NaN with a NotAvailableWarning where they do not apply) -------------------
    def _fit(self, name: str) -> Any:
        return self._per_output(self._warned(name, st.fit_statistic(self, name)).value)

    @property
    def scale(self) -> Any:
        """Residual variance ``ssr / df_resid``."""
        return self._fit("scale")

    @property
    def mse_resid(self) -> Any:
        """Same as ``scale``."""
        return self._fit("scale")

    @property
    def rsquared(self) -> Any:
        """R²: centered with an intercept, uncentered without (as R and NIST)."""
        return self._fit("rsquared")

    @property
    def rsquared_adj(self) -> Any:
        """Adjusted R²."""
        return self._fit("rsquared_adj")

    @property
    def ess(self) -> Any:
        """Explained sum of squares ``tss - ssr``."""
        return self._fit("ess")

    @property
    def fvalue(self) -> Any:
        """F statistic of all non-intercept coefficients (robust Wald F under HC)."""
        return self._fit("fvalue")

    @property
    def f_pvalue(self) -> Any:
        """p value of ``fvalue`` from F(df_model, df_resid_inference)."""
        return self._fit("f_pvalue")

    @property
    def llf(self) -> Any:
        """Gaussian log-likelihood (with the ``½ Σ log w`` term of statsmodels' WLS)."""
        return self._fit("llf")

    @property
    def aic(self) -> Any:
        """``-2 llf + 2 rank``."""
        return self._fit("aic")

    @property
    def bic(self) -> Any:
        """``-2 llf + rank log(nobs)``."""
        return self._fit("bic")

    # -- predictions and summaries ------------------------------------------------------------------
    def get_prediction(
        self,
        X: Any = None,
        *,
        weights: Any = None,
        rankdeficient: str = "NA",
        missing: str = "drop",
    ) -> PredictionResult:
        """Predictions at new rows ``X`` (m, p) with confidence and prediction intervals.

        ``X=None`` predicts the rows the model was fitted on (needs the data). ``weights``
        (m,) are the analytic weights of the new observations for prediction intervals
        (default 1), as statsmodels' ``get_prediction(weights=...)``. Standard errors are
        evaluated in the solver's factored, centred basis (no explicit inverse).

        ``rankdeficient`` (fits with aliased columns, as R >= 4.3's ``predict.lm``): rows
        outside the row space of the training design have no unique prediction; ``"NA"``
        makes them NaN, ``"warnif"`` keeps the value with aliased coefficients as 0. Both warn
        naming the rows (:class:`~olsnet.errors.NotAvailableWarning`).

        A formula fit (``model_spec`` set) takes *raw* new data (a frame or dict with the
        formula's columns) and encodes it with the training levels and transform state; a row
        with a missing value gives NaN (R's ``na.exclude``: one output row per input row)
        unless ``missing="raise"``; an unseen level raises ``UnseenLevelError``.
        """
        from .prediction import predict, scatter_rows

        if self.model_spec is None or not _is_raw(X, self.feature_names):
            return predict(self, X, weights, rankdeficient)
        rows = self.model_spec.encode(X, targets=False, missing=missing)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[rows.kept]
        return scatter_rows(predict(self, rows.X, w, rankdeficient), rows.kept)

    def predict(self, X: Any = None, *, missing: str = "drop") -> np.ndarray:
        """Predicted values at new rows, (m,) or (m, q): ``get_prediction(X).predicted_mean``.

        Raw data for a formula fit, as :meth:`get_prediction`; NaN where a row has a missing
        value (R's ``predict(fit, newdata)``; statsmodels' ``results.predict(df)``). Aliased
        coefficients count as 0 here (R's ``predict.lm`` before 4.3).
        """
        if self.model_spec is None or not _is_raw(X, self.feature_names):
            return self.get_prediction(X).predicted_mean
        rows = self.model_spec.encode(X, targets=False, missing=missing)
        coef = np.nan_to_num(self.solution.params)  # (k, q): aliased terms count as 0
        k0 = int(self.solution.fit_intercept)
        mean = rows.X @ coef[k0:]  # (m, q)
        if k0:
            mean += coef[0]
        out = np.full((rows.kept.size, coef.shape[1]), np.nan)
        out[rows.kept] = mean
        return out[:, 0] if self.y_ndim == 1 else out

    # -- residuals and influence (a pass over the data) -------------------------------------------
    def _rows(self, what: str) -> dict[str, np.ndarray]:
        return collect_rows(self, what)

    def _per_row(self, a: np.ndarray) -> np.ndarray:
        return _readonly(a[:, 0] if self.y_ndim == 1 else a)

    @property
    def fittedvalues(self) -> np.ndarray:
        """``[1 X] b`` at every row of the data: (n,) or (n, q); needs the data."""
        return self._per_row(self._rows("fittedvalues")["fitted"])

    @property
    def resid(self) -> np.ndarray:
        """Residuals ``y - ŷ`` (unweighted, as statsmodels' ``resid``): (n,) or (n, q)."""
        rows = self._rows("resid")
        return self._per_row(rows["y"] - rows["fitted"])

    @property
    def wresid(self) -> np.ndarray:
        """Weighted residuals ``√w (y - ŷ)``: (n,) or (n, q)."""
        rows = self._rows("wresid")
        return self._per_row((rows["y"] - rows["fitted"]) * np.sqrt(rows["w"])[:, None])

    @property
    def resid_pearson(self) -> np.ndarray:
        """``√w e / s``, residuals in units of the residual standard deviation (statsmodels)."""
        rows = self._rows("resid_pearson")
        s = np.sqrt(st.scale_values(self))[None, :]
        return self._per_row((rows["y"] - rows["fitted"]) * np.sqrt(rows["w"])[:, None] / s)

    def get_influence(self) -> OLSInfluence:
        """Leverage, studentized residuals, Cook's distance, DFFITS, DFBETAS of every row.

        Returns an :class:`~olsnet.inference.OLSInfluence` (statsmodels' names; R's
        ``lm.influence`` for weighted fits). Needs the data (DataError without them).
        """
        return OLSInfluence.of(self)

    def with_data(self, X: Any, y: Any = None, sample_weight: Any = None) -> RegressionResult:
        """This result with the rows it was fitted on attached again (for second-pass statistics).

        ``X`` is a block source (``blocks()`` yielding ``(X, Y, w)``), or arrays ``X`` (n, p),
        ``y`` (n,) or (n, q) and ``sample_weight`` (n,). The rows are checked: they must
        reproduce the fit's ``nobs`` and ``ssr`` (relative 1e-8).

        Raises
        ------
        DataError
            The rows are not those of the fit; NaN or inf in X or y (naming the column and
            row); weights negative or not finite.
        DimensionError
            X without the fit's feature count, y without its outputs, lengths that differ.
        """
        if y is None and hasattr(X, "blocks"):
            source = X
        else:
            source = _Rows(X, y, sample_weight, self.n_features, self.n_outputs)
        probe = replace(self, source=source, _cache=_Cache())
        rows = probe._rows("with_data")
        nobs = int(np.count_nonzero(rows["w"] > 0))
        ssr = ((rows["y"] - rows["fitted"]) ** 2 * rows["w"][:, None]).sum(axis=0)
        scale = np.maximum(self.solution.uncentered_tss, np.finfo(float).tiny)
        if nobs != self.nobs or np.any(np.abs(ssr - self.solution.ssr) > 1e-8 * scale):
            raise DataError(
                f"these rows are not the fit's: {nobs} rows of positive weight and ssr "
                f"{ssr.tolist()} where the fit has {self.nobs} and {self.solution.ssr.tolist()}"
            )
        return probe.with_cov("nonrobust") if self.cov_type != "nonrobust" else probe

    # -- tests -------------------------------------------------------------------------------------
    def t_test(self, restrictions: Any, *, target: Any = None) -> ContrastResults:
        """t tests of linear restrictions (``"x1 = x2"``, ``"x1 + x2 = 1"``, a matrix ``L`` or
        a pair ``(L, c)``) with this result's covariance; see :mod:`olsnet.inference.hypothesis`.
        """
        return wald(self, restrictions, use_f=True, target=target)

    def f_test(self, restrictions: Any, *, target: Any = None) -> ContrastResults:
        """Joint F test of linear restrictions (``fvalue``, ``pvalue``, ``df_num``, ``df_denom``)."""
        return wald(self, restrictions, use_f=True, target=target, test="F")

    def wald_test(
        self, restrictions: Any, *, use_f: bool = True, target: Any = None, scalar: bool = True
    ) -> ContrastResults:
        """Wald test of linear restrictions: F (``use_f=True``, as statsmodels with ``use_t``) or
        χ² (``statistic``, ``pvalue``). ``scalar``: accepted as statsmodels' (the statistic
        is always a float, statsmodels' ``scalar=True``); False raises OptionError."""
        if scalar is not True:
            raise OptionError("wald_test(scalar=False) (a (1, 1) array) is not offered; use True")
        return wald(self, restrictions, use_f=use_f, target=target, test="wald")

    def compare_f_test(self, restricted: RegressionResult) -> tuple[float, float, float]:
        """``(F, p, df_diff)`` of the nested ``restricted`` model against this one (statsmodels).

        Under a robust covariance, the Wald F of the coefficients ``restricted`` lacks.
        """
        return compare_f_test(self, restricted)

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


class _Rows:
    """Arrays ``X`` (n, p), ``y``, ``w`` as a block source (for :meth:`RegressionResult.with_data`)."""

    def __init__(self, X: Any, y: Any, w: Any, p: int, q: int) -> None:
        from .._validate import as_design

        # checked as a fit's inputs (NaN named, weights, lengths), then against the fit's shape
        design = as_design(X, y, w, min_features=0)
        self.X, self.Y, self.w = design.X, design.Y, design.weights
        if self.X.shape[1] != p or self.Y.shape[1] != q:
            raise DimensionError(
                f"X has {self.X.shape[1]} column(s) and y {self.Y.shape[1]} output(s); the fit "
                f"has {p} feature(s) and {q} output(s)"
            )

    def blocks(self) -> Any:
        yield self.X, self.Y, self.w


def _covariance_of(res: RegressionResult) -> np.ndarray:
    """(q, k, k) ``F S Fᵀ`` with ``F = T R⁻¹`` (``dtrtri``: no BLAS threads) and ``S`` the
    result's ``cov_middle``; NaN rows and columns for aliased coefficients."""
    sol = res.solution
    k, q = sol.params.shape
    kept = sol.kept
    middle = res.cov_middle
    assert middle is not None  # a deferred covariance is only made with its middle
    F = to_centred(sol, np.eye(kept.size)) @ tri_inv(sol.R_x)  # T R⁻¹ (r, r)
    V = sandwich(F, middle)
    if kept.size == k:
        cov = np.ascontiguousarray(np.broadcast_to(V, (q, k, k)))
    else:
        cov = np.full((q, k, k), np.nan)
        cov[:, kept[:, None], kept[None, :]] = V
    cov.flags.writeable = False
    return cov


def _nonrobust_covariance(res: RegressionResult) -> np.ndarray:
    """(q, k, k) ``s²ⱼ (XᵀWX)⁻¹``, statsmodels' ``scale * normalized_cov_params``: the
    solver's ``cov_unscaled`` (refined where the design is ill-conditioned; NaN for aliased
    coefficients) times each output's scale."""
    cov = nonrobust_covariance(res.solution.cov_unscaled, st.scale_values(res))
    cov.flags.writeable = False
    return cov


def _nonrobust_middle(res: RegressionResult) -> np.ndarray:
    """(q, r, r) ``s² I`` (the nonrobust covariance's middle)."""
    return _readonly(st.scale_values(res)[:, None, None] * np.eye(res.rank))


_LAZY_COVARIANCE = Deferred(_covariance_of)
_LAZY_NONROBUST = Deferred(_nonrobust_covariance)
_LAZY_FIELDS = ("covariance", "cov_middle")  # not in the repr (as before they were lazy)
_LAZY_NONROBUST_MIDDLE = Deferred(_nonrobust_middle)
_NO_COVARIANCE = np.zeros((0, 0, 0))  # replaced by with_cov in from_solution
_NO_COVARIANCE.flags.writeable = False


def _readonly_field(obj: Any, name: str) -> Any:
    """A read-only copy of array field ``name``, or (not yet made) a deferred one."""
    value = stored(obj, name)
    if type(value) is Deferred:
        return Deferred(partial(_readonly_of, value.compute))
    return _readonly(value)


def _float_field(obj: Any, name: str) -> Any:
    value = stored(obj, name)
    if type(value) is Deferred:
        return Deferred(partial(_float_of, value.compute))
    return float(value)


def _readonly_of(compute: Any, obj: Any) -> np.ndarray:
    out = compute(obj)
    out = np.array(
        out, dtype=np.float64, copy=not (isinstance(out, np.ndarray) and out.flags.owndata)
    )
    out.flags.writeable = False
    return out


def _float_of(compute: Any, obj: Any) -> float:
    return float(compute(obj))


def _pass_over(
    source: Any, params: np.ndarray, sol: LstsqSolution, kinds: tuple[str, ...] = HC_MEATS
) -> ResidualPass:
    """One residual pass over ``source`` at ``params`` (the source's own when it has one)."""
    args = (params, sol.R_x, sol.shift_x, sol.kept, sol.fit_intercept)
    own_pass = getattr(source, "residual_pass", None)  # e.g. dask: per partition
    if callable(own_pass):
        # a source written before ``kinds`` existed computes every meat
        return own_pass(*args, kinds=kinds) if _takes_kinds(own_pass) else own_pass(*args)
    return residual_pass(source.blocks(), *args, kinds=kinds)


def _takes_kinds(method: Any) -> bool:
    """Whether a source's ``residual_pass`` accepts ``kinds=``."""
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "kinds" or p.kind is p.VAR_KEYWORD for p in params)


def _is_raw(X: Any, feature_names: tuple[str, ...]) -> bool:
    """Whether ``X`` holds raw columns for a formula (a frame or dict that is not already the
    design with the model's feature names)."""
    if X is None or isinstance(X, np.ndarray):
        return False
    cols = getattr(X, "columns", None)
    if cols is None and not isinstance(X, dict):
        return False
    names = [str(c) for c in (cols if cols is not None else X)]
    return names != list(feature_names)


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
