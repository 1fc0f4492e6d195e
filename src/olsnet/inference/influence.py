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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla

from ..errors import NotAvailableWarning
from ._distributions import f_sf
from ._rows import chunked_matmul, factor_solve, row_blocks, to_centred

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


def reorthogonalized(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q L⁻ᵀ`` with ``L Lᵀ = QᵀQ``: columns orthonormal to rounding, same column space.

    ``Q = Z̃ R⁻¹`` is orthonormal only as far as ``R`` is exact (``κ ε``); the hat matrix is
    ``Z̃ (Z̃ᵀZ̃)⁻¹ Z̃ᵀ = Q (QᵀQ)⁻¹ Qᵀ`` for any invertible ``R``, so one Cholesky of the small,
    well-conditioned ``QᵀQ`` removes that error (NIST Longley: leverages from 4e-12 to 1e-14).
    """
    eye = np.eye(Q.shape[1])
    if Q.shape[1] == 0 or Q.shape[0] == 0:
        return Q, eye
    try:
        L = np.linalg.cholesky(Q.T @ Q)
    except np.linalg.LinAlgError:  # numerically singular: keep Q as it is
        return Q, eye
    # L ≈ I (as far as R is exact): its inverse is as accurate as the solve, and one chunked
    # product is faster than a threaded triangular solve over n rows
    Linv = sla.solve_triangular(L, eye, lower=True, check_finite=False)
    return chunked_matmul(Q, Linv.T), L


def collect_rows(res: RegressionResult, what: str) -> dict[str, np.ndarray]:
    """Every row's ``Q`` (n, r), fitted (n, q), y (n, q), weight (n,) from the attached data."""
    source = res.source
    if source is None:
        from ..errors import DataError

        raise DataError(
            f"{what} needs the rows the model was fitted on, and none are attached (a loaded, "
            "merged or partially fitted result); attach them with result.with_data(X, y) "
            "or fit on the data"
        )
    parts = list(row_blocks(res.solution, source))
    if not parts:
        r, q = res.rank, res.n_outputs
        return {"Q": np.zeros((0, r)), "fitted": np.zeros((0, q)), "y": np.zeros((0, q)),
                "w": np.zeros(0)}  # fmt: skip
    return {
        name: np.concatenate([p[i] for p in parts])
        for i, name in enumerate(("Q", "fitted", "y", "w"))
    }


@dataclass(frozen=True, eq=False)
class OLSInfluence:
    """Influence measures of every row (statsmodels' ``OLSInfluence`` names).

    Get it with :meth:`RegressionResult.get_influence`. Arrays are read-only, (n,) for a 1-D
    ``y`` and (n, q) for ``q`` outputs (``dfbetas``: (n, k) or (n, k, q)); ``n`` counts every
    row of the data, zero-weight rows included (NaN there).
    """

    result: RegressionResult = field(repr=False)
    _Q: np.ndarray = field(repr=False)  # (n, r) orthonormal rows: Z̃ R⁻¹ L⁻ᵀ
    _L: np.ndarray = field(repr=False)  # (r, r) Cholesky factor of (Z̃ R⁻¹)ᵀ(Z̃ R⁻¹)
    _wresid: np.ndarray = field(repr=False)  # (n, q)
    _w: np.ndarray = field(repr=False)  # (n,)
    hat_raw: np.ndarray = field(repr=False)  # (n,)
    _hat: np.ndarray = field(repr=False)  # (n,) with R's 10 eps rule
    _omh: np.ndarray = field(repr=False)  # (n, 1) 1 - h, NaN where not defined

    @classmethod
    def of(cls, res: RegressionResult) -> OLSInfluence:
        rows = collect_rows(res, "get_influence()")
        (Q, L), w = reorthogonalized(rows["Q"]), rows["w"]
        wresid = (rows["y"] - rows["fitted"]) * np.sqrt(w)[:, None]
        hat = np.einsum("ij,ij->i", Q, Q)
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
        h = np.where(hat > LEVERAGE_ONE, 1.0, hat)
        omh = np.where((h >= 1.0) | (w <= 0), np.nan, 1.0 - h)[:, None]
        return cls(res, _ro(Q), _ro(L), _ro(wresid), _ro(w), _ro(hat), _ro(h), _ro(omh))

    def _shape(self, a: np.ndarray) -> np.ndarray:
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

    def _internal(self) -> np.ndarray:
        s = np.sqrt(self.result.statistic("scale").value)[None, :]
        return self._wresid / (s * np.sqrt(self._one_minus_h()))

    def _external(self) -> np.ndarray:
        res = self.result
        omh = self._one_minus_h()
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = (res.solution.ssr[None, :] - self._wresid**2 / omh) / (res.df_resid - 1.0)
            return self._wresid / np.sqrt(np.maximum(s2, 0.0) * omh)

    @property
    def resid_studentized_external(self) -> np.ndarray:
        """``ẽᵢ / (s₍ᵢ₎ √(1 - hᵢ))`` with the row left out of ``s`` (R's ``rstudent``)."""
        return self._shape(self._external())

    resid_studentized = resid_studentized_internal

    @property
    def cooks_distance(self) -> tuple[np.ndarray, np.ndarray]:
        """(``Dᵢ = tᵢ² hᵢ / (rank (1 - hᵢ))``, p value from F(rank, df_resid)), as statsmodels."""
        res = self.result
        d = self._internal() ** 2 * self.hat_matrix_diag[:, None] / (res.rank * self._one_minus_h())
        return self._shape(d), self._shape(f_sf(d, res.rank, res.df_resid))

    @property
    def dffits(self) -> tuple[np.ndarray, float]:
        """(``tᵢ* √(hᵢ / (1 - hᵢ))``, the threshold ``2 √(rank / nobs)``), as statsmodels."""
        res = self.result
        h = self.hat_matrix_diag[:, None]
        d = self._external() * np.sqrt(h / self._one_minus_h())
        return self._shape(d), float(2.0 * np.sqrt(res.rank / res.nobs))

    @property
    def dfbetas(self) -> np.ndarray:
        """Scaled change of each coefficient when row i is left out: (n, k) or (n, k, q).

        ``tᵢ* (B x̃ᵢ)ⱼ / (√(1 - hᵢ) √Bⱼⱼ)`` (statsmodels ``dfbetas``, R ``dfbetas``); NaN
        columns for aliased coefficients.
        """
        res = self.result
        sol = res.solution
        kept = sol.kept
        # B x̃ᵢ = T R⁻¹ L⁻ᵀ Qᵢᵀ in user coordinates; F = T R⁻¹ L⁻ᵀ (r, r) by triangular solves
        F = factor_solve(sol, to_centred(sol, np.eye(kept.size)))
        F = sla.solve_triangular(self._L, F.T, lower=True, check_finite=False).T
        bx = self._Q @ F.T  # (n, r)
        sd = np.sqrt(np.einsum("ij,ij->i", F, F))  # √Bⱼⱼ (r,)
        t = self._external() / np.sqrt(self._one_minus_h())  # (n, q)
        k, q = sol.params.shape
        out = np.full((bx.shape[0], k, q), np.nan)
        out[:, kept, :] = (bx / sd)[:, :, None] * t[:, None, :]
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
        F = factor_solve(sol, to_centred(sol, np.eye(kept.size)))
        F = sla.solve_triangular(self._L, F.T, lower=True, check_finite=False).T
        bx = self._Q @ F.T  # (n, r): B x̃ᵢ in user coordinates
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
