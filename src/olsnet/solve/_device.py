"""Exact least squares where the data are: torch tensors (CPU or CUDA) and CuPy arrays.

The same accuracy policy as :mod:`olsnet.solve._policy`, with every pass over the rows run on
the data's device through the array API (``array-api-compat``, as scikit-learn does) and only
(k, k)-sized matrices moved to the host, where the small factorizations, the rank decision and
the statistics are those of the NumPy path (k = intercept + p + q):

* ``"exact"`` (and ``"auto"`` up to ``EXACT_MAX_ELEMENTS`` entries): Householder QR of
  ``[1 X Y]`` (``linalg.qr`` on the device; designs of at most ``EXACT_MAX_ELEMENTS`` entries
  are factored by the host's LAPACK, see :func:`_signed_qr`), then Björck's refinement of the
  augmented system
  (see :mod:`olsnet.solve._exact`) with its residuals ``b - r - A x`` and ``c - Aᵀ r``
  accumulated in double-double on the device: every product split exactly by TwoProduct and
  every sum by TwoSum (Ogita, Rump & Oishi 2005; the same transformations as
  :mod:`olsnet.solve._compensated`, vectorized over row blocks).
* ``"fast"`` (and ``"auto"`` above that size): the Gram matrix ``AᵀA`` by two matrix products on
  the device, its Cholesky factor on the host, checked by the condition number of the scaled R:
  accepted as is up to ``GRAM_CLEAN_COND``, refined by corrected semi-normal passes (residuals
  in double-double on the device) up to ``GRAM_MAX_COND``, else replaced by the R of a blocked
  Householder QR on the device plus the same passes.

Inputs must already be float64 arrays of one namespace on one device, checked for shape and
NaN (``olsnet.data._device``). Results come back as NumPy (:class:`LstsqSolution`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._types import SOLVER_POLICIES, check_option
from ..errors import DeviceMemoryError
from ._compensated import _two_prod, _two_sum
from ._exact import refinement_loop
from ._gram import scaled_condition
from ._kernels import GramNotDefinite, gram_to_r, qr_r
from ._solution import (
    ALIAS_TOL,
    LstsqSolution,
    _embed,
    _unshifted_colnorms,
    condition_number_of,
    decide_rank,
    name_aliased,
    solve_state,
)
from ._state import QRState
from ._thresholds import (
    COV_REFINE_COND,
    EXACT_MAX_ELEMENTS,
    GRAM_CLEAN_COND,
    GRAM_MAX_COND,
    REFINE_MAX_PASSES,
    SSR_CANCELLATION,
)

__all__ = ["DEVICE_BLOCK_ROWS", "device_lstsq", "device_state", "to_host"]

# Rows per block wherever a pass needs a temporary the size of its rows (the weighted or shifted
# [1 X Y], double-double products): 2**20 rows of 100 columns are 0.8 GB, a small share of a
# GPU's memory, and long enough that each kernel runs far past its launch cost.
DEVICE_BLOCK_ROWS = 1 << 20
_EPS = float(np.finfo(np.float64).eps)
_GIB = float(1 << 30)


def to_host(a: Any) -> np.ndarray:
    """A device array as a NumPy float64 array (a copy from the device; small arrays only)."""
    if isinstance(a, np.ndarray):
        return a
    mod = type(a).__module__.split(".")[0]
    if mod == "torch":
        return a.detach().cpu().numpy()
    if mod == "cupy":
        return a.get()
    return np.asarray(a)


def _blocks(n: int, rows: int = DEVICE_BLOCK_ROWS) -> Iterator[slice]:
    for start in range(0, n, rows):
        yield slice(start, min(start + rows, n))


# -- out of device memory ------------------------------------------------------------------------


def _is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError, cupy's OutOfMemoryError, or a backend's own wording of it."""
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


