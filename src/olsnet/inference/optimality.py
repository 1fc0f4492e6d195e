"""Inference at coefficients that came from elsewhere (a trained network), and how far they are
from the least-squares optimum.

:func:`result_at` evaluates a :class:`RegressionResult` *at given coefficients*: standard errors
and tests use the exact ``(XᵀWX)⁻¹`` of the data and the residuals of the given coefficients, so
they are what least-squares inference says about that affine map. Its ``optimality`` record
says how close the map is to the exact fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._types import COV_TYPES, check_option
from ..errors import DimensionError
from .result import RegressionResult

__all__ = ["Optimality", "result_at"]


@dataclass(frozen=True)
class Optimality:
    """How far given coefficients are from the exact least-squares optimum.

    Attributes
    ----------
    loss : float
        ``J(b) = Σᵢⱼ wᵢ (yᵢⱼ - x̃ᵢᵀ bⱼ)² / (2 Σᵢ wᵢ)`` at the given coefficients: olsnet's one
        loss scale, the objective ``olsnet.train`` minimises (``TrainingLog.loss``; half the
        weighted mean squared error, summed over outputs).
    loss_optimum : float
        ``L`` at the exact least-squares coefficients.
    relative_gap : float
        ``(loss - loss_optimum) / loss_optimum`` (``loss - loss_optimum`` when the optimum is 0).
    gradient_norm : float
        Frobenius norm of ``∇J(b) = -X̃ᵀ W E / Σ w`` over the identified coefficients
        (0 at the optimum).
    max_rel_coef_diff : float
        ``max |b - b*| / max |b*|`` per output, the largest over outputs (aliased columns,
        whose b* is not identified, left out).
    """

    loss: float
    loss_optimum: float
    relative_gap: float
    gradient_norm: float
    max_rel_coef_diff: float

    def notes(self) -> list[str]:
        return [
            "Coefficients were given (not fitted): standard errors use (XᵀWX)⁻¹ and the "
            "residuals of the given coefficients.",
            f"Distance from the least-squares optimum: loss {self.loss:.6g} vs optimum "
            f"{self.loss_optimum:.6g} (relative gap {self.relative_gap:.3g}); gradient norm "
            f"{self.gradient_norm:.3g}; max relative coefficient difference "
            f"{self.max_rel_coef_diff:.3g}.",
        ]


def optimality_to_dict(o: Optimality) -> dict[str, Any]:
    """JSON-able dict (non-finite numbers as strings)."""
    return {k: (v if np.isfinite(v) else str(v)) for k, v in asdict(o).items()}


def optimality_from_dict(d: dict[str, Any]) -> Optimality:
    return Optimality(**{k: float(d[k]) for k in Optimality.__dataclass_fields__})


def _exact_solution(source: Any, fit_intercept: bool, names: tuple[str, ...]) -> Any:
    """The exact least-squares solution on a block source (refined when arrays are at hand)."""
    from ..solve import QRState, exact_lstsq, solve_state

    design = getattr(source, "design", None)
    if design is not None:
        return exact_lstsq(design.X, design.Y, design.weights, fit_intercept, names)
    state = QRState.empty(source.n_features, source.n_outputs, fit_intercept)
    for X, Y, w in source.blocks():
        state = state.fold(X, Y, w)
    return solve_state(state, names)


def result_at(
    params: Any,
    source: Any,
    *,
    fit_intercept: bool = True,
    feature_names: tuple[str, ...] | list[str] | None = None,
    target_names: tuple[str, ...] | list[str] | None = None,
    y_ndim: int | None = None,
    cov_type: str = "nonrobust",
) -> RegressionResult:
    """A :class:`RegressionResult` whose coefficients are the given ones.

    Parameters
    ----------
    params : array_like of shape (k,) or (k, q)
        Coefficients, intercept first (``k = fit_intercept + n_features``), e.g. a collapsed
        network's ``[bias, weight]`` transposed.
    source : block source
        The data (``olsnet.data.ArraySource(olsnet.data.as_design(X, y, w))`` or a file/dask
        source).
    fit_intercept : bool, default True
    feature_names, target_names : sequence of str, optional
        Default: the source's names.
    y_ndim : {1, 2}, optional
        Default: 1 for (k,) params, else 2.
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3"}, default "nonrobust"

    Returns
    -------
    RegressionResult
        ``params`` are the given coefficients; ``ssr``, ``scale``, R², F, ``llf`` and the
        covariances use their residuals; the bread ``(XᵀWX)⁻¹`` and the degrees of freedom are
        those of the data. ``result.optimality`` is an :class:`Optimality` record, also shown in
        the summary's notes.

    Notes
    -----
    With the given coefficients ``b`` and the exact ``b*``, the nonrobust covariance is
    ``ssr(b) / (n - rank) · (XᵀWX)⁻¹``; R² is ``1 - ssr(b) / tss`` (it can be below the optimum's,
    never above it).
    """
    from .covariance import residual_pass

    check_option("cov_type", cov_type, COV_TYPES)
    P = np.asarray(params, dtype=np.float64)
    ndim = y_ndim if y_ndim is not None else (1 if P.ndim == 1 else 2)
    P2 = P[:, None] if P.ndim == 1 else P
    p, q = source.n_features, source.n_outputs
    k = int(fit_intercept) + p
    if P2.ndim != 2 or P2.shape != (k, q):
        raise DimensionError(
            f"params has shape {P.shape}; this data needs ({k},) or ({k}, {q}): intercept "
            f"{'first, then ' if fit_intercept else 'none, '}{p} feature coefficient(s) for "
            f"{q} output(s)"
        )
    if not np.isfinite(P2).all():
        raise DimensionError("params holds NaN or inf; given coefficients must be finite")
    fnames = tuple(feature_names) if feature_names is not None else tuple(source.feature_names)
    solution = _exact_solution(source, fit_intercept, fnames)
    kept = solution.kept
    at = residual_pass(source.blocks(), P2, solution.R_x, solution.shift_x, kept, fit_intercept)
    # exact optimum's loss and the gradient at b (user coordinates: [1, x] = [1, x - c] M)
    denom = 2.0 * solution.sum_weights  # J = Σ w ‖e‖² / (2 Σ w), the training objective
    loss = float(at.ssr.sum() / denom)
    loss_opt = float(solution.ssr.sum() / denom)
    grad = at.gradient.copy()  # (r, q) Σ w z̃ e, shifted coordinates
    icpt_kept = fit_intercept and kept.size > 0 and kept[0] == 0
    if icpt_kept:
        c = solution.shift_x[kept[1:] - 1]
        grad[1:] += c[:, None] * grad[0][None, :]
    grad *= -2.0 / denom  # ∇J = -X̃ᵀ W E / Σ w
    opt = solution.params[kept]  # (r, q)
    diff = np.abs(P2[kept] - opt)
    scale = np.maximum(np.abs(opt).max(axis=0), np.finfo(float).tiny)
    gap = (loss - loss_opt) / loss_opt if loss_opt > 0 else loss - loss_opt
    optimality = Optimality(
        loss,
        loss_opt,
        float(gap),
        float(np.linalg.norm(grad)),
        float((diff / scale).max()) if diff.size else 0.0,
    )
    base = RegressionResult.from_solution(
        solution, source, feature_names=fnames, target_names=target_names, y_ndim=ndim
    )
    return base.at(P2, optimality, data_pass=at).with_cov(cov_type)
