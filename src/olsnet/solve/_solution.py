"""From the R factor to coefficients: rank decision, aliased columns, unshifting.

Rank is decided on the final, small R (never on the data): walking the columns of ``[1 X]`` in
order, a column is *aliased* when the part of it orthogonal to the kept columns before it has
norm at most ``ALIAS_TOL`` times the column's own norm (both weighted; the norm is that of the
unshifted column, so a constant column is aliased with the intercept). This is the rule of R's
``lm`` (LINPACK ``dqrdc2``, which uses 1e-7); olsnet's default ``ALIAS_TOL = 1e-10`` is tighter,
because the extended-precision refinement keeps full accuracy down to that level (NIST's Filip,
whose smallest relative diagonal is about 5e-8, is fitted, where R's ``lm`` drops a term).
An aliased column gets a NaN coefficient, NaN covariance entries, is excluded from the rank and
the degrees of freedom, and a warning names it -- never a silent minimum-norm split.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..errors import AliasedColumnWarning
from ._kernels import qr_r, tri_inv, tri_solve
from ._lazy import LazyField
from ._state import QRState

__all__ = ["ALIAS_TOL", "LstsqSolution", "decide_rank", "solve_state"]

ALIAS_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class LstsqSolution:
    """Everything inference needs from a least-squares fit.

    params : (k_x, q), k_x = fit_intercept + p; NaN rows for aliased columns.
    cov_unscaled : (k_x, k_x), ``(Xᵀ W X)⁻¹`` over the kept columns, NaN for aliased ones.
    ssr, centered_tss, uncentered_tss : (q,) weighted sums of squares.
    aliased : (k_x,) bool.
    shift_x : (p,) offsets of the X columns used internally (zeros without intercept).
    R_x : (rank, rank) upper-triangular factor of the kept, shifted, weighted ``[1 X]``.
    condition_number : 2-norm condition number of the weighted ``[1 X]`` (kept columns), as
        statsmodels reports it (no scaling).
    method : how it was computed ("exact", "gram", "gram+refine", "qr-state", ...).

    ``cov_unscaled`` and ``condition_number`` may be given as a
    :class:`~olsnet.solve._lazy.Deferred` (made on first read: the fast path and wide fits
    leave them so, see :mod:`olsnet.solve._lazy`).
    """

    params: np.ndarray
    ssr: np.ndarray
    centered_tss: np.ndarray
    uncentered_tss: np.ndarray
    nobs: int
    sum_weights: float
    rank: int
    aliased: np.ndarray
    fit_intercept: bool
    shift_x: np.ndarray
    R_x: np.ndarray
    method: str
    # (last: a descriptor default, though required; made on first read when given a Deferred)
    cov_unscaled: LazyField[np.ndarray] = LazyField()  # noqa: RUF009
    condition_number: LazyField[float] = LazyField()  # noqa: RUF009

    @property
    def n_features(self) -> int:
        return int(self.params.shape[0] - int(self.fit_intercept))

    @property
    def n_outputs(self) -> int:
        return int(self.params.shape[1])

    @property
    def kept(self) -> np.ndarray:
        return np.flatnonzero(~self.aliased)

    @property
    def df_resid(self) -> float:
        return float(self.nobs - self.rank)


def _unshifted_colnorms(R: np.ndarray, shift: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """Weighted norms of the unshifted columns [1, X, Y] from R of the shifted ones."""
    sq = (R * R).sum(axis=0)
    if not fit_intercept:
        return np.sqrt(sq)
    r00 = R[0, 0]
    c = np.concatenate([[0.0], shift])
    # ||z||² = ||z - c||² + 2 c Σw(z - c) + c² Σw, with Σw(z - c) = R00 R0j and Σw = R00²
    full = sq + 2.0 * c * r00 * R[0] + c * c * r00 * r00
    return np.sqrt(np.maximum(full, sq))


def decide_rank(
    R: np.ndarray, k_x: int, colnorms: np.ndarray, tol: float = ALIAS_TOL
) -> tuple[np.ndarray, np.ndarray]:
    """Walk the first k_x columns of R; return (aliased mask (k_x,), R of kept + trailing columns).

    Aliased columns are removed and R re-triangularized (QR of the remaining columns of R is
    the R factor of the remaining columns of the data), as ``dqrdc2`` moves them to the end.
    """
    aliased = np.zeros(k_x, dtype=bool)
    cols = list(range(R.shape[1]))
    Rw = R
    j = 0
    while j < len(cols) and cols[j] < k_x:
        c = cols[j]
        if colnorms[c] == 0.0 or abs(Rw[j, j]) <= tol * colnorms[c]:
            aliased[c] = True
            cols.pop(j)
            Rw = qr_r(np.delete(Rw, j, axis=1))
        else:
            j += 1
    return aliased, Rw


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../olsnet


def _user_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` called from the caller of this function that points
    at the first frame outside olsnet (the user's line), however deep the library's path."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def name_aliased(aliased: np.ndarray, names: tuple[str, ...] | None, fit_intercept: bool) -> None:
    """Warn, naming each aliased column (the warning points at the user's line)."""
    for c in np.flatnonzero(aliased):
        if fit_intercept and c == 0:
            label = "Intercept"
        else:
            j = c - int(fit_intercept)
            label = names[j] if names is not None and j < len(names) else f"x{j + 1}"
        warnings.warn(
            f"column {label!r} is a linear combination of the columns before it (aliased); its "
            "coefficient is NaN and it is not counted in the rank or degrees of freedom",
            AliasedColumnWarning,
            stacklevel=_user_stacklevel(),
        )


def unshift(
    params: np.ndarray,
    cov: np.ndarray,
    shift_x: np.ndarray,
    shift_y: np.ndarray,
    fit_intercept: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and covariance of the shifted problem -> the user's (unshifted) problem.

    With intercept b0' for ``y - c_y = b0' + (X - c_x) β``: ``b0 = b0' + c_y - c_xᵀ β`` and
    ``cov = M cov' Mᵀ`` with ``M = [[1, -c_xᵀ], [0, I]]`` (aliased β treated as 0).
    """
    if not fit_intercept or not np.any(shift_x):  # nothing to move (the exact path)
        return params, cov
    beta = np.where(np.isnan(params[1:]), 0.0, params[1:])
    out = params.copy()
    out[0] = params[0] + shift_y - shift_x @ beta
    M = np.eye(cov.shape[0])
    M[0, 1:] = -shift_x
    covz = np.where(np.isnan(cov), 0.0, cov)
    cov_out = M @ covz @ M.T
    cov_out[np.isnan(cov)] = np.nan
    return out, cov_out


def _embed(values: np.ndarray, kept: np.ndarray, k_x: int, axis_count: int) -> np.ndarray:
    if axis_count == 1:
        out = np.full((k_x, *values.shape[1:]), np.nan)
        out[kept] = values
        return out
    out = np.full((k_x, k_x), np.nan)
    out[np.ix_(kept, kept)] = values
    return out


def solution_condition(sol: LstsqSolution) -> float:
    """``condition_number_of`` the solution's own factor (a deferred ``condition_number``)."""
    return condition_number_of(sol.R_x, sol.shift_x, sol.fit_intercept, sol.kept)


def embedded_cov(cov_kept: np.ndarray, sol: LstsqSolution) -> np.ndarray:
    """(k_x, k_x) ``cov_unscaled`` from its kept block (r, r): NaN rows and columns for aliased
    columns (a deferred ``cov_unscaled``: ``functools.partial(embedded_cov, cov_kept)``)."""
    return _embed(cov_kept, sol.kept, sol.params.shape[0], 2)


def condition_number_of(
    R_x: np.ndarray, shift_x: np.ndarray, fit_intercept: bool, kept: np.ndarray
) -> float:
    """2-norm condition number of the unshifted weighted [1 X] (kept columns), from its R."""
    if R_x.size == 0:
        return float("nan")
    Ru = R_x
    if fit_intercept and kept.size and kept[0] == 0:
        T = np.eye(R_x.shape[0])
        T[0, 1:] = shift_x[kept[1:] - 1]
        Ru = R_x @ T
    s = np.linalg.svd(Ru, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


# Column maxima within [2^-SCALE_FREE_EXP, 2^SCALE_FREE_EXP] square (and sum over any n) well
# inside float64's range; beyond, columns are scaled by powers of two (exact) first.
SCALE_FREE_EXP = 200


def pow2_column_scales(M: np.ndarray) -> np.ndarray | None:
    """Binary exponents ``e`` (m,) such that ``M_j 2^-e_j`` has its largest magnitude in
    [0.5, 1), or None when every column is already within ``2^±SCALE_FREE_EXP`` (nothing to
    do). Reductions only (no BLAS); ``np.ldexp`` by ``-e`` is exact (denormals become normal)."""
    if M.size == 0:
        return None
    amax = np.maximum(M.max(axis=0), -M.min(axis=0))
    amax[~(amax > 0)] = 1.0
    _, e = np.frexp(amax)
    if np.all(np.abs(e) <= SCALE_FREE_EXP):
        return None
    return e


def unscale_solution(
    sol: LstsqSolution, e_x: np.ndarray | None, e_y: np.ndarray | None
) -> LstsqSolution:
    """The solution for columns ``X_j 2^-e_j``, ``Y_l 2^-f_l`` back in the user's units, exactly
    (``np.ldexp``): ``β_jl = β'_jl 2^(f_l - e_j)``, ``(XᵀWX)⁻¹_ij = (X'ᵀWX')⁻¹_ij 2^-(e_i + e_j)``,
    sums of squares times ``2^(2 f_l)``, ``R_x 2^e``. Values beyond float64's range (the
    variance of a coefficient of a column of 1e-300, say) become inf, as they must."""
    icpt = int(sol.fit_intercept)
    p, q = sol.n_features, sol.n_outputs
    ex = np.zeros(icpt + p, dtype=int)
    if e_x is not None:
        ex[icpt:] = e_x
    ey = np.zeros(q, dtype=int) if e_y is None else e_y
    kept = sol.kept
    with np.errstate(over="ignore"):
        params = np.ldexp(sol.params, ey[None, :] - ex[:, None])
        cov = np.ldexp(sol.cov_unscaled, -(ex[:, None] + ex[None, :]))
        R_x = np.ldexp(sol.R_x, ex[kept][None, :])
        shift_x = sol.shift_x if e_x is None else np.ldexp(sol.shift_x, e_x)
        ssr, ctss, utss = (
            np.ldexp(v, 2 * ey) for v in (sol.ssr, sol.centered_tss, sol.uncentered_tss)
        )
    return replace(
        sol,
        params=params,
        cov_unscaled=cov,
        ssr=ssr,
        centered_tss=ctss,
        uncentered_tss=utss,
        shift_x=shift_x,
        R_x=R_x,
        condition_number=condition_number_of(R_x, shift_x, sol.fit_intercept, kept),
    )


def solve_state(
    state: QRState,
    names: tuple[str, ...] | None = None,
    tol: float = ALIAS_TOL,
    method: str = "qr-state",
    warn: bool = True,
) -> LstsqSolution:
    """Solve the least-squares problem whose sufficient statistic is ``state``; ``warn=False``
    leaves the aliased-column warning to the caller (``name_aliased``).

    Columns of R whose magnitudes leave ``2^±SCALE_FREE_EXP`` (data scaled by 1e±160, say, or
    denormal) are scaled by powers of two first (exact), so nothing squared over- or
    underflows, and the solution is scaled back exactly (:func:`unscale_solution`).
    """
    e = pow2_column_scales(state.R)
    if e is not None:
        p, icpt = state.n_features, int(state.fit_intercept)
        if icpt:
            e[0] = 0  # the intercept's column keeps its units
        e_x, e_y = e[icpt : icpt + p], e[icpt + p :]
        scaled = replace(
            state,
            R=np.ldexp(state.R, -e[None, :]),
            shift=None if state.shift is None else np.ldexp(state.shift, -e[icpt:]),
            zsum=None if state.zsum is None else np.ldexp(state.zsum, -e[icpt:]),
        )
        sol = _solve_state(scaled, names, tol, method, warn)
        return unscale_solution(sol, e_x, e_y)
    return _solve_state(state, names, tol, method, warn)


def _solve_state(
    state: QRState, names: tuple[str, ...] | None, tol: float, method: str, warn: bool
) -> LstsqSolution:
    p, q, icpt = state.n_features, state.n_outputs, state.fit_intercept
    k_x = int(icpt) + p
    shift = state.shift if state.shift is not None else np.zeros(p + q)
    R = state.R
    colnorms = _unshifted_colnorms(R, shift, icpt)
    aliased, Rk = decide_rank(R, k_x, colnorms, tol)
    kept = np.flatnonzero(~aliased)
    r = kept.size
    R_x, R_xy, R_yy = Rk[:r, :r], Rk[:r, r:], Rk[r:, r:]
    if r:
        beta = tri_solve(R_x, R_xy)  # (r, q)
        Rinv = tri_inv(R_x)
        cov = Rinv @ Rinv.T
    else:
        beta, cov = np.zeros((0, q)), np.zeros((0, 0))
    ssr = (R_yy * R_yy).sum(axis=0)
    ycols = R[:, k_x:]
    uncentered_shifted = (ycols * ycols).sum(axis=0)
    sw = state.sum_weights
    zsum_y = state.zsum[p:] if state.zsum is not None else np.zeros(q)
    shift_y = shift[p:]
    # Σw y² = Σw (y - c)² + 2c Σw (y - c) + c² Σw
    uncentered = uncentered_shifted + 2 * shift_y * zsum_y + shift_y**2 * sw
    centered = uncentered_shifted - zsum_y**2 / sw if sw > 0 else np.zeros(q)
    if icpt:
        centered = (R[1:, k_x:] ** 2).sum(axis=0)
    params = _embed(beta, kept, k_x, 1)
    covf = _embed(cov, kept, k_x, 2)
    params, covf = unshift(params, covf, shift[:p], shift_y, icpt)
    if warn:
        name_aliased(aliased, names, icpt)
    return LstsqSolution(
        params=params,
        cov_unscaled=covf,
        ssr=ssr,
        centered_tss=np.maximum(centered, 0.0),
        uncentered_tss=uncentered,
        nobs=state.nobs,
        sum_weights=sw,
        rank=r,
        aliased=aliased,
        fit_intercept=icpt,
        shift_x=shift[:p].copy(),
        R_x=R_x,
        condition_number=condition_number_of(R_x, shift[:p], icpt, kept),
        method=method,
    )
