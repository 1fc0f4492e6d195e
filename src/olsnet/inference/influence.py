"""Residuals and influence measures of a fit: statsmodels' ``OLSInfluence``, R's ``lm.influence``.

With weighted residuals ``ẽᵢ = √wᵢ eᵢ``, leverage ``hᵢ = ‖Qᵢ‖²`` (``Qᵢ = √wᵢ zᵢ R⁻¹`` in the
solver's factored, centred basis, see :mod:`._rows`), ``s² = ssr / df_resid`` and ``r`` the
rank of the fit (not the number of columns: an aliased column is not a parameter):

* ``resid_studentized_internal  tᵢ = ẽᵢ / (s √(1 - hᵢ))``                (R ``rstandard``)
* ``resid_studentized_external  tᵢ* = ẽᵢ / (s₍ᵢ₎ √(1 - hᵢ))`` with
  ``s₍ᵢ₎² = (ssr - ẽᵢ² / (1 - hᵢ)) / (df_resid - 1)``                     (R ``rstudent``)
* ``cooks_distance  Dᵢ = tᵢ² hᵢ / (r (1 - hᵢ))``, p value ``P(F(r, df_resid) > Dᵢ)``
* ``dffits  tᵢ* √(hᵢ / (1 - hᵢ))``, threshold ``2 √(r / n)``
* ``dfbetas  tᵢ* (B x̃ᵢ)ⱼ / (√(1 - hᵢ) √Bⱼⱼ)``, ``B = (XᵀWX)⁻¹``               (R ``dfbetas``)

As R's ``lm.influence``, a leverage within ``10 ε`` of 1 is 1: such a row is fitted exactly
whatever its value, so every statistic above is NaN there (with a warning naming the rows),
never a finite quotient of rounding noise. Rows of zero weight are not observations: NaN.
References: Belsley, Kuh & Welsch (1980), *Regression Diagnostics*; Cook (1977).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotAvailableWarning
from ..solve._blas import default_workers, gemm_tn
from ..solve._kernels import tri_inv
from ..solve._residuals import RowMap, row_pass
from ._distributions import f_sf
from ._rows import chunked_matmul, row_blocks, to_centred

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["LEVERAGE_ONE", "OLSInfluence", "leverage_one_rows"]

# R's lm.influence: hat values above 1 - 10 eps are 1 (a row fitted exactly whatever its value)
LEVERAGE_ONE = 1.0 - 10.0 * np.finfo(np.float64).eps


def leverage_one_rows(hat: np.ndarray) -> np.ndarray:
    """Indices of rows whose leverage is 1 under R's rule (``h > 1 - 10 ε``)."""
    return np.flatnonzero(hat > LEVERAGE_ONE)


def _ro(a: np.ndarray) -> np.ndarray:
    """``a`` read-only, without a copy (every array passed here is freshly computed)."""
    a = np.asarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


# Q = Z̃ R⁻¹ has orthonormal columns only as far as R is exact: when ‖QᵀQ - I‖_F is above
# this, leverages are taken from Q L⁻ᵀ (L Lᵀ = QᵀQ) in a second pass. Below it the leverages
# ‖Qᵢ‖² are already within it (relative) of those of the re-orthogonalized rows; QᵀQ itself
# is summed with rounding of about this size over a million rows, so a smaller bound would
# only repeat the pass.
REORTHOGONALIZE_ABOVE = 1e-13


