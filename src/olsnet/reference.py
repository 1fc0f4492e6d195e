"""Closed-form optima of constrained and penalised linear networks (NumPy and SciPy only).

A linear network whose narrowest hidden layer is narrower than both its inputs and its outputs
is a rank-k map; its least-squares optimum is reduced-rank regression, not OLS. A single neuron
trained with weight decay on its weights (not its bias) is ridge regression. Both optima are
given here in closed form, with the scikit-learn estimator API, so trained networks can be
checked against them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from .data import as_design
from .errors import DimensionError, NotFittedError, OptionError, RankError

__all__ = ["ReducedRankRegression", "RidgeRegression"]


def _weighted_center(
    X: np.ndarray, Y: np.ndarray, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sqrt(w) (X - x̄), sqrt(w) (Y - ȳ), x̄ (p,), ȳ (q,), sqrt(w) (n,)) with weighted means."""
    sw = np.ones(X.shape[0]) if w is None else w
    x_mean = sw @ X / sw.sum()  # (p,)
    y_mean = sw @ Y / sw.sum()  # (q,)
    root = np.sqrt(sw)[:, None]  # (n, 1)
    return root * (X - x_mean), root * (Y - y_mean), x_mean, y_mean, root[:, 0]


class _ClosedForm:
    """Shared predict / score / fitted checks of the closed-form estimators."""

    coef_: np.ndarray
    intercept_: Any
    _y_ndim: int

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first"
            )

    def _set(self, coef: np.ndarray, intercept: np.ndarray, d: Any) -> None:
        """Store coef_ (q, p) and intercept_ (q,), shaped as the fit target was."""
        self._y_ndim = d.y_ndim
        self.n_features_in_ = d.n_features
        if d.names_from_frame:
            self.feature_names_in_ = np.asarray(d.feature_names, dtype=object)
        if d.y_ndim == 1:
            self.coef_, self.intercept_ = coef[0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = coef, intercept

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,) for a 1-D fit target, else (n_samples, n_outputs)."""
        self._check_fitted()
        Xa = np.asarray(X, dtype=np.float64)
        W = np.atleast_2d(self.coef_)  # (q, p)
        if Xa.ndim != 2 or Xa.shape[1] != W.shape[1]:
            raise DimensionError(
                f"X has shape {Xa.shape}; this {type(self).__name__} was fitted on "
                f"{W.shape[1]} features"
            )
        out = Xa @ W.T + np.atleast_1d(self.intercept_)  # (n, q)
        return out[:, 0] if self._y_ndim == 1 else out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² averaged uniformly over outputs, as ``sklearn.metrics.r2_score`` computes it."""
        d = as_design(X, y, sample_weight)
        pred = self.predict(d.X).reshape(d.Y.shape)
        w = np.ones(d.n_samples) if d.weights is None else d.weights
        ybar = w @ d.Y / w.sum()
        ss_res = w @ (d.Y - pred) ** 2
        ss_tot = w @ (d.Y - ybar) ** 2
        return float(np.mean(1.0 - ss_res / ss_tot))


class ReducedRankRegression(_ClosedForm):
    """Least squares with the coefficient matrix constrained to rank at most ``rank``.

    The optimum of a linear network whose narrowest hidden layer has ``rank`` units (fewer
    than both its inputs and its outputs), in closed form.

    Parameters
    ----------
    rank : int
        Largest rank of the (n_outputs, n_features) coefficient matrix; at least 1 and at most
        ``min(n_features, n_outputs)`` (equality gives OLS).
    fit_intercept : bool, default True
        Whether to fit an unconstrained intercept per output.

    Attributes
    ----------
    coef_ : ndarray of shape (n_outputs, n_features), or (n_features,) for 1-D y
    intercept_ : ndarray of shape (n_outputs,), or float for 1-D y
    singular_values_ : ndarray of shape (min(n, q),)
        Singular values of the centred, weighted OLS fitted values; the loss of a rank-k fit
        exceeds the OLS loss by the sum of squares of those after the k-th.
    n_features_in_, feature_names_in_ : as in scikit-learn

    Notes
    -----
    With centred (weighted) data, ``Ŷ = X B_ols`` the OLS fitted values and ``Ŷ = U S Vᵀ``
    their thin SVD, the minimiser of ``Σ w_i ||y_i - b - B x_i||²`` over rank(B) ≤ k is
    ``B_k = B_ols V_k V_kᵀ`` (coefficients as (p, q)), and ``b = ȳ - B_kᵀ x̄``: Izenman's
    reduced-rank regression with identity output weighting (Izenman 1975, *J. Multivariate
    Anal.* 5, 248-264; Baldi and Hornik 1989, *Neural Networks* 2, 53-58 show it is the optimum
    of a linear network with a k-unit bottleneck, whose other critical points are saddles).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(50, 4)), rng.normal(size=(50, 3))
    >>> rrr = ReducedRankRegression(rank=1).fit(X, Y)
    >>> int(np.linalg.matrix_rank(rrr.coef_))
    1
    """

    def __init__(self, rank: int = 1, fit_intercept: bool = True) -> None:
        self.rank = rank
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ReducedRankRegression:
        """Fit the rank-constrained least-squares map; returns self."""
        from .solve import exact_lstsq

        d = as_design(X, y, sample_weight)
        p, q = d.n_features, d.n_outputs
        k = self.rank
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise OptionError(f"rank={k!r} is not accepted; use a positive integer")
        if k > min(p, q):
            raise RankError(
                f"rank={k} exceeds min(n_features, n_outputs) = min({p}, {q}); a rank that large "
                "is no constraint: use olsnet.LinearRegression, or rank <= " + str(min(p, q))
            )
        sol = exact_lstsq(d.X, d.Y, d.weights, self.fit_intercept, d.feature_names)
        if sol.aliased.any():
            raise RankError(
                "the design has aliased columns, so the OLS fit the reduced-rank fit starts from "
                "is not unique; drop the aliased columns named in the warning"
            )
        B = sol.params[int(self.fit_intercept) :]  # (p, q)
        if self.fit_intercept:
            Xc, _, x_mean, y_mean, _ = _weighted_center(d.X, d.Y, d.weights)
        else:
            root = np.ones(d.n_samples) if d.weights is None else np.sqrt(d.weights)
            Xc, x_mean, y_mean = root[:, None] * d.X, np.zeros(p), np.zeros(q)
        fitted = Xc @ B  # (n, q): centred, weighted OLS fitted values
        _, s, Vt = np.linalg.svd(fitted, full_matrices=False)
        Vk = Vt[:k].T  # (q, k)
        Bk = B @ Vk @ Vk.T  # (p, q)
        coef = Bk.T  # (q, p)
        intercept = y_mean - coef @ x_mean  # (q,)
        self.singular_values_ = s
        self._set(coef, intercept, d)
        return self


