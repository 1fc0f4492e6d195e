"""Covariance kernels of least-squares coefficients, as pure functions of arrays.

Notation (one output; weights ``w``, analytic as in statsmodels' WLS and R's ``lm``):
``x̃ᵢ = √wᵢ xᵢ`` is a row of the weighted design (``wexog``), ``ẽᵢ = √wᵢ eᵢ`` its weighted
residual (``wresid``), ``B = (X̃ᵀX̃)⁻¹ = (XᵀWX)⁻¹`` the *bread*. Every estimator is a sandwich
``V = B M B`` with a *meat* ``M``:

* nonrobust  ``V = s² B``, ``s² = Σ ẽᵢ² / (n - rank)``
* HC0        ``M = Σ ẽᵢ² x̃ᵢ x̃ᵢᵀ``                           (White 1980)
* HC1        ``HC0 · n / (n - rank)``                         (Hinkley 1977)
* HC2        ``M = Σ ẽᵢ² / (1 - hᵢ) x̃ᵢ x̃ᵢᵀ``                 (MacKinnon & White 1985)
* HC3        ``M = Σ ẽᵢ² / (1 - hᵢ)² x̃ᵢ x̃ᵢᵀ``               (Davidson & MacKinnon 1993)

with the leverage ``hᵢ = x̃ᵢᵀ B x̃ᵢ = wᵢ xᵢᵀ (XᵀWX)⁻¹ xᵢ``. These are statsmodels'
``cov_type="HC0".."HC3"`` definitions (which use ``wexog`` and ``wresid``) and those of R's
``sandwich::vcovHC``. Rows of zero weight are not observations: they add nothing to any meat.

Computation. With ``R`` the triangular factor of the kept, shifted, weighted design
``Z̃ = √w [1, X - c]`` (``Z̃ᵀZ̃ = RᵀR``) and ``Q = Z̃ R⁻¹`` (orthonormal columns), the leverage is
``hᵢ = ‖Qᵢ‖²`` (a sum of squares: no cancellation) and ``V = R⁻¹ (Qᵀ diag(u) Q) R⁻ᵀ`` in shifted
coordinates, mapped to the user's by ``T = [[1, -cᵀ], [0, I]]``. One blocked, threaded pass
over the rows (:func:`residual_pass`) accumulates the meats asked for: in memory only the one the
requested kind needs (each meat is an (r x r) product per chunk, the bulk of the pass), kept by
the result, so another kind costs one more pass; sources whose pass is bound by reading (files,
dask) accumulate HC0, HC2 and HC3 at once (HC1 is HC0 rescaled).
"""

from __future__ import annotations

import numpy as np

from .._types import COV_TYPES, check_option
from ..solve._residuals import (
    HC_MEATS,
    ResidualPass,
    bread_inverse,
    leverage,
    meat_kinds,
    residual_pass,
)

__all__ = [
    "HC_KINDS",
    "HC_MEATS",
    "ResidualPass",
    "bread_inverse",
    "hc_covariance",
    "hc_scale",
    "leverage",
    "meat_kinds",
    "nonrobust_covariance",
    "residual_pass",
    "sandwich",
    "unshift_matrix",
]

HC_KINDS = ("HC0", "HC1", "HC2", "HC3")
# slot of each HC kind in the accumulated meats (HC1 reuses HC0)
_MEAT_SLOT = {"HC0": 0, "HC1": 0, "HC2": 1, "HC3": 2}


def unshift_matrix(shift: np.ndarray, r: int, intercept_kept: bool) -> np.ndarray:
    """``T`` (r, r) mapping shifted-coordinate covariances to the user's: ``V = T V_s Tᵀ``.

    For ``y = b0' + (x - c)ᵀβ`` the user's intercept is ``b0 = b0' - cᵀβ``, so row 0 of ``T`` is
    ``[1, -cᵀ]``; ``shift`` holds ``c`` of the kept features only.
    """
    T = np.eye(r)
    if intercept_kept and r > 1:
        T[0, 1:] = -shift
    return T


def sandwich(bread_factor: np.ndarray, meat: np.ndarray) -> np.ndarray:
    """``F M Fᵀ`` for a bread factor ``F`` (r, r) and meat(s) ``M`` (..., r, r)."""
    V = bread_factor @ meat @ bread_factor.T
    return 0.5 * (V + np.swapaxes(V, -1, -2))  # exactly symmetric


def nonrobust_covariance(cov_unscaled: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``s²ⱼ (XᵀWX)⁻¹`` for each output: (q, k, k) from (k, k) and scale (q,)."""
    return scale[:, None, None] * cov_unscaled[None, :, :]


def hc_scale(kind: str, nobs: int, df_resid: float) -> float:
    """Small-sample factor applied to the meat: ``n / (n - rank)`` for HC1, else 1."""
    check_option("cov_type", kind, COV_TYPES)
    if kind == "HC1":
        return nobs / df_resid if df_resid > 0 else float("nan")
    return 1.0


def hc_covariance(
    kind: str, meats: np.ndarray, R_x: np.ndarray, T: np.ndarray, nobs: int, df_resid: float
) -> np.ndarray:
    """HC covariance (q, r, r) of the kept coefficients in the user's coordinates.

    ``V = T R⁻¹ M R⁻ᵀ Tᵀ`` times the HC1 factor; ``meats`` as from :func:`residual_pass`.
    """
    factor = hc_scale(kind, nobs, df_resid)
    F = T @ bread_inverse(R_x)
    return factor * sandwich(F, meats[:, _MEAT_SLOT[kind]])
