"""``olsnet.LinearRegression``: the exact least-squares fit behind the scikit-learn API."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._types import COV_TYPES, MISSING_POLICIES, SOLVER_POLICIES, check_option
from .data import ArraySource, Source, as_design, as_matrix
from .data._device import is_device_array
from .data._sparse import check_sparse, is_sparse
from .errors import DataError, DimensionError, InputTypeError, OptionError, not_fitted

__all__ = ["LinearRegression"]

_PARAMS = (
    "fit_intercept",
    "copy_X",
    "tol",
    "n_jobs",
    "positive",
    "cov_type",
    "missing",
    "policy",
)
_DEFAULTS: dict[str, Any] = {
    "fit_intercept": True,
    "copy_X": True,
    "tol": 1e-6,
    "n_jobs": None,
    "positive": False,
    "cov_type": "nonrobust",
    "missing": "raise",
    "policy": "auto",
}
_POSITIVE = (
    "inference is not available for a constrained fit (positive=True): the non-negative "
    "least-squares estimator is not linear in y, so the least-squares covariance does not apply"
)


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def _as_source(X: Any, y: Any, sample_weight: Any, missing: str, min_features: int = 1) -> Source:
    """The one dispatch on the input's kind: a :class:`~olsnet.data.Source` as is, dask
    collections as a ``DaskSource``, everything else checked into an in-memory ``ArraySource``.
    (A new kind of input, a device array say, becomes a new ``Source`` here.)
    ``min_features=0`` admits an in-memory X with no columns (the intercept-only model).
    The NaN/inf scans of X and y are left to ``ArraySource.solve`` and the solver, which do
    them for free (see :func:`olsnet.solve.lstsq`)."""
    if type(X) is np.ndarray and type(y) is np.ndarray:  # the common case: nothing to dispatch
        return ArraySource(_checked(X, y, sample_weight, missing, min_features))
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
    if is_device_array(X):  # torch tensors, CuPy arrays: fitted on their device
        from .data._device import DeviceSource, as_device_design

        return DeviceSource(as_device_design(X, y, sample_weight, missing=missing))
    if _is_dask(X) or _is_dask(y):
        from .scale import as_source

        return as_source(X, y, sample_weight)
    return ArraySource(_checked(X, y, sample_weight, missing, min_features))


def _checked(X: Any, y: Any, sample_weight: Any, missing: str, min_features: int) -> Any:
    """``as_design`` without the NaN/inf scans (``ArraySource.solve`` scans y, then the solver
    X: the errors are the same, in the same order)."""
    return as_design(
        X,
        y,
        sample_weight,
        missing=missing,
        check_finite_X=False,
        check_finite_y=False,
        min_features=min_features,
    )


_UNCHANGED = "$UNCHANGED$"  # scikit-learn's sentinel: leave the request as it is


class _Requests(dict[str, Any]):
    """Metadata requests by method; scikit-learn's ``clone`` copies them."""

    def __sklearn_clone__(self) -> _Requests:
        return _Requests(self)


def _is_raw_frame(X: Any, feature_names: tuple[str, ...]) -> bool:
    """A frame or dict of raw columns (not the design itself) for a formula model."""
    cols = getattr(X, "columns", None) if not isinstance(X, dict) else list(X)
    return cols is not None and [str(c) for c in cols] != list(feature_names)