@contextmanager
def _memory(stage: str, workspace_bytes: float, data_bytes: float) -> Iterator[None]:
    """Turn the backend's out-of-memory error into :class:`DeviceMemoryError` with the sizes."""
    try:
        yield
    except Exception as exc:
        if not _is_out_of_memory(exc):
            raise
        raise DeviceMemoryError(
            f"out of device memory in {stage}: this step needs about "
            f"{workspace_bytes / _GIB:.2f} GiB of device memory on top of the data's "
            f"{data_bytes / _GIB:.2f} GiB ({exc}). Free device memory, pass policy='fast' (its "
            "passes need one row block at a time), or fit from host memory, where the rows are "
            "folded in bounded blocks: LinearRegression().fit(X.cpu().numpy(), y) for an array, "
            "olsnet.read(path) to stream files"
        ) from exc


# -- double-double kernels on the device ---------------------------------------------------------


def _dd_sum0(xp: Any, V: Any) -> tuple[Any, Any]:
    """Pairwise TwoSum over axis 0 of V (m, c): (s, e) with Σ V = s + e to about eps² (c,)."""
    err = xp.zeros(V.shape[1:], dtype=V.dtype, device=V.device)
    while V.shape[0] > 1:
        half = V.shape[0] // 2
        s, e = _two_sum(V[:half, ...], V[half : 2 * half, ...])
        err = err + xp.sum(e, axis=0)
        V = xp.concat([s, V[2 * half :, ...]], axis=0) if V.shape[0] % 2 else s
    return V[0, ...], err


def _dd_residual(xp: Any, b: Any, r: Any | None, A: Any, x: Any, x0: Any | None = None) -> Any:
    """``b - r - A x - x0`` (n, m) for A (n, k), x (k, m), x0 (m,) or None, in double-double.

    Each product ``A[i, j] x[j, l]`` is split exactly (TwoProduct) and each row's sum over j is
    taken pairwise by TwoSum; the error terms are summed on the side and added back once.
    """
    out = []
    for lcol in range(b.shape[1]):
        P, E = _two_prod(A, x[:, lcol][None, :])  # (n, k) each: A x = Σ_j (P + E)
        s, e = _dd_sum0(xp, P.T)  # (n,), (n,)
        err = e + xp.sum(E, axis=1)
        t, e1 = _two_sum(b[:, lcol], -s)
        if r is not None:
            t, e2 = _two_sum(t, -r[:, lcol])
            e1 = e1 + e2
        if x0 is not None:
            t, e3 = _two_sum(t, -x0[lcol])
            e1 = e1 + e3
        out.append(t + (e1 - err))
    return xp.stack(out, axis=1)


