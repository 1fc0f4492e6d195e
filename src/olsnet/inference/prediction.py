"""Predictions with confidence intervals (for the mean) and prediction intervals (for new rows).

For a new row ``x₀`` (with the intercept's 1) and covariance ``V`` of the coefficients (under
the result's ``cov_type``): ``se_mean = √(x₀ᵀ V x₀)``, ``se_obs = √(se_mean² + s² / w₀)`` with
``s² = scale`` and ``w₀`` the row's analytic weight (1 by default); intervals are
``ŷ ± t(1 - α/2, df_resid) · se``. These are statsmodels' ``get_prediction().summary_frame()``
columns ``mean, mean_se, mean_ci_lower, mean_ci_upper, obs_ci_lower, obs_ci_upper``.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._deps import require
from ..errors import DataError, DimensionError, NotAvailableWarning, OptionError
from ._distributions import t_isf
from ._rows import alias_relations, centred, factor_solve, fitted, non_estimable

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["PredictionResult", "predict"]


def _ro(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class PredictionResult:
    """Predicted means at ``m`` rows with their standard errors and intervals.

    For a 1-D ``y`` arrays are (m,) and intervals (m, 2); for ``q`` outputs (m, q) and
    (m, q, 2).
    """

    _mean: np.ndarray  # (m, q)
    _var_mean: np.ndarray  # (m, q)
    _var_resid: np.ndarray  # (m, q)
    df_resid: float
    y_ndim: int
    target_names: tuple[str, ...]
    cov_type: str

    def _shape(self, a: np.ndarray) -> np.ndarray:
        return _ro(a[:, 0] if self.y_ndim == 1 else a)

    @property
    def predicted_mean(self) -> np.ndarray:
        """Predicted values ``x₀ᵀ b``."""
        return self._shape(self._mean)

    @property
    def se_mean(self) -> np.ndarray:
        """Standard error of the predicted mean."""
        return self._shape(np.sqrt(self._var_mean))

    @property
    def se_obs(self) -> np.ndarray:
        """Standard error of a new observation (mean plus residual variance)."""
        return self._shape(np.sqrt(self._var_mean + self._var_resid))

    def _interval(self, alpha: float, obs: bool) -> np.ndarray:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1); got {alpha}")
        crit = t_isf(alpha / 2.0, self.df_resid) if self.df_resid > 0 else np.nan
        var = self._var_mean + self._var_resid if obs else self._var_mean
        half = crit * np.sqrt(var)
        return np.stack([self._mean - half, self._mean + half], axis=-1)  # (m, q, 2)

    def conf_int(self, alpha: float = 0.05, obs: bool = False) -> np.ndarray:
        """Confidence intervals of the mean, or prediction intervals with ``obs=True``."""
        ci = self._interval(alpha, obs)
        return _ro(ci[:, 0] if self.y_ndim == 1 else ci)

    def summary_frame(self, alpha: float = 0.05) -> Any:
        """pandas DataFrame with statsmodels' columns (a column level per output when q > 1)."""
        pd = require("pandas", "summary_frame (a pandas DataFrame)")

        ci = self._interval(alpha, False)
        oi = self._interval(alpha, True)
        frames = []
        for j in range(self._mean.shape[1]):
            frames.append(
                pd.DataFrame(
                    {
                        "mean": self._mean[:, j],
                        "mean_se": np.sqrt(self._var_mean[:, j]),
                        "mean_ci_lower": ci[:, j, 0],
                        "mean_ci_upper": ci[:, j, 1],
                        "obs_ci_lower": oi[:, j, 0],
                        "obs_ci_upper": oi[:, j, 1],
                    }
                )
            )
        if self.y_ndim == 1:
            return frames[0]
        return pd.concat(frames, axis=1, keys=list(self.target_names))


def _new_rows(result: RegressionResult, X: Any) -> np.ndarray:
    """(m, p) float64 rows in the model's feature order, checked against its names."""
    from .._validate import as_matrix

    p = result.n_features
    cols = getattr(X, "columns", None)
    if cols is not None and not isinstance(X, np.ndarray):  # a frame: match columns by name
        names = [str(c) for c in cols]
        missing = [n for n in result.feature_names if n not in names]
        generic = result.feature_names == tuple(f"x{j + 1}" for j in range(p))
        if not missing:
            X = X[list(result.feature_names)]
        elif not (generic and len(names) == p):  # fitted on arrays: columns taken in order
            raise DimensionError(
                f"X lacks the model's feature column(s) {missing}; the model was fitted on "
                f"{list(result.feature_names)} and X has {names}"
            )
        arr = X
    else:
        arr = np.asarray(X)
        if arr.ndim == 1 and arr.shape[0] == p:
            arr = arr[None, :]  # one row given as (p,)
    Xa, _ = as_matrix(arr, "X")
    if Xa.shape[1] != p:
        raise DimensionError(
            f"X has {Xa.shape[1]} feature(s) but the model was fitted on {p}: "
            f"{list(result.feature_names)}"
        )
    if not np.isfinite(Xa).all():
        i, j = np.argwhere(~np.isfinite(Xa))[0]
        raise DataError(
            f"X column {result.feature_names[j]!r} has {Xa[i, j]} at row {i}; "
            "predictions need finite values"
        )
    return Xa


