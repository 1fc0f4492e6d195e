"""``olsnet.LinearRegression``: the exact least-squares fit behind the scikit-learn API."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._types import COV_TYPES, MISSING_POLICIES, SOLVER_POLICIES, check_option
from .data import ArraySource, Source, as_design, as_matrix
from .errors import DataError, DimensionError, InputTypeError, not_fitted

__all__ = ["LinearRegression"]

_PARAMS = ("fit_intercept", "cov_type", "missing", "policy")


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def _as_source(X: Any, y: Any, sample_weight: Any, missing: str) -> Source:
    """The one dispatch on the input's kind: a :class:`~olsnet.data.Source` as is, dask
    collections as a ``DaskSource``, everything else checked into an in-memory ``ArraySource``.
    (A new kind of input, a device array say, becomes a new ``Source`` here.)"""
    if isinstance(X, Source):
        if y is not None or sample_weight is not None:
            raise InputTypeError(
                f"X is a data source ({type(X).__name__}), which carries its own target and "
                "weights; call fit(source) without y or sample_weight"
            )
        return X
    if y is None:
        raise ValueError(
            "LinearRegression requires y to be passed, but the target y is None "
            "(y may be omitted only when X is a data source from olsnet.read)"
        )
    if _is_dask(X) or _is_dask(y):
        from .scale import as_source

        return as_source(X, y, sample_weight)
    # the NaN/inf scan of X is left to the solver, which does it for free (see lstsq)
    return ArraySource(as_design(X, y, sample_weight, missing=missing, check_finite_X=False))


class LinearRegression:
    """Ordinary (and weighted) least squares, exact to double precision, with full inference.

    A drop-in for :class:`sklearn.linear_model.LinearRegression`: same constructor argument
    ``fit_intercept``, same fitted ``coef_`` / ``intercept_`` shapes, ``predict`` and ``score``.
    On top of it, ``result_`` is the :class:`~olsnet.RegressionResult` with standard errors,
    tests, intervals and summary tables, as statsmodels and R report them.

    Parameters
    ----------
    fit_intercept : bool, default=True
        Whether to fit an intercept (the bias b0 of the single neuron).
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3"}, default="nonrobust"
        Covariance of the coefficients used by ``result_`` and ``summary()``.
    missing : {"raise", "drop"}, default="raise"
        NaN or inf in X or y: raise an error naming the column and row, or drop those rows
        (their number is reported by ``result_.n_dropped`` and the summary).
    policy : {"auto", "exact", "fast"}, default="auto"
        Accuracy policy of the solver (see :mod:`olsnet.solve._policy`): "exact" always uses QR
        with extended-precision refinement; "fast" always accepts the checked normal equations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients; NaN for aliased columns (as R's ``lm``), which ``predict`` treats as 0.
    intercept_ : float or ndarray of shape (n_targets,)
    rank_ : int
        Rank of the design ``[1 X]`` (intercept included when fitted).
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X was a DataFrame with string column names.
    result_ : RegressionResult

    Notes
    -----
    ``sample_weight`` are analytic (inverse-variance) weights, as in statsmodels' WLS and R's
    ``lm``: for the coefficients, weight k equals k copies of the row; rows of zero weight are
    excluded from the fit, from ``nobs`` and from the degrees of freedom, as R does.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10.0).reshape(-1, 1)
    >>> y = 1.0 + 2.0 * X[:, 0]
    >>> model = LinearRegression().fit(X, y)
    >>> round(float(model.intercept_), 12), np.round(model.coef_, 12)
    (1.0, array([2.]))
    """

    def __init__(
        self,
        fit_intercept: bool = True,
        *,
        cov_type: str = "nonrobust",
        missing: str = "raise",
        policy: str = "auto",
    ) -> None:
        self.fit_intercept = fit_intercept
        self.cov_type = cov_type
        self.missing = missing
        self.policy = policy

    # -- scikit-learn protocol -------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _PARAMS}

    def set_params(self, **params: Any) -> LinearRegression:
        for name, value in params.items():
            if name not in _PARAMS:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {self!r}. "
                    f"Valid parameters are: {sorted(_PARAMS)!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            "fit_intercept": True,
            "cov_type": "nonrobust",
            "missing": "raise",
            "policy": "auto",
        }
        args = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"LinearRegression({', '.join(args)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "result_")

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        return Tags(
            estimator_type="regressor",
            target_tags=TargetTags(required=True, multi_output=True, single_output=True),
            regressor_tags=RegressorTags(),
            input_tags=InputTags(allow_nan=self.missing == "drop"),
        )

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        n_jobs: int | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> LinearRegression:
        """Fit by exact least squares.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), DataFrame, dask collection, or a data
            source (``olsnet.read(...)``, any :class:`olsnet.data.Source`), in which case ``y``
            and ``sample_weight`` are None.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Analytic weights (see Notes of the class).
        n_jobs : int or None, default=None
            Threads for sources folded block by block (None: the CPUs this process may use, at
            most 8; -1: all of them).
        on_batch : callable, optional
            ``on_batch(rows, bytes)`` after each batch a source reads (progress bars).

        Returns
        -------
        self

        Raises
        ------
        InputTypeError, DimensionError, DataError
            Inputs that are not numeric, shapes that do not line up, NaN or inf (naming the
            column and row), bad weights, a source that yields no rows.
        """
        from .inference import RegressionResult

        fit_intercept = bool(self.fit_intercept)
        cov_type = check_option("cov_type", self.cov_type, COV_TYPES)
        missing = check_option("missing", self.missing, MISSING_POLICIES)
        policy = check_option("policy", self.policy, SOLVER_POLICIES)
        source = _as_source(X, y, sample_weight, missing)
        if source.fit_intercept is not None:  # a formula says ("y ~ x - 1")
            fit_intercept = bool(source.fit_intercept)
        solution = source.solve(fit_intercept, policy=policy, n_jobs=n_jobs, on_batch=on_batch)
        if solution.nobs == 0:
            raise DataError("the data source yielded no rows; nothing to fit")
        y_ndim = source.y_ndim
        n_dropped = int(source.n_dropped or 0)  # known once the rows were read
        result = RegressionResult.from_solution(
            solution,
            source,
            feature_names=tuple(source.feature_names),
            target_names=tuple(source.target_names),
            y_ndim=y_ndim,
            cov_type="nonrobust",
            n_dropped=n_dropped,
        )
        if cov_type != "nonrobust":
            result = result.with_cov(cov_type)
        self._set_fitted(
            solution.params, fit_intercept, y_ndim, solution.rank, source, source.names_from_frame
        )
        self.result_ = result
        return self

    def _set_fitted(
        self,
        params: np.ndarray,
        fit_intercept: bool,
        y_ndim: int,
        rank: int,
        source: Any,
        from_frame: bool,
    ) -> None:
        coef = params[int(fit_intercept) :].T  # (q, p)
        intercept = params[0] if fit_intercept else np.zeros(params.shape[1])
        if y_ndim == 1:
            self.coef_ = coef[0].copy()
            self.intercept_: float | np.ndarray = float(intercept[0])
        else:
            self.coef_ = coef.copy()
            self.intercept_ = np.array(intercept, dtype=np.float64)
        if not fit_intercept:
            self.intercept_ = 0.0  # as scikit-learn, whatever the number of targets
        self.rank_ = int(rank)
        self.n_features_in_ = int(coef.shape[1])
        names = tuple(source.feature_names)
        if from_frame and all(isinstance(n, str) for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # -- using the fit ---------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise not_fitted(
                "This LinearRegression instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _check_names(self, X: Any) -> None:
        cols = getattr(X, "columns", None)
        raw = None if cols is None or isinstance(X, np.ndarray) else list(cols)
        names = None if raw is None else [str(c) for c in raw]
        fitted = getattr(self, "feature_names_in_", None)
        if names is None and fitted is not None:
            warnings.warn(
                "X does not have valid feature names, but LinearRegression was fitted with "
                "feature names",
                UserWarning,
                stacklevel=3,
            )
        elif raw is not None and fitted is None and all(isinstance(c, str) for c in raw):
            warnings.warn(
                "X has feature names, but LinearRegression was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        elif names is not None and fitted is not None and list(fitted) != names:
            raise DimensionError(
                "The feature names should match those that were passed during fit. "
                f"Fitted with {list(fitted)}, got {names}."
            )

    def _prepare(self, X: Any) -> np.ndarray:
        self._check_fitted()
        self._check_names(X)
        Xa, _ = as_matrix(X, "X")
        if Xa.shape[1] != self.n_features_in_:
            raise DimensionError(
                f"X has {Xa.shape[1]} features, but LinearRegression is expecting "
                f"{self.n_features_in_} features as input."
            )
        if not np.isfinite(Xa).all():
            i, j = np.argwhere(~np.isfinite(Xa))[0]
            raise DataError(f"X has NaN or inf at row {i}, column {j}; predictions need finite X")
        return Xa

    def predict(self, X: Any) -> Any:
        """Predicted values, shape (n_samples,) or (n_samples, n_targets).

        Aliased coefficients (NaN) count as 0, as R's ``predict.lm`` does for rank-deficient
        fits. Dask inputs give a lazy dask array.
        """
        self._check_fitted()
        coef = np.nan_to_num(np.asarray(self.coef_, dtype=np.float64))
        intercept = np.nan_to_num(np.asarray(self.intercept_, dtype=np.float64))
        if _is_dask(X):
            from .scale import predict_lazy

            return predict_lazy(coef, intercept, X)
        Xa = self._prepare(X)
        return Xa @ coef.T + intercept

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R² of the predictions (as scikit-learn's ``r2_score``,
        averaged uniformly over targets)."""
        pred = np.asarray(self.predict(X), dtype=np.float64)
        design = as_design(np.zeros((pred.shape[0], 1)), y, sample_weight)
        Y = design.Y
        P = pred.reshape(Y.shape)
        w = np.ones(Y.shape[0]) if design.weights is None else design.weights
        ss_res = w @ (Y - P) ** 2
        ybar = (w @ Y) / w.sum()
        ss_tot = w @ (Y - ybar) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
        return float(np.mean(r2))

    def summary(self, alpha: float = 0.05) -> Any:
        """The regression summary of ``result_`` (text, markdown, HTML and frame renderings)."""
        self._check_fitted()
        return self.result_.summary(alpha=alpha)