def _dd_colsum_pair(xp: Any, blocks: Iterator[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Σ over rows of the (b, c) blocks as an unevaluated pair (s, e) of NumPy (c,) arrays,
    s + e accurate as in double-double."""
    S = E = None
    for V in blocks:
        s, e = _dd_sum0(xp, V)
        if S is None:
            S, E = s, e
        else:
            S, e2 = _two_sum(S, s)
            E = E + e + e2
    if S is None or E is None:
        raise ValueError("no rows to sum")
    return to_host(S), to_host(E)


def _dd_colsum(xp: Any, blocks: Iterator[Any]) -> np.ndarray:
    """Σ over rows of the (b, c) blocks, accurate as in double-double, rounded: NumPy (c,)."""
    s, e = _dd_colsum_pair(xp, blocks)
    return s + e


def _dd_atr(xp: Any, c: np.ndarray, A: Any, r: Any) -> np.ndarray:
    """``c - Aᵀ r`` (k, m) for A (n, k), r (n, m) in double-double; c and the result on the host."""
    out = np.empty_like(c)
    n, k = A.shape
    for lcol in range(r.shape[1]):

        def products(lc: int = lcol) -> Iterator[Any]:
            for sl in _blocks(n):
                P, E = _two_prod(A[sl, :], r[sl, lc][:, None])  # (b, k) each: A r = Σ (P + E)
                yield xp.concat([P, E], axis=1)  # the row sums of both at once: (2k,)

        s, e = _dd_colsum_pair(xp, products())
        # c - (ΣP + ΣE) with ΣP = s[:k] + e[:k] and ΣE = s[k:] + e[k:] (small: no rounding issue)
        t, e1 = _two_sum(c[:, lcol], -s[:k])
        out[:, lcol] = t + (e1 - e[:k] - s[k:] - e[k:])
    return out


# -- the normal-equations fast path --------------------------------------------------------------


def _augmented(xp: Any, X: Any, Y: Any, w: Any | None, shift: np.ndarray | None, icpt: bool) -> Any:
    """sqrt(w) [1, X - c_x, Y - c_y] (b, k) as a new device array."""
    b, p = X.shape
    dev = X.device
    parts = [xp.ones((b, 1), dtype=X.dtype, device=dev)] if icpt else []
    if shift is None:
        parts += [X, Y]
    else:
        c = xp.asarray(shift, dtype=X.dtype, device=dev)
        parts += [X - c[None, :p], Y - c[None, p:]]
    A = xp.concat(parts, axis=1)
    return A if w is None else A * xp.sqrt(w)[:, None]


def _gram(xp: Any, X: Any, Y: Any, w: Any | None, shift: np.ndarray | None, icpt: bool) -> Any:
    """G = AᵀA (k, k) for A = sqrt(w) [1, X - c_x, Y - c_y], as NumPy.

    Unweighted and unshifted: two products over X in place, ``XᵀX`` and ``Xᵀ[1 Y]`` (no copy of
    X); otherwise the augmented rows are built and multiplied one row block at a time.
    """
    n, p = X.shape
    q = Y.shape[1]
    k0 = int(icpt)
    k = k0 + p + q
    if w is None and shift is None:
        ones = xp.ones((n, 1), dtype=X.dtype, device=X.device)
        O1 = xp.concat([ones, Y], axis=1) if icpt else Y  # (n, k0 + q) = [1, Y]
        Gxx, Gxo, Goo = to_host(X.T @ X), to_host(X.T @ O1), to_host(O1.T @ O1)
        G = np.empty((k, k))
        xs = slice(k0, k0 + p)
        os_ = np.r_[0:k0, k0 + p : k]  # positions of [1, Y] in G
        G[xs, xs] = Gxx
        G[xs, os_] = Gxo
        G[np.ix_(os_, os_)] = Goo
        G[os_, xs] = Gxo.T
        return G
    Gd = xp.zeros((k, k), dtype=X.dtype, device=X.device)
    for sl in _blocks(n):
        A = _augmented(xp, X[sl, :], Y[sl, :], None if w is None else w[sl], shift, icpt)
        Gd = Gd + A.T @ A
    return to_host(Gd)


def _gram_state(
    xp: Any, X: Any, Y: Any, w: Any | None, icpt: bool, shift: np.ndarray | None = None
) -> QRState | None:
    n, p = X.shape
    q = Y.shape[1]
    G = _gram(xp, X, Y, w, shift if icpt else None, icpt)
    if not np.isfinite(G).all():
        return None
    if icpt:
        zsum = G[0, 1:].copy()  # Σ w z: the first row of G
    else:
        zsum = np.concatenate([np.zeros(p), to_host(xp.sum(Y, axis=0) if w is None else w @ Y)])
    try:  # Cholesky after an exact power-of-two scaling; the caller checks the condition
        R = gram_to_r(G, min_diag=0.0)
    except GramNotDefinite:
        return None
    nobs = n if w is None else int(to_host(xp.sum(xp.astype(w > 0, xp.int64))))
    sw = float(n) if w is None else float(to_host(xp.sum(w)))
    c = np.zeros(p + q) if shift is None or not icpt else np.asarray(shift, dtype=np.float64)
    return QRState(R, c, p, q, icpt, nobs, sw, zsum)


def _qr_r(xp: Any, A: Any) -> Any:
    """R alone of A's Householder QR: the library's own R-only mode where it has one (the
    array API's ``linalg.qr`` always forms Q, which costs as much again)."""
    lib = type(A).__module__.split(".")[0]
    if lib == "torch":
        import torch

        return torch.linalg.qr(A, mode="r")[1]
    if lib == "cupy":
        import cupy

        return cupy.linalg.qr(A, mode="r")
    return xp.linalg.qr(A)[1]


def _qr_state(xp: Any, X: Any, Y: Any, w: Any | None, icpt: bool) -> QRState:
    """R of the unshifted [1 X Y] by Householder QR of ``[R; block]``, one row block at a time."""
    n, p = X.shape
    q = Y.shape[1]
    k = int(icpt) + p + q
    R = xp.zeros((0, k), dtype=X.dtype, device=X.device)
    zsum = xp.zeros((p + q,), dtype=X.dtype, device=X.device)
    for sl in _blocks(n):
        wb = None if w is None else w[sl]
        A = _augmented(xp, X[sl, :], Y[sl, :], wb, None, icpt)
        Z = xp.concat([X[sl, :], Y[sl, :]], axis=1)
        zsum = zsum + (xp.sum(Z, axis=0) if wb is None else wb @ Z)
        R = _qr_r(xp, xp.concat([R, A], axis=0))  # (min(rows, k), k)
    Rh = np.triu(to_host(R))
    Rh *= np.where(np.diagonal(Rh) < 0, -1.0, 1.0)[:, None]
    if Rh.shape[0] < k:
        Rh = np.vstack([Rh, np.zeros((k - Rh.shape[0], k))])
    nobs = n if w is None else int(to_host(xp.sum(xp.astype(w > 0, xp.int64))))
    sw = float(n) if w is None else float(to_host(xp.sum(w)))
    return QRState(Rh, np.zeros(p + q), p, q, icpt, nobs, sw, to_host(zsum))


def _refine_passes(
    xp: Any, sol: LstsqSolution, X: Any, Y: Any, w: Any | None, max_passes: int = REFINE_MAX_PASSES
) -> LstsqSolution:
    """Corrected semi-normal refinement (``olsnet.solve._policy``), residuals in double-double.

    Each pass: ``r = y - Xβ`` in double-double on the device, ``g = Aᵀ W r`` by a matrix
    product, ``d = R⁻¹R⁻ᵀ g`` on the host; the pass also gives the residual sum of squares.
    """
    kept = sol.kept
    icpt = sol.fit_intercept
    beta = np.nan_to_num(sol.params)  # (k_x, q)
    R = sol.R_x
    xk = kept[1:] - 1 if icpt else kept
    c = sol.shift_x[xk]
    all_x = xk.size == X.shape[1]
    cols = None if all_x else xp.asarray(xk, device=X.device)
    ssr = sol.ssr
    prev = np.inf
    dev, dt = X.device, X.dtype
    for _ in range(max_passes):
        bx = xp.asarray(beta[xk + int(icpt)], dtype=dt, device=dev)  # (r_x, q)
        b0 = xp.asarray(beta[0], dtype=dt, device=dev) if icpt else None
        g = np.zeros((kept.size, Y.shape[1]))
        ssr_pass = np.zeros(Y.shape[1])
        for sl in _blocks(X.shape[0]):
            Xb = X[sl, :] if cols is None else xp.take(X[sl, :], cols, axis=1)
            r = _dd_residual(xp, Y[sl, :], None, Xb, bx, b0)  # (b, q)
            wr = r if w is None else r * w[sl][:, None]
            ssr_pass += to_host(xp.sum(wr * r, axis=0))
            gx = to_host(Xb.T @ wr)
            if icpt:
                s0 = to_host(xp.sum(wr, axis=0))
                g[0] += s0
                g[1:] += gx - np.outer(c, s0)
            else:
                g += gx
        d = sla.solve_triangular(
            R, sla.solve_triangular(R, g, trans="T", check_finite=False), check_finite=False
        )
        ssr = np.maximum(ssr_pass - (g * d).sum(axis=0), 0.0)
        if icpt:
            d[0] -= c @ d[1:]
        beta[kept] += d
        size = np.max(np.abs(d) / np.maximum(np.abs(beta[kept]), np.finfo(float).tiny), initial=0)
        if size <= 4 * _EPS or size > 0.5 * prev:
            break
        prev = size
    params = beta.copy()
    params[sol.aliased] = np.nan
    return replace(sol, params=params, ssr=ssr, method=sol.method + "+refine")


# -- the exact path ------------------------------------------------------------------------------


def _signed_qr(xp: Any, A: Any) -> tuple[Any, np.ndarray]:
    """Thin Q (device) and R (host) of A with diag(R) >= 0.

    Up to ``EXACT_MAX_ELEMENTS`` entries (3.2 MB) A is factored on the host by the LAPACK of
    the NumPy path and Q sent back: the rounding of R is then that of ``exact_lstsq``, so the
    statistics computed from R (the covariance is ``T R⁻¹ S R⁻ᵀ Tᵀ``) agree with the NumPy
    path's to rounding even on NIST's Filip (cond ≈ 1e15), where two LAPACKs' R differ in the
    8th digit of the standard errors. Larger designs are factored on the device.
    """
    n, k = A.shape
    if n * k <= EXACT_MAX_ELEMENTS:
        Qh, Rh = np.linalg.qr(to_host(A))
        Q = xp.asarray(Qh, device=A.device)
    else:
        Q, R = xp.linalg.qr(A)
        Rh = np.triu(to_host(R))
    signs = np.where(np.diagonal(Rh) < 0, -1.0, 1.0)
    return Q * xp.asarray(signs, dtype=A.dtype, device=A.device)[None, :], Rh * signs[:, None]


Residuals = Callable[[Any, np.ndarray], tuple[Any, np.ndarray]]


def _refine_augmented(
    xp: Any, A: Any, Q: Any, R: np.ndarray, b: Any, c: np.ndarray, max_iter: int = 12
) -> tuple[np.ndarray, Any, int]:
    """Björck's refinement (``olsnet.solve._exact.refine_augmented``) with A, Q, b, r on the
    device and R, c, x on the host; residuals in double-double. Returns (x, r, iterations)."""
    dev, dt = A.device, A.dtype

    def correction(f: Any, g: np.ndarray) -> tuple[Any, np.ndarray]:
        h = sla.solve_triangular(R, g, trans="T", check_finite=False)
        dh = to_host(Q.T @ f) - h
        dx = sla.solve_triangular(R, dh, check_finite=False)
        return f - Q @ xp.asarray(dh, dtype=dt, device=dev), dx

    r, x = correction(b, c)

    def step(x: np.ndarray, r: Any) -> tuple[Any, np.ndarray]:
        f = _dd_residual(xp, b, r, A, xp.asarray(x, dtype=dt, device=dev))
        return correction(f, _dd_atr(xp, c, A, r))

    return refinement_loop(x, r, step, max_iter)


def _exact(
    xp: Any, X: Any, Y: Any, w: Any | None, icpt: bool, names: tuple[str, ...] | None, tol: float
) -> LstsqSolution:
    """The device twin of :func:`olsnet.solve._exact.exact_lstsq` (same steps, same results)."""
    if w is not None and not bool(xp.all(w > 0)):  # zero-weight rows are not observations
        pos = w > 0
        X, Y, w = X[pos, ...], Y[pos, ...], w[pos]
    n, p = X.shape
    q = Y.shape[1]
    k_x = int(icpt) + p
    dev, dt = X.device, X.dtype
    A_full = _augmented(xp, X, Y, w, None, icpt)  # (n, k), no shift (as exact_lstsq)
    k = A_full.shape[1]
    if n >= k:
        Q_full, R_full = _signed_qr(xp, A_full)
    else:
        Q_full, R_full = None, qr_r(to_host(A_full).copy())
    colnorms = _unshifted_colnorms(R_full, np.zeros(p + q), icpt)
    aliased, _ = decide_rank(R_full, k_x, colnorms, tol)
    kept = np.flatnonzero(~aliased)
    r = kept.size
    A = xp.take(A_full, xp.asarray(kept, device=dev), axis=1)
    B = A_full[:, k_x:]
    if Q_full is not None and r == k_x:
        Q, Rx = Q_full[:, :k_x], np.triu(R_full[:k_x, :k_x])
    else:
        Q, Rx = _signed_qr(xp, A)
    beta, resid, _ = _refine_augmented(xp, A, Q, Rx, B, np.zeros((r, q)))
    if scaled_condition(Rx) <= COV_REFINE_COND:
        Rinv = sla.solve_triangular(Rx, np.eye(r), check_finite=False)
        cov = Rinv @ Rinv.T
    else:
        zeros = xp.zeros((n, r), dtype=dt, device=dev)
        cov, _, _ = _refine_augmented(xp, A, Q, Rx, zeros, -np.eye(r))
    cov = 0.5 * (cov + cov.T)
    ssr = _dd_colsum(xp, iter([resid * resid]))
    sqw = xp.ones((n,), dtype=dt, device=dev) if w is None else xp.sqrt(w)
    sw = float(n) if w is None else float(_dd_colsum(xp, iter([w[:, None]]))[0])
    ysum = _dd_colsum(xp, iter([sqw[:, None] * B]))  # Σ w y
    if icpt:
        ybar = xp.asarray(ysum / sw, dtype=dt, device=dev)
        D = B - sqw[:, None] * ybar[None, :]  # sqrt(w) (y - ȳ)
        centered = _dd_colsum(xp, iter([D * D]))
    else:
        centered = _dd_colsum(xp, iter([B * B])) - ysum * ysum / sw
    uncentered = _dd_colsum(xp, iter([B * B]))
    params = _embed(beta, kept, k_x, 1)
    covf = _embed(cov, kept, k_x, 2)
    name_aliased(aliased, names, icpt)
    return LstsqSolution(
        params=params,
        cov_unscaled=covf,
        ssr=ssr,
        centered_tss=np.maximum(centered, 0.0),
        uncentered_tss=uncentered,
        nobs=n,
        sum_weights=sw,
        rank=r,
        aliased=aliased,
        fit_intercept=icpt,
        shift_x=np.zeros(p),
        R_x=Rx,
        condition_number=condition_number_of(Rx, np.zeros(p), icpt, kept),
        method="exact",
    )


# -- the policy ----------------------------------------------------------------------------------


def _checked_gram(
    xp: Any,
    X: Any,
    Y: Any,
    w: Any | None,
    icpt: bool,
    names: tuple[str, ...] | None,
    policy: str,
    tol: float,
) -> LstsqSolution | None:
    """The checked normal equations, refined when needed; None when QR must take over."""
    p = X.shape[1]
    k_x = int(icpt) + p
    state = _gram_state(xp, X, Y, w, icpt)
    if state is None:
        return None
    kappa = scaled_condition(state.R[:k_x, :k_x])
    if icpt and kappa > GRAM_CLEAN_COND:
        # offsets may be what makes it ill-conditioned: shift by the weighted means
        state = _gram_state(xp, X, Y, w, icpt, shift=np.asarray(state.zsum) / state.sum_weights)
        if state is None:
            return None
        kappa = scaled_condition(state.R[:k_x, :k_x])
    # decided on the whole [1 X] block before the rank decision, so that no warning is issued
    # for a solution that is then thrown away
    if kappa > GRAM_MAX_COND and policy != "fast":
        return None
    sol = solve_state(state, names, tol, method="gram")
    if sol.rank < k_x:  # the kept columns' factor
        kappa = scaled_condition(sol.R_x)
    ratio = np.max(sol.centered_tss / np.maximum(sol.ssr, np.finfo(float).tiny))
    if kappa > GRAM_CLEAN_COND or ratio > SSR_CANCELLATION:
        sol = _refine_passes(xp, sol, X, Y, w)
    return sol


def device_state(X: Any, Y: Any, w: Any | None, fit_intercept: bool) -> QRState:
    """The QR state (:class:`QRState`, NumPy) of device rows, for merging with other states.

    The Cholesky factor of the Gram matrix where it is accurate as it stands (scaled condition
    number at most ``GRAM_CLEAN_COND``, after shifting by the means when that helps): a state
    is not refined afterwards. Otherwise the R of the blocked Householder QR on the device.
    """
    from array_api_compat import array_namespace

    xp = array_namespace(X)
    k_x = int(fit_intercept) + X.shape[1]
    data = 8.0 * X.shape[0] * (k_x + Y.shape[1])
    block = 8.0 * min(X.shape[0], DEVICE_BLOCK_ROWS) * (k_x + Y.shape[1])
    with _memory("the QR state (Gram matrix or blocked QR)", 6.0 * block, data):
        state = _gram_state(xp, X, Y, w, fit_intercept)
        if state is not None and fit_intercept:
            if scaled_condition(state.R[:k_x, :k_x]) > GRAM_CLEAN_COND:
                shift = np.asarray(state.zsum) / state.sum_weights
                state = _gram_state(xp, X, Y, w, fit_intercept, shift=shift)
        if state is not None and scaled_condition(state.R[:k_x, :k_x]) <= GRAM_CLEAN_COND:
            return state
        return _qr_state(xp, X, Y, w, fit_intercept)


def device_lstsq(
    X: Any,
    Y: Any,
    sample_weight: Any | None = None,
    fit_intercept: bool = True,
    names: tuple[str, ...] | None = None,
    policy: str = "auto",
    tol: float = ALIAS_TOL,
) -> LstsqSolution:
    """Weighted least squares of Y (n, q) on X (n, p), device arrays of one namespace and device.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), float64, on any array-API device
    Y : array of shape (n_samples, n_outputs), float64, same namespace and device
    sample_weight : array of shape (n_samples,) or None, same namespace and device
    fit_intercept : bool, default=True
    names : tuple of str or None
        Feature names for the aliased-column warnings.
    policy : {"auto", "exact", "fast"}, default="auto"
        As :func:`olsnet.solve.lstsq` (module doc).
    tol : float, default=ALIAS_TOL

    Returns
    -------
    LstsqSolution
        NumPy arrays, equal to :func:`olsnet.solve.lstsq` on the same data to rounding.

    Raises
    ------
    DeviceMemoryError
        The device ran out of memory; the message gives the step's workspace and the data's size.
    """
    from array_api_compat import array_namespace

    check_option("policy", policy, SOLVER_POLICIES)
    xp = array_namespace(X)
    n, p = X.shape
    q = Y.shape[1]
    k = int(fit_intercept) + p + q
    data = 8.0 * n * k
    if policy == "exact" or (policy == "auto" and n * k <= EXACT_MAX_ELEMENTS):
        # [1 X Y], its thin Q, and the (n, k) double-double products of the refinement
        with _memory("the exact path (QR with Q, refinement)", 10.0 * data, data):
            return _exact(xp, X, Y, sample_weight, fit_intercept, names, tol)
    block = 8.0 * min(n, DEVICE_BLOCK_ROWS) * k
    with _memory("the normal equations (Gram matrix and refinement)", 6.0 * block, data):
        sol = _checked_gram(xp, X, Y, sample_weight, fit_intercept, names, policy, tol)
    if sol is not None:
        return sol
    with _memory("the blocked QR factorization", 6.0 * block, data):
        state = _qr_state(xp, X, Y, sample_weight, fit_intercept)
        sol = solve_state(state, names, tol, method="qr-blocks")
        return _refine_passes(xp, sol, X, Y, sample_weight)
