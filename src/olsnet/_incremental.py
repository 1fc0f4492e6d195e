"""Incremental and merged exact fits: the QR state of ``[1 X Y]`` is the whole sufficient statistic.

``partial_fit`` folds each chunk into the state (Householder QR of ``[R; chunk]``) and solves it
after every call; ``merge`` combines two fits' states by QR of ``[R₁; R₂]`` (R's ``biglm``
update and the merge of Miller 1992, AS 274). The result equals one fit on all rows up to
rounding. Second-pass statistics (HC, cluster, HAC, influence) need the rows again: feed them
chunk by chunk to ``partial_residuals`` (HC0-HC3), or attach a source (``result.with_data``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from .errors import DataError, DimensionError, InputTypeError
from .inference import RegressionResult
from .inference.covariance import ResidualPass, residual_pass
from .solve import QRState, solve_state

__all__ = ["ChainSource", "add_passes", "merge", "state_of"]


class ChainSource:
    """The rows of several block sources, one after another."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources
        first = sources[0]
        self.feature_names = tuple(first.feature_names)
        self.target_names = tuple(first.target_names)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def n_outputs(self) -> int:
        return len(self.target_names)

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        for s in self.sources:
            yield from s.blocks()


def state_of(model: Any) -> QRState:
    """The QR state of a fitted LinearRegression (kept by ``partial_fit``, else one pass)."""
    state = getattr(model, "_qr_state", None)
    if state is not None:
        return state
    result = getattr(model, "result_", None)
    if result is None:
        raise InputTypeError(f"merge takes fitted LinearRegression models; got {model!r}")
    if result.source is None:
        raise DataError(
            "merge needs each fit's QR state; this model has neither (it was loaded from a file "
            "or fitted without its rows attached). Refit it, or use partial_fit"
        )
    state = QRState.empty(result.n_features, result.n_outputs, result.fit_intercept)
    for X, Y, w in result.source.blocks():
        state = state.fold(X, np.asarray(Y).reshape(len(X), -1), w)
    return state


def add_passes(a: ResidualPass | None, b: ResidualPass) -> ResidualPass:
    """Two residual passes over disjoint rows as one (meats, ssr, gradients add)."""
    if a is None:
        return b
    return ResidualPass(
        a.meats + b.meats,
        a.ssr + b.ssr,
        a.sum_log_weights + b.sum_log_weights,
        a.nobs + b.nobs,
        max(a.max_leverage, b.max_leverage),
        a.gradient + b.gradient,
    )


def chunk_pass(result: RegressionResult, X: np.ndarray, Y: np.ndarray, w: Any) -> ResidualPass:
    """The residual pass over one chunk at the result's coefficients."""
    sol = result.solution
    return residual_pass(
        [(X, Y, w)], sol.params, sol.R_x, sol.shift_x, sol.kept, sol.fit_intercept, n_threads=1
    )


def result_of_state(
    state: QRState, like: RegressionResult | None, names: Any, y_ndim: int, **kw: Any
) -> RegressionResult:
    """The result of solving ``state`` (names and shapes as ``like`` when given)."""
    solution = solve_state(state, tuple(names.feature_names), method=kw.pop("method", "qr-state"))
    return RegressionResult.from_solution(
        solution,
        kw.pop("source", None),
        feature_names=tuple(names.feature_names),
        target_names=tuple(names.target_names),
        y_ndim=y_ndim,
        **kw,
    )


def merge(a: Any, b: Any) -> Any:
    """The fit of the union of two fitted models' rows (``olsnet.merge(a, b)``).

    Each model's QR state (kept by ``partial_fit``, else made in one pass over its attached
    rows) is merged by QR of ``[R₁; R₂]``; the merged model equals one fit on all rows up to
    rounding (1e-12 relative on well-conditioned data). When both fits still have their rows,
    the merged result has them too (HC, cluster, influence work); otherwise those need the rows
    again (``partial_residuals`` or ``result_.with_data``).

    Parameters
    ----------
    a, b : LinearRegression
        Fitted on the same columns (names, outputs, intercept).

    Returns
    -------
    LinearRegression
        A new fitted model (``a`` and ``b`` are unchanged).

    Raises
    ------
    DimensionError
        Different columns, outputs or intercepts.
    DataError
        A model without its QR state or rows.
    """
    for m in (a, b):  # duck-typed: this module sits below the estimator
        if not hasattr(m, "_adopt") or not hasattr(m, "result_"):
            raise InputTypeError(f"merge takes fitted LinearRegression models; got {m!r}")
    ra, rb = a.result_, b.result_
    if (ra.feature_names, ra.target_names, ra.fit_intercept, ra.y_ndim) != (
        rb.feature_names,
        rb.target_names,
        rb.fit_intercept,
        rb.y_ndim,
    ):
        raise DimensionError(
            "merge needs fits of the same model: columns "
            f"{ra.feature_names} vs {rb.feature_names}, outputs {ra.target_names} vs "
            f"{rb.target_names}, intercept {ra.fit_intercept} vs {rb.fit_intercept}"
        )
    state = state_of(a).merge(state_of(b))
    both = ra.source is not None and rb.source is not None
    source = ChainSource(ra.source, rb.source) if both else None
    slw = [r.known_sum_log_weights for r in (ra, rb)]
    if source is None and None not in slw:
        known: float | None = float(sum(s for s in slw if s is not None))
    else:
        known = None
    result = result_of_state(
        state, ra, ra, ra.y_ndim, source=source, sum_log_weights=known, method="qr-state (merged)"
    )
    result = replace(result, n_dropped=ra.n_dropped + rb.n_dropped)
    if a.cov_type != "nonrobust" and source is not None:
        result = result.with_cov(a.cov_type)
    merged = type(a)(**a.get_params())
    merged._adopt(result, state)
    return merged
