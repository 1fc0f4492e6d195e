"""The accuracy policy: which path computes a fit, and when a second pass is worth its cost.

The thresholds named here live in ``olsnet.solve._thresholds``, with the measurements behind them.

* ``"exact"`` -- Householder QR plus extended-precision refinement (``_exact``): full double
  accuracy for any design with ``cond · eps < 1``. Chosen by ``"auto"`` for problems up to
  ``EXACT_AUTO_MAX_ELEMENTS`` entries of ``[1 X Y]`` (and for wide ones), where its
  extended-precision passes are cheap.
* ``"fast"`` -- normal equations by cache-sized blocks (``_gram``), checked: the condition number
  ``κ`` of the column-scaled R decides. ``κ ≤ GRAM_CLEAN_COND``: accepted as is (error about
  ``κ² eps``). Up to ``GRAM_MAX_COND``: corrected semi-normal refinement passes over the data
  (``r = y - Xβ``, ``β += R⁻¹R⁻ᵀ Xᵀ W r``) until the step is at rounding level; the same pass gives
  the residual sum of squares directly, which also fixes the cancellation of ``yᵀy - βᵀXᵀy``
  when R² is close to 1. Above ``GRAM_MAX_COND``, or when the Gram matrix is not positive
  definite (aliased columns), the fit falls back to the blocked QR state plus the same passes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._types import SOLVER_POLICIES, check_option
from .._validate import check_finite
from ._exact import _seminormal_lstsq, exact_lstsq, fast_path_applies
from ._gram import BLOCK_ROWS, gram_state, scaled_condition
from ._kernels import tri_solve
from ._solution import (
    ALIAS_TOL,
    SCALE_FREE_EXP,
    LstsqSolution,
    name_aliased,
    pow2_column_scales,
    solve_state,
    unscale_solution,
)
from ._state import QRState
from ._thresholds import (
    EXACT_AUTO_MAX_ELEMENTS,
    EXACT_MAX_ELEMENTS,
    GRAM_CLEAN_COND,
    GRAM_MAX_COND,
    REFINE_MAX_PASSES,
    SSR_CANCELLATION,
)

__all__ = ["EXACT_MAX_ELEMENTS", "lstsq", "qr_state"]

QR_BLOCK_ROWS = 16384


def qr_state(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    fit_intercept: bool,
    block_rows: int = QR_BLOCK_ROWS,
) -> QRState:
    """QR state by Householder QR of row blocks (bounded memory), merged in order."""
    state = QRState.empty(X.shape[1], Y.shape[1], fit_intercept)
    for start in range(0, X.shape[0], block_rows):
        sl = slice(start, min(start + block_rows, X.shape[0]))
        state = state.fold(X[sl], Y[sl], None if w is None else w[sl])
    return state


def _scaled(M: np.ndarray, e: np.ndarray | None) -> np.ndarray:
    return M if e is None else np.ldexp(M, -e)


def _extreme(state: QRState | None) -> bool:
    """Whether a Gram state failed or its diagonal left the range where squares are safe."""
    if state is None:
        return True
    d = np.abs(np.diagonal(state.R))
    if not np.isfinite(d).all():
        return True
    d = d[d > 0]
    lim = 2.0 ** (2 * SCALE_FREE_EXP)
    return bool(d.size and (d.max() > lim or d.min() < 1.0 / lim))


def _refine_passes(
    sol: LstsqSolution,
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    max_passes: int = REFINE_MAX_PASSES,
) -> LstsqSolution:
    """Corrected semi-normal refinement over the data (see module doc); also returns the SSR."""
    kept = sol.kept
    icpt = sol.fit_intercept
    beta = np.nan_to_num(sol.params)  # (k_x, q), the user's (unshifted) coordinates
    R = sol.R_x  # factor of the kept, *shifted* columns: corrections are solved there
    xk = kept[1:] - 1 if icpt else kept  # kept X columns
    c = sol.shift_x[xk]  # (r_x,)
    all_x = xk.size == X.shape[1]
    ssr = sol.ssr
    prev = np.inf
    step = BLOCK_ROWS * 4
    for _ in range(max_passes):
        g = np.zeros((kept.size, Y.shape[1]))  # Xᵀ W r in shifted coordinates
        ssr_pass = np.zeros(Y.shape[1])
        for start in range(0, X.shape[0], step):
            sl = slice(start, min(start + step, X.shape[0]))
            Xb = X[sl] if all_x else X[sl][:, xk]  # (b, r_x)
            r = Y[sl] - Xb @ beta[xk + int(icpt)]  # (b, q)
            if icpt:
                r -= beta[0]
            wr = r if w is None else r * w[sl][:, None]
            ssr_pass += (wr * r).sum(axis=0)
            if icpt:
                s0 = wr.sum(axis=0)
                g[0] += s0
                g[1:] += Xb.T @ wr - np.outer(c, s0)
            else:
                g += Xb.T @ wr
        d = tri_solve(R, tri_solve(R, g, trans=True))  # (rank, q) = (AᵀWA)⁻¹ Aᵀ W r, shifted
        ssr = np.maximum(ssr_pass - (g * d).sum(axis=0), 0.0)  # ||r - A d||² = ||r||² - gᵀd
        if icpt:
            d[0] -= c @ d[1:]  # back to the user's intercept
        beta[kept] += d
        size = np.max(np.abs(d) / np.maximum(np.abs(beta[kept]), np.finfo(float).tiny), initial=0)
        if size <= 4 * np.finfo(float).eps or size > 0.5 * prev:
            break
        prev = size
    params = beta.copy()
    params[sol.aliased] = np.nan
    return replace(sol, params=params, ssr=ssr, method=sol.method + "+refine")


# rows whose means decide whether the Gram pass is shifted (_offset_shift)
OFFSET_HEAD_ROWS = 4096


def _offset_shift(X: np.ndarray, Y: np.ndarray, fit_intercept: bool) -> np.ndarray | None:
    """A shift for the Gram pass: the means of the first rows of ``[X Y]`` when some column of
    X there lies farther from 0 than its spread, else None.

    Columns with offsets make the unshifted Gram matrix ill-conditioned (its scaled condition
    above ``GRAM_CLEAN_COND``), which took a second, shifted pass over X; shifted by these
    means the one pass is clean (any shift is exact: the solution is unshifted after). Centred
    columns keep the pass without a copy of X. NaN or inf there give no shift (the scan after
    the pass names them).
    """
    if not fit_intercept or X.shape[0] == 0 or X.shape[1] == 0:
        return None
    head = X[:OFFSET_HEAD_ROWS]
    with np.errstate(all="ignore"):
        mean = head.mean(axis=0)
        offset = np.abs(mean) > head.std(axis=0)
        if not np.any(offset) or not np.isfinite(mean).all():
            return None
        y_mean = Y[:OFFSET_HEAD_ROWS].mean(axis=0)
    if not np.isfinite(y_mean).all():
        return None
    return np.concatenate([mean, y_mean])


def lstsq(
    X: np.ndarray,
    Y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    fit_intercept: bool = True,
    names: tuple[str, ...] | None = None,
    policy: str = "auto",
    tol: float = ALIAS_TOL,
    check_finite_X: bool = True,
) -> LstsqSolution:
    """Weighted least squares of Y (n, q) on X (n, p), by the accuracy policy (module doc).

    Inputs must already be checked (see ``olsnet.data.as_design``), except possibly for NaN or
    inf in X: with ``check_finite_X`` the scan is done here, for free on the fast path (a
    non-finite Gram matrix triggers the scan that names the column and row). Zero-weight rows
    are not observations: they are excluded from ``nobs`` and the degrees of freedom, as in R.
    """
    check_option("policy", policy, SOLVER_POLICIES)
    n, p = X.shape
    k = int(fit_intercept) + p + Y.shape[1]
    # fewer rows than columns (wide data): the exact path, whose rank rule runs on the data
    if policy == "exact" or (policy == "auto" and (n * k <= EXACT_AUTO_MAX_ELEMENTS or n < k)):
        if fast_path_applies(X, Y, sample_weight, fit_intercept):
            with np.errstate(all="ignore"):  # NaN, inf or extreme scales: declined, see below
                sol = _seminormal_lstsq(
                    X, Y, sample_weight, fit_intercept, names, tol, refine=policy == "exact"
                )
            if sol is not None:  # else: aliased, ill-conditioned, extreme scales or not finite
                return sol
        if check_finite_X:
            check_finite(X, "X", names)
        s_x, s_y = pow2_column_scales(X), pow2_column_scales(Y)  # binary exponents
        if s_x is None and s_y is None:
            return exact_lstsq(X, Y, sample_weight, fit_intercept, names, tol)
        Xs, Ys = _scaled(X, s_x), _scaled(Y, s_y)
        return unscale_solution(
            exact_lstsq(Xs, Ys, sample_weight, fit_intercept, names, tol), s_x, s_y
        )
    state = gram_state(X, Y, sample_weight, fit_intercept, shift=_offset_shift(X, Y, fit_intercept))
    if check_finite_X and (state is None or not np.isfinite(state.R).all()):
        check_finite(X, "X", names)
    if _extreme(state):  # squares over- or underflow: the same fit on power-of-two scaled columns
        s_x, s_y = pow2_column_scales(X), pow2_column_scales(Y)
        if s_x is not None or s_y is not None:
            sol = lstsq(
                _scaled(X, s_x), _scaled(Y, s_y), sample_weight, fit_intercept, names, policy,
                tol, check_finite_X=False,
            )  # fmt: skip
            return unscale_solution(sol, s_x, s_y)
    if state is not None and fit_intercept:
        R = state.R[:, : int(fit_intercept) + p]
        if scaled_condition(R[: R.shape[1]]) > GRAM_CLEAN_COND:
            # offsets may be what makes it ill-conditioned: shift by the weighted means
            means = np.asarray(state.zsum) / state.sum_weights  # of the shifted columns
            if state.shift is not None:
                means = means + state.shift
            state = gram_state(X, Y, sample_weight, fit_intercept, shift=means)
    if state is not None:
        # the aliased-column warning is given only once this path is kept (no catch_warnings:
        # it changes process-global state and loses other threads' warnings)
        sol = solve_state(state, names, tol, method="gram", warn=False)
        kappa = scaled_condition(sol.R_x)
        if kappa <= GRAM_MAX_COND or policy == "fast":
            name_aliased(sol.aliased, names, fit_intercept)
            ratio = np.max(sol.centered_tss / np.maximum(sol.ssr, np.finfo(float).tiny))
            if kappa > GRAM_CLEAN_COND or ratio > SSR_CANCELLATION:
                sol = _refine_passes(sol, X, Y, sample_weight)
            return sol
    sol = solve_state(qr_state(X, Y, sample_weight, fit_intercept), names, tol, method="qr-blocks")
    return _refine_passes(sol, X, Y, sample_weight)