class RidgeRegression(_ClosedForm):
    """Ridge regression in closed form, with an unpenalised intercept.

    The optimum of a single linear neuron trained with weight decay on its weights (not its
    bias).

    Parameters
    ----------
    alpha : float, default 1.0
        Penalty on the squared norm of the coefficients, in scikit-learn's scaling (below).
    fit_intercept : bool, default True

    Attributes
    ----------
    coef_ : ndarray of shape (n_outputs, n_features), or (n_features,) for 1-D y
    intercept_ : ndarray of shape (n_outputs,), or float for 1-D y

    Notes
    -----
    Minimises ``Σ w_i (y_i - b - xᵢᵀβ)² + alpha ||β||²`` (``sklearn.linear_model.Ridge``).
    The solution is ``β = (X_cᵀ W X_c + alpha I)⁻¹ X_cᵀ W y_c`` with weighted-centred data, and
    ``b = ȳ - x̄ᵀβ``; it is computed as the least-squares solution of the stacked system
    ``[√W X_c; √alpha I] β ≈ [√W y_c; 0]`` by QR, never forming ``XᵀX``.

    **Correspondence with a network trained by torch.** ``olsnet.train`` minimises
    ``J = Σ w_i ||y_i - f(x_i)||² / (2 Σ w) + (λ/2) Σ_layers ||W_l||²`` with
    ``λ = weight_decay`` (biases not penalised). Its gradient in β is
    ``-(X_cᵀ W r)/Σw + λ β``, so the single neuron's optimum is ridge with
    ``alpha = weight_decay · Σ w`` (``weight_decay · n_samples`` without weights). For a plain
    torch loop using ``nn.MSELoss()`` (mean of ``r²``, no ½) and ``torch.optim.SGD(...,
    weight_decay=λ)`` on the weight only, ``alpha = λ · n_samples / 2``. Input standardisation
    changes the penalty, so ``olsnet.train`` only centres (never scales) when
    ``weight_decay > 0``; centring is exact because the bias is not penalised.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = X @ [1.0, 2.0, 3.0] + 0.5
    >>> RidgeRegression(alpha=0.0).fit(X, y).intercept_.round(12)
    0.5
    """

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> RidgeRegression:
        """Fit the penalised least-squares map; returns self."""
        alpha = float(self.alpha)
        if not np.isfinite(alpha) or alpha < 0:
            raise OptionError(f"alpha={self.alpha!r} is not accepted; use a finite number >= 0")
        d = as_design(X, y, sample_weight)
        p, q = d.n_features, d.n_outputs
        if self.fit_intercept:
            Xc, Yc, x_mean, y_mean, _ = _weighted_center(d.X, d.Y, d.weights)
        else:
            root = np.ones(d.n_samples) if d.weights is None else np.sqrt(d.weights)
            Xc, Yc = root[:, None] * d.X, root[:, None] * d.Y
            x_mean, y_mean = np.zeros(p), np.zeros(q)
        A = np.vstack([Xc, np.sqrt(alpha) * np.eye(p)])  # (n + p, p)
        B = np.vstack([Yc, np.zeros((p, q))])  # (n + p, q)
        Q, R = np.linalg.qr(A)
        if np.min(np.abs(np.diagonal(R)), initial=np.inf) <= 1e-14 * np.abs(R).max(initial=0.0):
            raise RankError(
                "the ridge system is singular (alpha = 0 with collinear columns); use alpha > 0"
            )
        beta = sla.solve_triangular(R, Q.T @ B, check_finite=False)  # (p, q)
        coef = beta.T  # (q, p)
        intercept = y_mean - coef @ x_mean
        self._set(coef, intercept, d)
        return self
