"""compare and inference_at: how far a network's map is from the exact optimum, in numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from ..affine import Affine
from ..data import ArraySource, as_design
from ..errors import DimensionError
from .expand import as_affine

__all__ = ["compare", "inference_at"]


def _ssr(A: Affine, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Weighted sum of squared residuals per output, (q,)."""
    R = Y - (X @ np.asarray(A.weight, dtype=np.float64).T + A.bias)  # (n, q)
    return (R * R).sum(axis=0) if w is None else w @ (R * R)


def _checked_design(A: Affine, X: Any, y: Any, sample_weight: Any) -> Any:
    d = as_design(X, y, sample_weight)
    if d.n_features != A.n_features:
        raise DimensionError(
            f"X has {d.n_features} features but the network / map takes {A.n_features}"
        )
    if d.n_outputs != A.n_outputs:
        raise DimensionError(
            f"y has {d.n_outputs} target column(s) but the network / map gives {A.n_outputs}"
        )
    return d


def _bottleneck(model: Any, A: Affine) -> int | None:
    hidden = getattr(model, "hidden", None)
    if hidden is None and isinstance(model, nn.Sequential):
        linears = [m for m in model.children() if isinstance(m, nn.Linear)]
        hidden = tuple(m.out_features for m in linears[:-1])
    if not hidden or min(hidden) >= min(A.n_features, A.n_outputs):
        return None
    return int(min(hidden))


def compare(net: Any, X: Any, y: Any, sample_weight: Any = None) -> Any:
    """Table: each coefficient of the exact optimum beside the network's, and both losses.

    Parameters
    ----------
    net : LinearNetwork, linear torch module or Affine
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    olsnet.inference.Table
        One row per (output, coefficient): the reference value, the network's, the absolute
        difference and the relative difference ``|net - ref| / |ref|``; the notes give both
        losses ``J = Σ w ‖y − ŷ‖² / (2 Σ w)`` (olsnet's one loss scale: ``TrainingLog.loss``,
        ``plot_training``, ``inference_at``) and their relative gap.

    Notes
    -----
    The reference is the exact least-squares fit (``olsnet.solve.exact_lstsq``). When the
    network's narrowest hidden layer k is below min(n_features, n_outputs) it computes a rank-k
    map, and the reference is :class:`olsnet.ReducedRankRegression` with ``rank=k``.
    """
    from ..inference import Table
    from ..reference import ReducedRankRegression
    from ..solve import exact_lstsq

    A = as_affine(net)
    d = _checked_design(A, X, y, sample_weight)
    k = _bottleneck(net, A)
    if k is None:
        sol = exact_lstsq(d.X, d.Y, d.weights, True, d.feature_names)
        ref = Affine(sol.params[1:].T, sol.params[0])
        label = "OLS"
    else:
        rrr = ReducedRankRegression(rank=k).fit(d.X, d.Y, d.weights)
        ref = Affine(np.atleast_2d(rrr.coef_), np.atleast_1d(rrr.intercept_))
        label = f"RRR (rank {k})"
    fnames = A.feature_names or d.feature_names
    tnames = A.target_names or d.target_names
    rows = []
    for j in range(A.n_outputs):
        ref_vals = np.r_[ref.bias[j], ref.weight[j]]  # (1 + p,)
        net_vals = np.r_[A.bias[j], A.weight[j]].astype(np.float64)
        for name, r_, n_ in zip(("Intercept", *fnames), ref_vals, net_vals, strict=True):
            diff = abs(n_ - r_)
            rel = diff / abs(r_) if r_ != 0 else (0.0 if diff == 0 else float("inf"))
            row = (name, float(r_), float(n_), float(diff), float(rel))
            rows.append((tnames[j], *row) if A.n_outputs > 1 else row)
    denom = 2.0 * (d.n_samples if d.weights is None else float(d.weights.sum()))
    loss_ref = float(_ssr(ref, d.X, d.Y, d.weights).sum()) / denom  # J, as TrainingLog.loss
    loss_net = float(_ssr(A, d.X, d.Y, d.weights).sum()) / denom
    gap = (loss_net - loss_ref) / loss_ref if loss_ref > 0 else loss_net - loss_ref
    header: tuple[str, ...] = ("coefficient", label, "network", "abs diff", "rel diff")
    if A.n_outputs > 1:
        header = ("output", *header)
    notes = (
        f"loss J = Σ w (y − ŷ)² / 2 Σ w: {label} {loss_ref:.15g}, network {loss_net:.15g}",
        f"relative loss gap (network - {label}) / {label}: {gap:.3g}",
        f"largest relative coefficient difference: {max(r[-1] for r in rows):.3g}",
    )
    fmt = ("",) * (len(header) - 4) + (".10g", ".10g", ".3e", ".3e")
    return Table(f"Network vs {label}", header, tuple(rows), notes, formats=fmt)


def inference_at(model: Any, X: Any, y: Any, sample_weight: Any = None) -> Any:
    """Full regression inference (standard errors, t, p, R², ...) at a network's coefficients.

    Parameters
    ----------
    model : Affine, LinearNetwork or linear torch module
    X, y, sample_weight : as for ``olsnet.LinearRegression.fit``

    Returns
    -------
    RegressionResult
        From ``olsnet.inference.result_at``: ``params`` are the map's coefficients (intercept
        first); standard errors, t, p, R² and F use their residuals; ``result.optimality``
        states how far they are from the exact optimum (loss gap, gradient norm, largest
        relative coefficient difference).
    """
    from ..inference import result_at

    A = as_affine(model)
    d = _checked_design(A, X, y, sample_weight)
    params = np.vstack([A.bias[None, :], np.asarray(A.weight, dtype=np.float64).T])  # (1+p, q)
    if d.y_ndim == 1:
        params = params[:, 0]
    return result_at(
        params,
        ArraySource(d),
        fit_intercept=True,
        feature_names=A.feature_names or d.feature_names,
        target_names=A.target_names or d.target_names,
        y_ndim=d.y_ndim,
    )
