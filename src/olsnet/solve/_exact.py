"""The exact path: Householder QR plus iterative refinement with extended-precision residuals.

Björck's refinement of the augmented system (Björck 1967; Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., §20.5)::

    [ I   A ] [r]   [b]
    [ Aᵀ  0 ] [x] = [c]

Each step computes the residuals ``f = b - r - A x`` and ``g = c - Aᵀ r`` in extended precision
(``numpy.longdouble``: 64-bit significand on x86-64, IEEE quad on aarch64) and solves for the
correction with the double-precision ``A = QR``. With ``c = 0`` the solution is the least-squares
fit and its residual; with ``b = 0, c = -I`` it is ``(AᵀA)⁻¹``, the unscaled covariance. The
converged result is accurate to about double precision whenever ``cond(A) · eps < 1``, whatever
the size of the residual, which plain QR (error ~ cond² · eps · |r|) is not.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from scipy.linalg import lapack

from ._blas import tpqrt
from ._fold import CHUNK_ROWS as FOLD_CHUNK_ROWS
from ._fold import fold_arrays
from ._gram import scaled_condition
from ._kernels import PANEL, tri_inv, tri_solve
from ._lazy import Deferred
from ._solution import (
    ALIAS_TOL,
    SCALE_FREE_EXP,
    LstsqSolution,
    _embed,
    _unshifted_colnorms,
    decide_rank,
    embedded_cov,
    name_aliased,
    solution_condition,
)
from ._state import augmented_block
from ._thresholds import (
    COV_REFINE_COND,
    GRAM_CLEAN_COND,
    REFINE_MAX_PASSES,
    SSR_CANCELLATION,
)
from ._wide import WIDE_MIN_COLUMNS, aliased_in_order

__all__ = ["EXT", "exact_lstsq", "fast_path_applies", "refine_augmented"]

EXT = np.longdouble
_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny
_SAFE_SQ = 2.0 ** (2 * SCALE_FREE_EXP - 20)  # squared column norms whose sums stay finite
_SAFE_SQ_MIN = 1.0 / _SAFE_SQ
# longdouble wider than double (x86-64, Linux aarch64): residuals in it; else (Windows, macOS on
# Apple silicon) by error-free transformations in double (olsnet.solve._compensated)
USE_LONGDOUBLE = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


def _augmented_correction(
    Q: np.ndarray, R: np.ndarray, f: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve [I A; Aᵀ 0][dr; dx] = [f; g] with A = QR (thin):
    h = R⁻ᵀ g, d = Qᵀ f, dx = R⁻¹ (d - h), dr = f - Q (d - h)."""
    h = tri_solve(R, g, trans=True)
    dh = Q.T @ f - h
    dx = tri_solve(R, dh)
    dr = f - Q @ dh
    return dr, dx