class _SingularValues:
    """``singular_``: singular values of the (centred, weighted) X, as scikit-learn's, from the
    fit's R (an SVD most callers never read, made on first read and kept in the instance)."""

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        result = obj.__dict__.get("result_")
        if result is None:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute 'singular_'")
        sol = result.solution
        p = result.n_features
        icpt = int(result.k_constant)
        R = sol.R_x[icpt:, icpt:] if sol.R_x.size else np.zeros((0, 0))
        sv = np.linalg.svd(R, compute_uv=False) if R.size else np.zeros(0)
        value = np.concatenate([sv, np.zeros(p - sv.size)])
        obj.__dict__["singular_"] = value  # a non-data descriptor: the instance's value wins
        return value


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
    copy_X : bool, default=True
        Accepted for scikit-learn compatibility; olsnet never modifies X (it is always copied
        or read block by block).
    tol : float, default=1e-6
        Accepted for scikit-learn compatibility (its sparse ``lsqr`` tolerance); olsnet solves
        every input, sparse included, exactly, so it is not used.
    n_jobs : int or None, default=None
        Threads for folding block sources and sparse X (None: the CPUs this process may use,
        at most 8).
    positive : bool, default=False
        Non-negative slopes (the intercept is free), as scikit-learn: solved by
        ``scipy.optimize.nnls`` on the R factor of the centred data (exact, no pass over the
        rows). Standard errors, t, p and F are not available for a constrained fit (NaN, with
        the reason in the summary); ``cov_type`` must be "nonrobust".
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
    singular_ : ndarray of shape (n_features,)
        Singular values of the weighted, centred X (X without intercept), as scikit-learn;
        0 for aliased columns.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X was a DataFrame with string column names.
    result_ : RegressionResult
    model_spec_ : ModelSpec, only when fitted on a formula source (``olsnet.read(...,
        formula=...)``); ``predict`` then takes raw rows.

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

    coef_: np.ndarray
    intercept_: Any
    singular_ = _SingularValues()
    _partial: dict[str, Any] | None
    _qr_state: Any

    def __init__(
        self,
        fit_intercept: bool = True,
        *,
        copy_X: bool = True,
        tol: float = 1e-6,
        n_jobs: int | None = None,
        positive: bool = False,
        cov_type: str = "nonrobust",
        missing: str = "raise",
        policy: str = "auto",
    ) -> None:
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive
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
        args = [f"{k}={v!r}" for k, v in self.get_params().items() if v != _DEFAULTS[k]]
        return f"LinearRegression({', '.join(args)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "result_")

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        return Tags(
            estimator_type="regressor",
            target_tags=TargetTags(required=True, multi_output=True, single_output=True),
            regressor_tags=RegressorTags(),
            input_tags=InputTags(allow_nan=self.missing == "drop", sparse=True),
        )

    # -- metadata routing (scikit-learn's set_fit_request / set_score_request) -----------------
    def set_fit_request(self, *, sample_weight: bool | str | None = _UNCHANGED) -> LinearRegression:
        """Request ``sample_weight`` for ``fit`` under scikit-learn's metadata routing.

        ``True``: route it; ``False``: do not; ``None`` (default): error if given; a string:
        route the metadata of that name. Returns self.
        """
        self._metadata_request = _Requests(getattr(self, "_metadata_request", {}))
        if sample_weight != _UNCHANGED:
            self._metadata_request["fit"] = sample_weight
        return self

    def set_score_request(
        self, *, sample_weight: bool | str | None = _UNCHANGED
    ) -> LinearRegression:
        """Request ``sample_weight`` for ``score`` under scikit-learn's metadata routing."""
        self._metadata_request = _Requests(getattr(self, "_metadata_request", {}))
        if sample_weight != _UNCHANGED:
            self._metadata_request["score"] = sample_weight
        return self

    def get_metadata_routing(self) -> Any:
        """scikit-learn's ``MetadataRequest`` of this estimator (``sample_weight`` of fit and
        score, as requested with :meth:`set_fit_request` / :meth:`set_score_request`)."""
        from sklearn.utils.metadata_routing import MetadataRequest

        requests = getattr(self, "_metadata_request", {})
        router = MetadataRequest(owner=type(self).__name__)
        router.fit.add_request(param="sample_weight", alias=requests.get("fit"))
        router.score.add_request(param="sample_weight", alias=requests.get("score"))
        return router

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
        X : array-like of shape (n_samples, n_features), DataFrame, dask collection, device
            array (torch tensor on any device, CuPy array), or a data source
            (``olsnet.read(...)``, any :class:`olsnet.data.Source`), in which case ``y`` and
            ``sample_weight`` are None.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            With a device X, y may live anywhere (NumPy, another device): it is moved to X's
            device, as are the weights.
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
        DeviceError
            A device array on a device without float64 arithmetic.
        DeviceMemoryError
            The device ran out of memory (the message gives the sizes and the streamed path).

        Notes
        -----
        A device X is fitted on its device with the accuracy policy of the NumPy path (see
        :mod:`olsnet.solve._device`): only (k, k) matrices come back to the host, and the
        results are NumPy. float16 and bfloat16 inputs are computed in float64 with a
        :class:`~olsnet.errors.PrecisionWarning`. Statistics that need a second pass over the
        rows (``with_cov("HC3")``, influence) copy the rows to the host block by block.
        """
        from .inference import RegressionResult

        fit_intercept = bool(self.fit_intercept)
        cov_type = check_option("cov_type", self.cov_type, COV_TYPES)
        if self.positive and cov_type != "nonrobust":
            raise OptionError(
                f"positive=True with cov_type={cov_type!r}: {_POSITIVE}; use cov_type='nonrobust'"
            )
        dtype = _float_dtype(X)
        if is_sparse(X):  # exact fit, densified one block at a time
            X, y, sample_weight = _sparse_source(X, y, sample_weight), None, None
        missing = check_option("missing", self.missing, MISSING_POLICIES)
        policy = check_option("policy", self.policy, SOLVER_POLICIES)
        # X with no columns and an intercept: R's lm(y ~ 1), the mean model
        source = _as_source(X, y, sample_weight, missing, min_features=0 if fit_intercept else 1)
        if source.fit_intercept is not None:  # a formula says ("y ~ x - 1")
            fit_intercept = bool(source.fit_intercept)
        jobs = n_jobs if n_jobs is not None else self.n_jobs
        solution = source.solve(fit_intercept, policy=policy, n_jobs=jobs, on_batch=on_batch)
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
            if on_batch is not None:  # the HC pass reports its batches too (progress bars)
                new_pass = getattr(on_batch, "new_pass", None)  # RichProgress: a line of its own
                if callable(new_pass):
                    new_pass(f"{cov_type} pass")
                s = solution
                args = (s.params, s.R_x, s.shift_x, s.kept, s.fit_intercept)
                dp = source.residual_pass(*args, n_jobs=jobs, on_batch=on_batch)
                result = result.with_residual_pass(dp)
            result = result.with_cov(cov_type)
        if self.positive:
            result = _nonnegative(result)
        spec = getattr(source, "model_spec", None)  # a formula source's ModelSpec
        if spec is not None:
            result = dataclasses.replace(result, model_spec=spec)
            self.model_spec_ = spec
        elif hasattr(self, "model_spec_"):
            del self.model_spec_
        self._set_fitted(
            result.solution.params,
            fit_intercept,
            y_ndim,
            solution.rank,
            source,
            source.names_from_frame,
        )
        self._set_extras(result, dtype)
        self.result_ = result
        self._qr_state = None
        self._partial = None
        return self

    def _set_extras(self, result: Any, dtype: Any) -> None:
        """The input's float dtype (float32 in, float32 coef_ out); ``singular_`` of the new
        fit is made on first read (:class:`_SingularValues`)."""
        self.__dict__.pop("singular_", None)
        self._dtype = dtype
        if dtype == np.float32:
            self.coef_ = np.asarray(self.coef_, dtype=np.float32)
            if isinstance(self.intercept_, np.ndarray):
                self.intercept_ = self.intercept_.astype(np.float32)
            else:
                self.intercept_ = np.float32(self.intercept_)

    def _adopt(self, result: Any, state: Any) -> None:
        """Take ``result`` (of QR ``state``) as this model's fit (partial_fit, merge)."""
        self._set_fitted(
            result.solution.params,
            result.fit_intercept,
            result.y_ndim,
            result.rank,
            result,
            hasattr(self, "feature_names_in_"),
        )
        self._set_extras(result, getattr(self, "_dtype", np.float64))
        self.result_ = result
        self._qr_state = state

    # -- incremental fits ----------------------------------------------------------------------
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegression:
        """Fold a chunk of rows into the exact fit (R's ``biglm`` update).

        After every call ``coef_``, ``intercept_`` and ``result_`` (with ``summary()``) are
        those of one fit on all rows seen so far, up to rounding (1e-12). Statistics that need
        the rows again (HC covariances, cluster, HAC, influence) are not available until the
        rows are passed again with :meth:`partial_residuals` (HC0-HC3) or attached with
        ``result_.with_data(...)``. X with 0 columns (and an intercept) is the intercept-only
        model, as in :meth:`fit`.

        Raises
        ------
        DimensionError
            A chunk with a different number of columns or outputs than the first.
        DataError
            NaN or inf (naming the column and row), bad weights.
        """
        from ._incremental import result_of_state
        from .solve import QRState

        check_option("cov_type", self.cov_type, COV_TYPES)
        if self.positive:
            raise OptionError("partial_fit does not support positive=True (a constrained fit)")
        missing = check_option("missing", self.missing, MISSING_POLICIES)
        # X with 0 columns and an intercept: the intercept-only model, as fit takes it
        min_features = 0 if self.fit_intercept else 1
        design = as_design(X, y, sample_weight, missing=missing, min_features=min_features)
        state = getattr(self, "_qr_state", None)
        partial = getattr(self, "_partial", None)
        first = state is None or partial is None or not hasattr(self, "result_")
        if state is None or partial is None or first:
            state = QRState.empty(design.n_features, design.n_outputs, bool(self.fit_intercept))
            partial = {"slw": 0.0, "dropped": 0, "y_ndim": design.y_ndim, "pass": None}
        elif design.n_features != state.n_features:
            raise DimensionError(
                f"X has {design.n_features} features, but LinearRegression is expecting "
                f"{state.n_features} features as input."
            )
        elif design.n_outputs != state.n_outputs:
            raise DimensionError(
                f"y has {design.n_outputs} output(s), but this model was partially fitted on "
                f"{state.n_outputs}"
            )
        state = state.fold(design.X, design.Y, design.weights)
        w = design.weights
        partial["slw"] += 0.0 if w is None else float(np.log(w[w > 0]).sum())
        partial["dropped"] += design.n_dropped
        partial["pass"] = None  # new coefficients: earlier residual passes are stale
        result = result_of_state(
            state,
            None,
            design if first else self.result_,
            partial["y_ndim"],
            sum_log_weights=partial["slw"],
            n_dropped=partial["dropped"],
            method="qr-state (partial_fit)",
        )
        self._adopt(result, state)
        self._partial = partial
        if first:
            self._set_fitted(
                result.solution.params,
                result.fit_intercept,
                result.y_ndim,
                result.rank,
                design,
                design.names_from_frame,
            )
        return self

    def partial_residuals(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegression:
        """Pass the rows again, chunk by chunk, after the last :meth:`partial_fit`.

        Accumulates the residual pass (HC0-HC3 meats, leverages) at the final coefficients;
        once every row has been passed (the counts match ``nobs``), ``result_`` has them and
        ``result_.with_cov("HC3")`` works. Returns self.
        """
        from ._incremental import add_passes, chunk_pass

        self._check_fitted()
        partial = getattr(self, "_partial", None)
        if partial is None:
            raise DataError(
                "partial_residuals follows partial_fit (this model was fitted whole: its "
                "result_ already has the rows)"
            )
        min_features = 0 if self.fit_intercept else 1  # as partial_fit
        design = as_design(X, y, sample_weight, missing=self.missing, min_features=min_features)
        total = add_passes(
            partial["pass"], chunk_pass(self.result_, design.X, design.Y, design.weights)
        )
        partial["pass"] = total
        res = self.result_
        if total.nobs > res.nobs:
            partial["pass"] = None
            raise DataError(
                f"partial_residuals got {total.nobs} rows but the fit has {res.nobs}: pass each "
                "row once, after the last partial_fit"
            )
        if total.nobs == res.nobs:
            self.result_ = res.with_residual_pass(total).with_cov(self.cov_type)
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
            self.intercept_ = float(intercept[0])
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
        fits (``result_.get_prediction`` makes rows the fit cannot determine NaN instead).
        Dask inputs give a lazy dask array; sparse X is supported; float32 in, float32 out; a
        device array (torch tensor, CuPy array) gives a float64 array of its namespace on its
        device.
        """
        self._check_fitted()
        if hasattr(self, "model_spec_") and not _is_dask(X):
            feature_names = tuple(getattr(self, "feature_names_in_", ()))
            if _is_raw_frame(X, feature_names):
                return self.result_.predict(X, missing=self.missing)
        coef = np.nan_to_num(np.asarray(self.coef_, dtype=np.float64))
        intercept = np.nan_to_num(np.asarray(self.intercept_, dtype=np.float64))
        if is_device_array(X):
            from .data._device import device_predict

            return device_predict(X, coef, intercept, self.n_features_in_)
        if _is_dask(X):
            from .scale import predict_lazy

            return predict_lazy(coef, intercept, X)
        dtype = _float_dtype(X)
        if is_sparse(X):
            Xs = check_sparse(X)
            if Xs.shape[1] != self.n_features_in_:
                raise DimensionError(
                    f"X has {Xs.shape[1]} features, but LinearRegression is expecting "
                    f"{self.n_features_in_} features as input."
                )
            out = np.asarray(Xs @ coef.T) + intercept
        else:
            out = self._prepare(X) @ coef.T + intercept
        return out.astype(np.float32) if dtype == np.float32 else out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R² of the predictions (as scikit-learn's ``r2_score``,
        averaged uniformly over targets)."""
        pred = self.predict(X)
        if is_device_array(pred):
            from .solve._device import to_host

            pred = to_host(pred)
        pred = np.asarray(pred, dtype=np.float64)
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


def _float_dtype(X: Any) -> Any:
    """float32 when X holds float32 (scikit-learn keeps it), else float64."""
    dt = getattr(X, "dtype", None)
    if dt is None and hasattr(X, "dtypes"):  # a DataFrame: float32 only if every column is
        kinds = set(getattr(X, "dtypes", []))
        dt = kinds.pop() if len(kinds) == 1 else None
    return np.float32 if dt == np.float32 else np.float64


def _sparse_source(X: Any, y: Any, sample_weight: Any) -> Any:
    """A sparse X with its y and weights as a block source (checked like dense inputs)."""
    from .data._sparse import SparseSource

    Xs = check_sparse(X)
    n, p = Xs.shape
    if y is None:
        raise ValueError("LinearRegression requires y to be passed, but the target y is None")
    if p == 0:
        raise DataError(f"X has 0 feature(s) (shape={Xs.shape}) while a minimum of 1 is required.")
    design = as_design(np.zeros((n, 1)), y, sample_weight)  # checks y and the weights
    names = tuple(f"x{j + 1}" for j in range(p))
    return SparseSource(Xs, design.Y, design.weights, names, design.target_names, design.y_ndim)


def _nonnegative(result: Any) -> Any:
    """``result`` at the non-negative least-squares slopes (intercept free), inference n/a.

    Solved with ``scipy.optimize.nnls`` on the R factor of the centred, weighted ``[X Y]``
    (``‖R_xx β - r_xy‖`` is the residual norm up to a constant once the intercept's row is
    solved exactly), as scikit-learn centres and calls ``nnls`` on the data.
    """
    from scipy.optimize import nnls

    # the full R (aliased columns included), folded on the source's own threads
    state = result.source.fit_state(result.fit_intercept)
    p, q, icpt = result.n_features, result.n_outputs, int(result.fit_intercept)
    R = state.R
    shift = state.shift if state.shift is not None else np.zeros(p + q)
    params = np.zeros((icpt + p, q))
    for j in range(q):
        beta, _ = nnls(R[icpt : icpt + p, icpt : icpt + p], R[icpt : icpt + p, icpt + p + j])
        params[icpt:, j] = beta
        if icpt:
            b0 = (R[0, 1 + p + j] - R[0, 1 : 1 + p] @ beta) / R[0, 0]
            params[0, j] = b0 + shift[p + j] - shift[:p] @ beta
    at = result.at(params)
    nan = np.full_like(at.covariance, np.nan)
    return dataclasses.replace(
        at,
        covariance=nan,
        cov_middle=np.full_like(at.cov_middle, np.nan),
        cov_reason=_POSITIVE,
        solution=dataclasses.replace(at.solution, method="nnls (positive=True)"),
    )