def _right_factor(QtQ: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(L, L⁻ᵀ)`` with ``L Lᵀ = QᵀQ``, or None when ``Q`` is orthonormal to rounding (or
    ``QᵀQ`` numerically singular: ``Q`` is kept as it is)."""
    r = QtQ.shape[0]
    if r == 0 or np.linalg.norm(QtQ - np.eye(r)) <= REORTHOGONALIZE_ABOVE:
        return None
    try:
        L = np.linalg.cholesky(QtQ)
    except np.linalg.LinAlgError:
        return None
    # L ≈ I (as far as R is exact): its inverse is as accurate as a solve, and the rows are
    # then one product each, inside the pass
    return L, tri_inv(np.ascontiguousarray(L.T))


def reorthogonalized(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q L⁻ᵀ`` with ``L Lᵀ = QᵀQ``: columns orthonormal to rounding, same column space.

    ``Q = Z̃ R⁻¹`` is orthonormal only as far as ``R`` is exact (``κ ε``); the hat matrix is
    ``Z̃ (Z̃ᵀZ̃)⁻¹ Z̃ᵀ = Q (QᵀQ)⁻¹ Qᵀ`` for any invertible ``R``, so one Cholesky of the small,
    well-conditioned ``QᵀQ`` removes that error (NIST Longley: leverages from 4e-12 to 1e-14).
    For rows held in memory; :meth:`OLSInfluence.of` does the same within its passes.
    """
    eye = np.eye(Q.shape[1])
    if Q.shape[1] == 0 or Q.shape[0] == 0:
        return Q, eye
    try:
        L = np.linalg.cholesky(Q.T @ Q)
    except np.linalg.LinAlgError:  # numerically singular: keep Q as it is
        return Q, eye
    return chunked_matmul(Q, tri_inv(np.ascontiguousarray(L.T))), L


def influence_rows(
    res: RegressionResult, what: str, right: np.ndarray | None = None, *, keep_q: bool = False
) -> dict[str, Any]:
    """One blocked, threaded pass (:func:`olsnet.solve.row_pass`) over the attached rows.

    Returns ``h`` (n,) ``‖Qᵢ‖²``, ``wresid`` (n, q), ``w`` (n,) (``weighted``: whether the rows
    came with weights) and ``QtQ`` (r, r) for
    ``Q = Z̃ R⁻¹ right`` (no (n, r) array: each chunk's rows live in a per-thread buffer); with
    ``keep_q`` only ``Q`` (n, r) itself.
    """
    source = _source(res, what)
    sol = res.solution
    rows = RowMap(sol.params, sol.R_x, sol.shift_x, sol.kept, sol.fit_intercept, right)
    r = rows.r

    def work(_start: int, Q: np.ndarray, E: np.ndarray, w: np.ndarray | None) -> tuple[Any, ...]:
        if keep_q:  # the rows themselves, nothing else
            return (None, None, None, None, Q.copy())
        QtQ = gemm_tn(np.zeros((r, r), order="F"), Q, Q)
        wv = None if w is None else np.array(w, dtype=np.float64)
        h = np.einsum("ij,ij->i", Q, Q)
        return h, E.copy(), wv, QtQ, None

    parts = row_pass(source.blocks(), rows, work)
    if keep_q:
        return {"Q": np.concatenate([p[4] for p in parts]) if parts else np.zeros((0, r))}
    q = rows.q
    h = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    weighted = any(p[2] is not None for p in parts)
    return {
        "h": h,
        "wresid": np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, q)),
        "weighted": weighted,
        "QtQ": sum((p[3] for p in parts), np.zeros((r, r))),
        "w": (  # unweighted: a read-only view of one 1.0, not n of them
            np.concatenate([np.ones(len(p[0])) if p[2] is None else p[2] for p in parts])
            if weighted
            else np.broadcast_to(np.float64(1.0), h.shape)
        ),
    }


def _source(res: RegressionResult, what: str) -> Any:
    if res.source is None:
        from ..errors import DataError

        raise DataError(
            f"{what} needs the rows the model was fitted on, and none are attached (a loaded, "
            "merged or partially fitted result); attach them with result.with_data(X, y) "
            "or fit on the data"
        )
    return res.source


def collect_rows(res: RegressionResult, what: str) -> dict[str, np.ndarray]:
    """Every row's ``Q`` (n, r), fitted (n, q), y (n, q), weight (n,) from the attached data."""
    source = _source(res, what)
    parts = list(row_blocks(res.solution, source))
    if not parts:
        r, q = res.rank, res.n_outputs
        return {"Q": np.zeros((0, r)), "fitted": np.zeros((0, q)), "y": np.zeros((0, q)),
                "w": np.zeros(0)}  # fmt: skip
    return {
        name: np.concatenate([p[i] for p in parts])
        for i, name in enumerate(("Q", "fitted", "y", "w"))
    }