def _fitted_rows(result: RegressionResult) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows the model was fitted on and their weights (needs the data)."""
    source = result.source
    if source is None:
        raise DataError(
            "get_prediction() without X predicts the rows the model was fitted on, but no data "
            "are attached to this result (built without a source, or loaded from a file); "
            "pass the rows: get_prediction(X)"
        )
    xs, ws = [], []
    weighted = False
    for X, _Y, w in source.blocks():
        xs.append(np.asarray(X, dtype=np.float64))
        ws.append(np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64))
        weighted = weighted or w is not None
    return np.concatenate(xs), (np.concatenate(ws) if weighted else None)


def _non_estimable(result: RegressionResult, Xa: np.ndarray, rankdeficient: str) -> np.ndarray:
    """(m,) rows outside the row space of the kept design; warns as ``rankdeficient`` says."""
    sol = result.solution
    if result.source is None:
        warnings.warn(
            "the fit has aliased columns and no data attached, so whether the new rows lie in "
            "the row space of the design cannot be checked: predictions there are not unique",
            NotAvailableWarning,
            stacklevel=4,
        )
        return np.zeros(Xa.shape[0], dtype=bool)
    bad = non_estimable(sol, alias_relations(sol, result.source), Xa)
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(i) for i in rows[:10]) + (" ..." if rows.size > 10 else "")
        what = "are NaN" if rankdeficient == "NA" else "depend on which column was aliased"
        warnings.warn(
            f"prediction from a rank-deficient fit: row(s) {shown} break the collinearity of "
            f"the aliased column(s) {', '.join(result.aliased)}, so their predictions {what} "
            "(R's predict.lm rankdeficient=)",
            NotAvailableWarning,
            stacklevel=4,
        )
    return bad


def predict(
    result: RegressionResult, X: Any, weights: Any, rankdeficient: str = "NA"
) -> PredictionResult:
    """Build the :class:`PredictionResult` of ``result`` at rows ``X`` (None: fitted rows)."""
    if rankdeficient not in ("NA", "warnif"):
        raise OptionError(f"rankdeficient={rankdeficient!r} is not accepted; use 'NA' or 'warnif'")
    if X is None:
        Xa, data_w = _fitted_rows(result)
        if weights is None:
            weights = data_w
    else:
        Xa = _new_rows(result, X)
    m = Xa.shape[0]
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (m,):
        raise DimensionError(f"weights must have shape ({m},) to match X; got {w.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise DataError("prediction weights must be finite and >= 0")
    sol = result.solution
    mean = fitted(sol, Xa)  # (m, q), centred: b₀ + cᵀβ + (x - c)ᵀβ
    # x₀ᵀ V x₀ = g S gᵀ with g = [1, x₀ - c] R⁻¹: the solver's factored, centred basis
    G = factor_solve(sol, centred(sol, Xa))  # (m, r)
    middle = result.cov_middle  # (q, r, r)
    if middle is None:  # a result loaded without its factored covariance
        from ._rows import to_centred

        F = factor_solve(sol, to_centred(sol, np.eye(sol.rank)))
        Finv = np.linalg.inv(F)
        kept = sol.kept
        middle = Finv @ result.covariance[:, kept[:, None], kept[None, :]] @ Finv.T
    var_mean = np.einsum("mi,jik,mk->mj", G, middle, G)
    if sol.aliased.any():
        bad = _non_estimable(result, Xa, rankdeficient)
        mean = np.where(bad[:, None], np.nan, mean) if rankdeficient == "NA" else mean
        var_mean = np.where(bad[:, None], np.nan, var_mean) if rankdeficient == "NA" else var_mean
    scale = result.statistic("scale").value  # (q,)
    with np.errstate(divide="ignore"):
        var_resid = scale[None, :] / w[:, None]
    return PredictionResult(
        _ro(mean),
        _ro(np.maximum(var_mean, 0.0)),
        _ro(var_resid),
        result.df_resid_inference,
        result.y_ndim,
        result.target_names,
        result.cov_type,
    )


def scatter_rows(pred: PredictionResult, kept: np.ndarray) -> PredictionResult:
    """``pred`` at the ``kept`` rows of ``n`` input rows, NaN at the others (R's
    ``na.exclude``: one output row per input row)."""
    if kept.all():
        return pred

    def full(a: np.ndarray) -> np.ndarray:
        out = np.full((kept.size, a.shape[1]), np.nan)
        out[kept] = a
        return _ro(out)

    return dataclasses.replace(
        pred,
        _mean=full(pred._mean),
        _var_mean=full(pred._var_mean),
        _var_resid=full(pred._var_resid),
    )