Residuals = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _extended_residuals(A: np.ndarray, b: np.ndarray, c: np.ndarray) -> Residuals:
    """(r, x) -> (b - r - A x, c - Aᵀ r) computed in long double, rounded to double."""
    A_ext, b_ext, c_ext = A.astype(EXT), b.astype(EXT), c.astype(EXT)

    def residuals(r: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = (b_ext - r.astype(EXT) - A_ext @ x.astype(EXT)).astype(np.float64)
        g = (c_ext - A_ext.T @ r.astype(EXT)).astype(np.float64)
        return f, g

    return residuals


def _compensated_residuals(A: np.ndarray, b: np.ndarray, c: np.ndarray) -> Residuals:
    """The same residuals in twice double precision by error-free transformations."""
    from ._compensated import residual_ab, residual_atr

    return lambda r, x: (residual_ab(b, r, A, x), residual_atr(c, A, r))


def refine_augmented(
    A: np.ndarray, Q: np.ndarray, R: np.ndarray, b: np.ndarray, c: np.ndarray, max_iter: int = 12
) -> tuple[np.ndarray, np.ndarray, int]:
    """Refined (x, r, iterations) of the augmented system; A (n, k), b (n, m), c (k, m)."""
    residuals = _extended_residuals(A, b, c) if USE_LONGDOUBLE else _compensated_residuals(A, b, c)
    r, x = _augmented_correction(Q, R, b, c)
    return refinement_loop(
        x, r, lambda x, r: _augmented_correction(Q, R, *residuals(r, x)), max_iter
    )


def refinement_loop(
    x: np.ndarray, r: Any, step: Callable[[np.ndarray, Any], tuple[Any, np.ndarray]], max_iter: int
) -> tuple[np.ndarray, Any, int]:
    """Björck's iteration: ``(dr, dx) = step(x, r)`` until the relative change of x reaches
    eps, stagnates or grows (then the current x, r are kept). Returns (x, r, iterations);
    r may live on a device (``olsnet.solve._device``), x on the host."""
    prev = np.inf
    it = 0
    for i in range(1, max_iter + 1):
        it = i
        dr, dx = step(x, r)
        size = np.max(np.abs(dx) / np.maximum(np.abs(x), np.finfo(np.float64).tiny), initial=0.0)
        if not np.isfinite(size) or size > 0.5 * prev:  # stagnated or diverging: keep current
            break
        x = x + dx
        r = r + dr
        prev = size
        if size <= _EPS:
            break
    return x, r, it


# LAPACK dgeqrf on (n, k) with n·k up to this runs unblocked (k < its block size) and its
# level-2 BLAS calls (at most n x k) stay under OpenBLAS's threading thresholds (8,192 for dger,
# 9,216 for dgemv): the calling thread only. One f2py call costs ~1 µs against ~10 µs for
# dtpqrt through ctypes at (100, 5).
_GEQRF_MAX_ELEMENTS = 8192
_UPPER: dict[int, np.ndarray] = {}


def _upper_mask(k: int) -> np.ndarray:
    """(k, k) ones on and above the diagonal, zeros below (cached per k)."""
    mask = _UPPER.get(k)
    if mask is None:
        mask = _UPPER[k] = np.triu(np.ones((k, k)))
    return mask


def fast_path_applies(
    X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, fit_intercept: bool
) -> bool:
    """Whether :func:`_seminormal_lstsq` may take the fit: extended precision at hand, at least
    twice as many rows as columns of ``[1 X Y]``, every weight positive."""
    n, k = X.shape[0], int(fit_intercept) + X.shape[1] + Y.shape[1]
    return USE_LONGDOUBLE and n >= 2 * k and (w is None or bool((w > 0).all()))


def _seminormal_lstsq(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    fit_intercept: bool,
    names: tuple[str, ...] | None,
    tol: float,
    refine: bool = True,
) -> LstsqSolution | None:
    """The exact path's fast branch for well-conditioned full-rank designs (None otherwise).

    R of the mean-shifted ``√w [1, X - c, Y - c_y]`` by ``dtpqrt`` (no Q; one call up to
    ``FOLD_CHUNK_ROWS`` rows, the blocked fold beyond: every LAPACK call small enough to stay on
    the calling thread), then corrected semi-normal refinement (Björck 1987; Higham §20.5) with
    residuals and ``Aᵀ r`` in extended precision in the user's (unshifted) coordinates:
    ``β += R⁻¹R⁻ᵀ Aᵀ W (y - Aβ)``. For a scaled condition number κ of the shifted ``[1 X]`` up to
    ``COV_REFINE_COND`` (estimated by ``dtrcon``, 1-norm, on the column-scaled R) each step
    contracts the error by ``ρ ≈ (k κ)² eps`` (< 1e-8 here), so the loop stops as soon as the
    next step would move β by less than eps (``size · ρ ≤ eps``), usually after one step, and
    ``R⁻¹R⁻ᵀ`` is accurate to ~κ eps. With ``refine=False`` (``policy="auto"``) QR's answer is
    kept as it is where the normal equations' policy would keep theirs (κ ≤ ``GRAM_CLEAN_COND``,
    TSS/SSR ≤ ``SSR_CANCELLATION``; method "qr"). Designs with an aliased column, a larger κ, or
    columns whose squares leave ``2^±SCALE_FREE_EXP`` return None (the full path handles them);
    so does a non-finite X (the caller's scan then names the cell).
    ``condition_number`` is left deferred (its SVD is made on first read).
    """
    n, p = X.shape
    q = Y.shape[1]
    icpt = int(fit_intercept)
    k_x = icpt + p
    k = k_x + q
    one_chunk = n <= FOLD_CHUNK_ROWS
    if one_chunk:  # dtpqrt (or dgeqrf) on A = √w [1, X - c, Y - c_y] straight away
        A = np.empty((k, n)).T  # (n, k) column-major: its column sums are contiguous reductions
        A[:, icpt:k_x] = X
        A[:, k_x:] = Y
    if w is None:
        sw = float(n)
        if icpt:  # the column means: [c, c_y]
            if one_chunk:
                shift = np.add.reduce(A[:, 1:], axis=0) / sw
            else:
                shift = np.concatenate([np.add.reduce(X, axis=0), np.add.reduce(Y, axis=0)]) / sw
    else:
        sw = float(np.add.reduce(w))
        if icpt:  # weighted means; einsum, not BLAS gemv: no BLAS threads woken
            shift = np.concatenate([np.einsum("i,ij->j", w, X), np.einsum("i,ij->j", w, Y)]) / sw
    if icpt:
        c, cy = shift[:p], shift[p:]
    if one_chunk:
        if icpt:
            np.subtract(A[:, 1:], shift, out=A[:, 1:])
            A[:, 0] = 1.0
        if w is not None:
            A *= np.sqrt(w)[:, None]
        if n * k <= _GEQRF_MAX_ELEMENTS:  # dgeqr2's level-2 calls stay on this thread
            qr, _, _, info = lapack.dgeqrf(A, overwrite_a=1)
            if info != 0:  # pragma: no cover - an illegal argument
                return None
            # the triangle, rows signed so that diag(R) >= 0
            R = qr[:k] * np.copysign(_upper_mask(k), qr.diagonal()[:, None])
        else:
            R = tpqrt(np.zeros((k, k), order="F"), A, 0, min(PANEL, k))  # upper triangle only
            R *= np.copysign(1.0, R.diagonal())[:, None]
    else:
        R = np.triu(fold_arrays(X, Y, w, bool(icpt), shift=shift if icpt else None).R)
        R *= np.copysign(1.0, R.diagonal())[:, None]
    colsq = np.add.reduce(R * R, axis=0)  # squared norms of the shifted columns
    if icpt:  # the unshifted (weighted) sums of squares from R's first row: with r₀ = R[0, 1:],
        # Σw(z - s)² - r₀² = Σw(z - z̄)² and Σw z² = Σw(z - z̄)² + Σw z̄², z̄ = s + r₀ / R₀₀
        r0 = R[0, 1:]
        mean = shift + r0 / R[0, 0]
        cent = colsq[1:] - r0 * r0
        unc = cent + sw * (mean * mean)
        xx = unc[:p]  # of the X columns: the aliasing rule's reference
    else:
        xx = colsq[:k_x]
    # the squares of every column stay far inside float64 (else the scaled full path); NaN or
    # inf in X or y (which make R non-finite) fail this too (NaN fails every comparison). The
    # (k,) checks in Python floats: a fraction of a NumPy call each at these sizes
    xl = xx.tolist()
    if not (
        all(_SAFE_SQ_MIN < v < _SAFE_SQ for v in colsq.tolist()) and all(v < _SAFE_SQ for v in xl)
    ):
        return None
    tol2 = tol * tol  # an aliased column: the full path names it (the intercept is never)
    dx = R.diagonal()[icpt:k_x].tolist()
    if not all(v * v > tol2 * x for v, x in zip(dx, xl, strict=True)):
        return None
    Rx = R[:k_x, :k_x]
    rcond, info = lapack.dtrcon(Rx / np.sqrt(colsq[:k_x]))  # κ₁ of the column-scaled R
    if info != 0 or not rcond * COV_REFINE_COND >= 1.0:
        return None
    rho = min(1.0, (k_x / rcond) ** 2 * _EPS)  # contraction per refinement step
    beta, _ = lapack.dtrtrs(Rx, R[:k_x, k_x:])  # (k_x, q), shifted coordinates
    if icpt:
        beta[0] += cy - c @ beta[1:]  # the user's intercept
        centered, uncentered = cent[p:], unc[p:]
    else:
        uncentered = colsq[k_x:]
        ybar = (np.add.reduce(Y, axis=0) if w is None else np.einsum("i,ij->j", w, Y)) / sw
        dev = Y - ybar
        centered = (
            np.einsum("ij,ij->j", dev, dev) if w is None else np.einsum("i,ij->j", w, dev * dev)
        )
    tss = centered if icpt else uncentered
    ssr = np.add.reduce(R[k_x:, k_x:] ** 2, axis=0)  # Householder QR's own residual norm
    # the accuracy policy of the normal equations (_policy): κ ≤ GRAM_CLEAN_COND and no
    # cancellation (TSS/SSR ≤ SSR_CANCELLATION) keep QR's answer as it is (error about
    # κ eps + κ² eps ‖r‖ / (‖A‖ ‖β‖), below Gram's κ² eps); else (and always for
    # policy="exact") refine in extended precision
    method = "qr"
    cancels = any(
        not t <= SSR_CANCELLATION * r for t, r in zip(tss.tolist(), ssr.tolist(), strict=True)
    )
    if refine or rcond * GRAM_CLEAN_COND < 1.0 or cancels:
        method = "exact"
        if icpt:  # [1 X] in extended precision: residuals and Aᵀ r in one product each
            XL = np.empty((n, k_x), dtype=EXT)
            XL[:, 0] = 1.0
            XL[:, 1:] = X
        else:
            XL = X.astype(EXT)
        wL = None if w is None else w.astype(EXT)
        YL = Y.astype(EXT)
        cL = c.astype(EXT)[:, None] if icpt else None
        prev = np.inf
        for _ in range(REFINE_MAX_PASSES + 2):
            res = YL - XL @ beta.astype(EXT)  # (n, q) in extended precision
            wres = res if wL is None else res * wL[:, None]
            gu = XL.T @ wres  # (k_x, q) [1 X]ᵀ W r
            if icpt:
                g = np.empty((k_x, q))
                g[0] = gu[0]
                g[1:] = gu[1:] - cL * gu[0]  # (X - c)ᵀ W r
            else:
                g = gu.astype(np.float64)
            h, _ = lapack.dtrtrs(Rx, g, trans=1)  # (diag(Rx) > 0: checked by dtrcon above)
            dlt, _ = lapack.dtrtrs(Rx, h)  # R⁻¹R⁻ᵀ g, shifted coordinates
            gd = np.add.reduce(g * dlt, axis=0)  # ||r||² - ||r - A d||²
            if icpt:
                dlt[0] -= c @ dlt[1:]
            size = (np.abs(dlt) / np.maximum(np.abs(beta), _TINY)).max(initial=0.0)
            if not size <= 0.5 * prev:  # not contracting (or not finite): the full path
                return None
            beta += dlt
            prev = size
            if size * rho <= _EPS or size <= _EPS:  # the next step would move β by < eps
                break
        ssr = np.maximum(np.add.reduce(wres * res, axis=0).astype(np.float64) - gd, 0.0)
    Rinv, _ = lapack.dtrtri(Rx)  # upper triangular (Rx's lower part is zero), diag > 0
    if icpt:  # T R⁻¹ with T = [[1, -cᵀ], [0, I]]: the user's coordinates
        Rinv[0] -= c @ Rinv[1:]
    cov = Rinv @ Rinv.T
    # owned, read-only arrays: a result adopts them without copies (inference.result)
    return LstsqSolution(
        params=_frozen(beta),
        cov_unscaled=_frozen(cov),
        ssr=_frozen(ssr),
        centered_tss=_frozen(centered),
        uncentered_tss=_frozen(uncentered),
        nobs=n,
        sum_weights=sw,
        rank=k_x,
        aliased=_frozen(np.zeros(k_x, dtype=bool)),
        fit_intercept=bool(icpt),
        shift_x=_frozen(c if icpt else np.zeros(p)),
        R_x=_frozen(Rx),
        condition_number=Deferred(solution_condition),
        method=method,
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a`` read-only and owning its data (a view is copied): nothing else can write it."""
    if a.base is not None:
        a = a.copy()
    a.setflags(write=False)
    return a


def exact_lstsq(
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    fit_intercept: bool,
    names: tuple[str, ...] | None = None,
    tol: float = ALIAS_TOL,
) -> LstsqSolution:
    """Least squares for data at hand, accurate to about double precision (see module doc)."""
    if w is not None and not (w > 0).all():  # zero-weight rows are not observations (as in R)
        pos = w > 0
        X, Y, w = X[pos], Y[pos], w[pos]
    n, p = X.shape
    q = Y.shape[1]
    k_x = int(fit_intercept) + p
    if fast_path_applies(X, Y, w, fit_intercept):
        with np.errstate(all="ignore"):  # NaN, inf or extreme scales: declined below
            sol = _seminormal_lstsq(X, Y, w, fit_intercept, names, tol)
        if sol is not None:
            return sol
    # No shift here: QR is backward stable on the raw columns, and the refinement then recovers
    # the intercept to full accuracy (a shift would cost the intercept |c_xᵀ β| · eps).
    shift = np.zeros(p + q)
    A_full = augmented_block(X, Y, w, shift, fit_intercept)  # (n, k)
    k = A_full.shape[1]
    if n < k or k_x >= WIDE_MIN_COLUMNS:  # wide: the rank rule on the data, O(n r) a column
        Q_full = None
        Ax = A_full[:, :k_x]
        aliased = aliased_in_order(Ax, np.sqrt(np.einsum("ij,ij->j", Ax, Ax)), tol)
    else:  # one QR with Q: its leading columns are the QR of [1 X] when none is dropped
        Q_full, R_full = np.linalg.qr(A_full)
        signs = np.where(np.diagonal(R_full) < 0, -1.0, 1.0)
        Q_full, R_full = Q_full * signs, R_full * signs[:, None]
        colnorms = _unshifted_colnorms(R_full, shift, fit_intercept)
        aliased, _ = decide_rank(R_full, k_x, colnorms, tol)
    kept = np.flatnonzero(~aliased)
    A = np.ascontiguousarray(A_full[:, kept])
    B = np.ascontiguousarray(A_full[:, k_x:])
    r = kept.size
    if Q_full is not None and r == k_x:  # (Q_full is None on the wide path)
        Q, Rx = np.ascontiguousarray(Q_full[:, :k_x]), np.triu(R_full[:k_x, :k_x])
    else:  # columns dropped (or fewer rows than columns): factor the kept ones afresh
        Q, Rx = np.linalg.qr(A)
        signs = np.where(np.diagonal(Rx) < 0, -1.0, 1.0)
        Q, Rx = Q * signs, Rx * signs[:, None]
    beta, resid, _ = refine_augmented(A, Q, Rx, B, np.zeros((r, q)))
    # R⁻¹R⁻ᵀ is already accurate to ~κ·eps when κ is small; with as many kept columns as rows
    # there are no residual degrees of freedom (the standard errors are not available) either
    if r >= n or scaled_condition(Rx) <= COV_REFINE_COND:
        Rinv = tri_inv(Rx)
        cov = Rinv @ Rinv.T
    else:  # O(n r²) extended-precision work per step: only where it buys digits
        cov, _, _ = refine_augmented(A, Q, Rx, np.zeros((n, r)), -np.eye(r))
    cov = 0.5 * (cov + cov.T)
    ssr = (resid.astype(EXT) ** 2).sum(axis=0).astype(np.float64)
    Yc = B.astype(EXT)  # sqrt(w) (y - c_y)
    sw = n if w is None else float(w.astype(EXT).sum())
    sqw = np.ones(n, dtype=EXT) if w is None else np.sqrt(w.astype(EXT))
    ysum = sqw @ Yc  # Σ w (y - c)
    centered = ((Yc * Yc).sum(axis=0) - ysum * ysum / EXT(sw)).astype(np.float64)
    if fit_intercept:
        ybar_shift = ysum / EXT(sw)
        centered = (((Yc - sqw[:, None] * ybar_shift) ** 2).sum(axis=0)).astype(np.float64)
    Yu = Y.astype(EXT)
    wu = np.ones(n, dtype=EXT) if w is None else w.astype(EXT)
    uncentered = (wu @ (Yu * Yu)).astype(np.float64)
    params = _embed(beta, kept, k_x, 1)  # (no shift here: nothing to unshift)
    # with aliased columns the (k_x, k_x) NaN-padded matrix is made on first read (a wide fit
    # of 10,001 columns would otherwise allocate 800 MB that a caller of coef_ never reads)
    covf: Any = cov if r == k_x else Deferred(partial(embedded_cov, cov))
    name_aliased(aliased, names, fit_intercept)
    return LstsqSolution(
        params=params,
        cov_unscaled=covf,
        ssr=ssr,
        centered_tss=np.maximum(centered, 0.0),
        uncentered_tss=uncentered,
        nobs=n,
        sum_weights=float(sw),
        rank=r,
        aliased=aliased,
        fit_intercept=fit_intercept,
        shift_x=shift[:p].copy(),
        R_x=Rx,
        condition_number=Deferred(solution_condition),
        method="exact",
    )