ROWWISE_MIN_ROWS = 65_536  # rows per thread below which elementwise work stays on one thread


def _rowwise(n: int, fill: Callable[[slice], None]) -> None:
    """``fill(rows)`` on slices of the ``n`` rows, on threads: NumPy's elementwise loops release
    the GIL, so the per-row measures of a large fit (their arithmetic and the page faults of
    their fresh (n,) arrays) run on every core the fit may use. ``fill`` writes its slice of
    preallocated outputs; slices do not overlap, so the result does not depend on the threads.
    """
    workers = min(default_workers(), max(1, n // ROWWISE_MIN_ROWS))
    if workers <= 1:
        fill(slice(0, n))
        return
    step = -(-n // workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="olsnet-rows") as pool:
        for done in [pool.submit(fill, slice(i, min(i + step, n))) for i in range(0, n, step)]:
            done.result()


def f_sf_rows(x: np.ndarray, dfn: float, dfd: float) -> np.ndarray:
    """``P(F(dfn, dfd) > x)`` of many values (``scipy.special.fdtrc``), 1.0 below a threshold.

    Cook's distances are of order ``rank / n``; on a large fit almost every one has a tail
    probability that rounds to exactly 1.0 in double precision. The largest ``x`` at which
    ``fdtrc`` gives 1.0 is found once by bisection (the survival function decreases), and
    ``fdtrc`` is evaluated only above it (NaN stays NaN): 1 µs a value is the bulk of
    ``get_influence()`` on a million rows otherwise.
    """
    x = np.asarray(x, dtype=np.float64)
    one, above = 0.0, 1.0
    while f_sf(np.array(above), dfn, dfd) >= 1.0 and above < 1e300:
        one, above = above, above * 2.0
    for _ in range(64):  # f_sf(one) == 1 < ... f_sf(above) < 1
        mid = 0.5 * (one + above)
        if f_sf(np.array(mid), dfn, dfd) >= 1.0:
            one = mid
        else:
            above = mid
    out = np.empty_like(x)

    def fill(rows: slice) -> None:
        xi, oi = x[rows], out[rows]
        oi.fill(1.0)
        rest = ~(xi <= one)  # NaN included
        if rest.any():
            oi[rest] = f_sf(xi[rest], dfn, dfd)

    _rowwise(x.shape[0], fill)
    return out


@dataclass(frozen=True, eq=False)
class OLSInfluence:
    """Influence measures of every row (statsmodels' ``OLSInfluence`` names).

    Get it with :meth:`RegressionResult.get_influence`. Arrays are read-only, (n,) for a 1-D
    ``y`` and (n, q) for ``q`` outputs (``dfbetas``: (n, k) or (n, k, q)); ``n`` counts every
    row of the data, zero-weight rows included (NaN there). Each measure is computed on first
    access and kept.

    The rows come from one blocked, threaded pass over the data (leverages ``‖Qᵢ‖²`` and the
    weighted residuals; no (n, r) array), a second one only when ``Q = Z̃ R⁻¹`` is not
    orthonormal to rounding (an ill-conditioned design, then ``Q L⁻ᵀ``), and one more for
    ``dfbetas`` (its (n, k) rows).
    """

    result: RegressionResult = field(repr=False)
    _L: np.ndarray = field(repr=False)  # (r, r) Cholesky factor of (Z̃ R⁻¹)ᵀ(Z̃ R⁻¹) (or I)
    _right: np.ndarray | None = field(repr=False)  # (r, r) L⁻ᵀ, None when L = I
    _wresid: np.ndarray = field(repr=False)  # (n, q)
    _w: np.ndarray = field(repr=False)  # (n,)
    hat_raw: np.ndarray = field(repr=False)  # (n,)
    _hat: np.ndarray = field(repr=False)  # (n,) with R's 10 eps rule
    _omh: np.ndarray = field(repr=False)  # (n, 1) 1 - h, NaN where not defined

    @classmethod
    def of(cls, res: RegressionResult) -> OLSInfluence:
        rows = influence_rows(res, "get_influence()")
        factor = _right_factor(rows["QtQ"])
        L, right, hat = np.eye(res.rank), None, rows["h"]
        if factor is not None:
            L, right = factor
            hat = influence_rows(res, "get_influence()", right)["h"]
        w, wresid = rows["w"], rows["wresid"]
        one = leverage_one_rows(hat)
        if one.size:
            shown = ", ".join(str(i) for i in one[:10]) + (" ..." if one.size > 10 else "")
            warnings.warn(
                f"{one.size} row(s) have leverage 1 (rows {shown}): they are fitted exactly "
                "whatever their values, so their studentized residuals, Cook's distance, "
                "DFFITS and DFBETAS are NaN",
                NotAvailableWarning,
                stacklevel=3,
            )
        # elementwise on n rows from here: in place where possible (a fresh (n,) array costs
        # more in page faults than its arithmetic)
        h = hat
        if one.size:
            h = hat.copy()
            h[one] = 1.0
        omh = np.empty((h.shape[0], 1))
        _rowwise(h.shape[0], lambda rows: np.subtract(1.0, h[rows, None], out=omh[rows]))
        omh[one] = np.nan
        if rows["weighted"]:
            omh[w <= 0] = np.nan
        return cls(res, _ro(L), right, _ro(wresid), _ro(w), _ro(hat), _ro(h), _ro(omh))

    @cached_property
    def _all_observed(self) -> bool:
        return bool(np.all(self._w > 0))

    def _shape(self, a: np.ndarray) -> np.ndarray:
        if not self._all_observed:
            a = np.where((self._w > 0).reshape((-1,) + (1,) * (a.ndim - 1)), a, np.nan)
        return _ro(a[..., 0] if self.result.y_ndim == 1 else a)

    @property
    def weights(self) -> np.ndarray:
        """(n,) the rows' weights (1 unweighted); rows of weight 0 are not observations."""
        return self._w

    @property
    def hat_matrix_diag(self) -> np.ndarray:
        """Leverage ``hᵢ`` (n,) (1 where within 10 ε of 1; 0 for zero-weight rows)."""
        return self._hat

    def _one_minus_h(self) -> np.ndarray:
        """(n, 1) ``1 - hᵢ``; NaN at leverage 1 and at rows of zero weight."""
        return self._omh

    @property
    def resid_studentized_internal(self) -> np.ndarray:
        """``ẽᵢ / (s √(1 - hᵢ))`` (R's ``rstandard``)."""
        return self._shape(self._internal())

    @cached_property
    def _sqrt_omh(self) -> np.ndarray:
        omh = self._omh
        out = np.empty_like(omh)
        _rowwise(omh.shape[0], lambda rows: np.sqrt(omh[rows], out=out[rows]))
        return out

    @cached_property
    def _internal_values(self) -> np.ndarray:
        s = np.sqrt(self.result.statistic("scale").value)[None, :]
        e, sq = self._wresid, self._sqrt_omh
        out = np.empty_like(e)

        def fill(rows: slice) -> None:
            t = out[rows]
            np.multiply(sq[rows], s, out=t)
            np.divide(e[rows], t, out=t)

        _rowwise(e.shape[0], fill)
        return out

    def _internal(self) -> np.ndarray:
        return self._internal_values

    @cached_property
    def _external_values(self) -> np.ndarray:
        res = self.result
        omh, sq, e = self._one_minus_h(), self._sqrt_omh, self._wresid
        ssr, dfm1 = res.solution.ssr[None, :], res.df_resid - 1.0
        out = np.empty_like(e)

        def fill(rows: slice) -> None:
            t, ei = out[rows], e[rows]
            with np.errstate(invalid="ignore", divide="ignore"):  # per thread (contextvar)
                # s₍ᵢ₎² = (ssr - ẽᵢ² / (1 - hᵢ)) / (df_resid - 1), then ẽᵢ / (s₍ᵢ₎ √(1 - hᵢ))
                np.multiply(ei, ei, out=t)
                t /= omh[rows]
                np.subtract(ssr, t, out=t)
                t /= dfm1
                np.maximum(t, 0.0, out=t)
                np.sqrt(t, out=t)
                t *= sq[rows]
                np.divide(ei, t, out=t)

        _rowwise(e.shape[0], fill)
        return out

    def _external(self) -> np.ndarray:
        return self._external_values

    @property
    def resid_studentized_external(self) -> np.ndarray:
        """``ẽᵢ / (s₍ᵢ₎ √(1 - hᵢ))`` with the row left out of ``s`` (R's ``rstudent``)."""
        return self._shape(self._external())

    resid_studentized = resid_studentized_internal

    @cached_property
    def cooks_distance(self) -> tuple[np.ndarray, np.ndarray]:
        """(``Dᵢ = tᵢ² hᵢ / (rank (1 - hᵢ))``, p value from F(rank, df_resid)), as statsmodels."""
        res = self.result
        ti, h, omh = self._internal(), self.hat_matrix_diag[:, None], self._one_minus_h()
        d = np.empty_like(ti)

        def fill(rows: slice) -> None:
            t = d[rows]
            np.multiply(ti[rows], ti[rows], out=t)
            t *= h[rows]
            t /= omh[rows]
            t /= res.rank

        _rowwise(d.shape[0], fill)
        p = f_sf_rows(d, res.rank, res.df_resid)
        return self._shape(d), self._shape(p)

    @cached_property
    def dffits(self) -> tuple[np.ndarray, float]:
        """(``tᵢ* √(hᵢ / (1 - hᵢ))``, the threshold ``2 √(rank / nobs)``), as statsmodels."""
        res = self.result
        h, te, sq = self.hat_matrix_diag[:, None], self._external(), self._sqrt_omh
        d = np.empty_like(te)

        def fill(rows: slice) -> None:
            t = d[rows]
            np.sqrt(np.broadcast_to(h[rows], t.shape), out=t)
            t *= te[rows]
            t /= sq[rows]

        _rowwise(d.shape[0], fill)
        return self._shape(d), float(2.0 * np.sqrt(res.rank / res.nobs))

    def _b_rows(self, *, unit: bool) -> np.ndarray:
        """(n, r) rows ``B x̃ᵢ`` in user coordinates (kept coefficients), each column divided by
        ``√Bⱼⱼ`` with ``unit``: one pass of the row kernel.

        ``B x̃ᵢ = F Qᵢᵀ`` with ``Qᵢ = z̃ᵢ R⁻¹ L⁻ᵀ`` and ``F = T R⁻¹ L⁻ᵀ`` (r, r), so the kernel
        takes ``right = L⁻ᵀ Fᵀ``. ``R⁻¹`` and ``L⁻ᵀ`` by dtrtri (one thread; SciPy's
        ``solve_triangular`` wakes BLAS threads).
        """
        sol = self.result.solution
        F = to_centred(sol, np.eye(sol.kept.size)) @ tri_inv(sol.R_x)
        if self._right is not None:
            F = F @ self._right
        right = F.T if self._right is None else self._right @ F.T
        if unit:
            right = right / np.sqrt(np.einsum("ij,ij->i", F, F))  # √Bⱼⱼ (r,)
        return influence_rows(self.result, "dfbetas", right, keep_q=True)["Q"]

    @cached_property
    def dfbetas(self) -> np.ndarray:
        """Scaled change of each coefficient when row i is left out: (n, k) or (n, k, q).

        ``tᵢ* (B x̃ᵢ)ⱼ / (√(1 - hᵢ) √Bⱼⱼ)`` (statsmodels ``dfbetas``, R ``dfbetas``); NaN
        columns for aliased coefficients.
        """
        res = self.result
        sol = res.solution
        kept = sol.kept
        bx = self._b_rows(unit=True)  # (n, r) (B x̃ᵢ)ⱼ / √Bⱼⱼ
        t = self._external() / self._sqrt_omh  # (n, q): NaN at zero weight and leverage 1
        k, q = sol.params.shape
        if q == 1 and kept.size == k:  # no aliased column: one product, no scatter
            bx *= t
            return _ro(bx if res.y_ndim == 1 else bx[:, :, None])
        out = np.full((bx.shape[0], k, q), np.nan)
        out[:, kept, :] = bx[:, :, None] * t[:, None, :]
        return self._shape(out)

    @property
    def resid_press(self) -> np.ndarray:
        """PRESS residuals ``ẽᵢ / (1 - hᵢ)``: the prediction error at row i of the fit without
        it (statsmodels ``resid_press``)."""
        return self._shape(self._wresid / self._one_minus_h())

    @property
    def ess_press(self) -> Any:
        """``Σ resid_pressᵢ²`` over the rows (statsmodels ``ess_press``); (q,) for q outputs."""
        v = np.nansum((self._wresid / self._one_minus_h()) ** 2, axis=0)
        return float(v[0]) if self.result.y_ndim == 1 else _ro(v)

    def _s2_not_obsi(self) -> np.ndarray:
        res = self.result
        with np.errstate(invalid="ignore", divide="ignore"):
            return (res.solution.ssr[None, :] - self._wresid**2 / self._one_minus_h()) / (
                res.df_resid - 1.0
            )

    @property
    def sigma2_not_obsi(self) -> np.ndarray:
        """``s₍ᵢ₎²``: the residual variance of the fit without row i (statsmodels)."""
        return self._shape(self._s2_not_obsi())

    @property
    def resid_std(self) -> np.ndarray:
        """``s √(1 - hᵢ)``: the standard deviation of each residual (statsmodels)."""
        s2 = self.result.statistic("scale").value[None, :]
        return self._shape(np.sqrt(s2 * self._one_minus_h()))

    @property
    def cov_ratio(self) -> np.ndarray:
        """``det V₍ᵢ₎ / det V = (s₍ᵢ₎² / s²)^rank / (1 - hᵢ)`` (statsmodels, R ``covratio``)."""
        res = self.result
        s2 = res.statistic("scale").value[None, :]
        return self._shape((self._s2_not_obsi() / s2) ** res.rank / self._one_minus_h())

    @property
    def dfbeta(self) -> np.ndarray:
        """Change of each coefficient when row i is left out, ``b - b₍ᵢ₎ = B x̃ᵢ ẽᵢ / (1 - hᵢ)``
        (statsmodels ``dfbeta``, R ``dfbeta``): (n, k) or (n, k, q); NaN for aliased ones."""
        sol = self.result.solution
        kept = sol.kept
        bx = self._b_rows(unit=False)  # (n, r): B x̃ᵢ in user coordinates
        k, q = sol.params.shape
        out = np.full((bx.shape[0], k, q), np.nan)
        out[:, kept, :] = bx[:, :, None] * (self._wresid / self._one_minus_h())[:, None, :]
        return self._shape(out)

    def summary_frame(self) -> Any:
        """pandas DataFrame with statsmodels' ``summary_frame`` columns (one output)."""
        import pandas as pd

        res = self.result
        if res.n_outputs != 1:
            from ..errors import DimensionError

            raise DimensionError("summary_frame() is for one output; this fit has several")
        frame = pd.DataFrame(self.dfbetas, columns=[f"dfb_{n}" for n in res.param_names])
        frame["cooks_d"] = self.cooks_distance[0]
        frame["standard_resid"] = self.resid_studentized_internal
        frame["hat_diag"] = self.hat_matrix_diag
        frame["dffits_internal"] = self.resid_studentized_internal * np.sqrt(
            self.hat_matrix_diag / (1 - self.hat_matrix_diag)
        )
        frame["student_resid"] = self.resid_studentized_external
        frame["dffits"] = self.dffits[0]
        return frame
