"""Cluster-robust covariance kernels (one- and two-way), as pure functions of arrays.

Notation as in :mod:`.covariance`: ``Qᵢ = x̃ᵢ R⁻¹`` (r,) a row in the factored basis and
``ẽᵢ`` its weighted residual, so the score ``x̃ᵢ ẽᵢ`` is ``Rᵀ (Qᵢ ẽᵢ)``. Every meat below is
in ``Q`` coordinates; the covariance is ``V = T R⁻¹ M R⁻ᵀ Tᵀ`` (:func:`.covariance.sandwich`).

* CR1 (Liang & Zeger 1986; Stata's ``vce(cluster)``, statsmodels ``cov_type="cluster"``)::

      M = c Σ_g u_g u_gᵀ,  u_g = Σ_{i∈g} Qᵢ ẽᵢ,  c = G/(G-1) · (n-1)/(n-r)

* CR2 (Bell & McCaffrey 2002; R ``clubSandwich::vcovCR(type="CR2")`` with the identity working
  model)::  ``u_g = Q_gᵀ (I - H_gg)^{-1/2} ẽ_g`` with ``H_gg = Q_g Q_gᵀ``, ``c = 1``
* CR3 (the cluster jackknife's approximation; ``clubSandwich`` ``type="CR3"``)::
  ``u_g = Q_gᵀ (I - H_gg)^{-1} ẽ_g``, ``c = 1``
* two-way (Cameron, Gelbach & Miller 2011; statsmodels ``cov_cluster_2groups``):
  ``V = V_1 + V_2 - V_12`` with ``V_12`` clustered on the intersections, each CR1.

t and F use ``G - 1`` degrees of freedom (``min(G_1, G_2) - 1`` two-way), as Stata and
statsmodels (``df_resid_inference``).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from ..errors import DataError, DimensionError

__all__ = [
    "CLUSTER_TYPES",
    "ClusterAccumulator",
    "adjusted_cluster_scores",
    "cr1_factor",
    "group_codes",
]

ClusterType = Literal["CR1", "CR2", "CR3"]
CLUSTER_TYPES: tuple[str, ...] = get_args(ClusterType)


def group_codes(groups: Any, n: int, what: str = "groups") -> tuple[np.ndarray, int]:
    """(codes (n,) int64 in [0, G), G) of one column of group labels.

    Raises
    ------
    DimensionError
        ``groups`` does not have ``n`` rows.
    DataError
        A label is missing (None or NaN; the row is named), or there is only one group.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != n:
        raise DimensionError(
            f"{what} must have one label per row of the fit: {n} rows, got shape {g.shape}"
        )
    missing = _missing(g)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{what} has a missing label at row {i} ({int(missing.sum())} missing in all); "
            "every row of the fit needs a cluster (drop those rows before fitting)"
        )
    if g.dtype == object:
        g = g.astype(str)
    labels, codes = np.unique(g, return_inverse=True)
    if labels.size < 2:
        raise DataError(
            f"{what} has {labels.size} cluster(s); a cluster-robust covariance needs at least 2 "
            "(it has G - 1 degrees of freedom)"
        )
    return codes.astype(np.int64).reshape(-1), int(labels.size)


def _missing(g: np.ndarray) -> np.ndarray:
    if g.dtype.kind == "f":
        return np.isnan(g)
    if g.dtype == object:
        return np.array([v is None or (isinstance(v, float) and v != v) for v in g], dtype=bool)
    return np.zeros(g.shape, dtype=bool)


def cr1_factor(n_groups: int, nobs: int, rank: int) -> float:
    """``G/(G-1) · (n-1)/(n-r)``: Stata's and statsmodels' small-sample factor."""
    return n_groups / (n_groups - 1.0) * (nobs - 1.0) / (nobs - rank)


class ClusterAccumulator:
    """Per-cluster score sums ``u_g = Σ_{i∈g} Qᵢ ẽᵢ`` folded block by block.

    ``fold(Q (b, r), E (b, q), codes (b,))``; ``meats(n_groups)`` gives (q, r, r) ``Σ_g u_g u_gᵀ``.
    """

    def __init__(self, n_groups: int, r: int, q: int) -> None:
        self.sums = np.zeros((n_groups, r, q))

    def fold(self, Q: np.ndarray, E: np.ndarray, codes: np.ndarray) -> None:
        G, r, q = self.sums.shape
        # one bincount per output over the flattened (b, r) scores: bin g·r + m
        bins = (codes[:, None] * r + np.arange(r)).ravel()
        for j in range(q):
            scores = Q * E[:, j : j + 1]  # (b, r), contiguous
            self.sums[:, :, j] += np.bincount(
                bins, weights=scores.ravel(), minlength=G * r
            ).reshape(G, r)

    def meats(self) -> np.ndarray:
        return np.einsum("gaj,gbj->jab", self.sums, self.sums)


def adjusted_cluster_scores(
    Q: np.ndarray, E: np.ndarray, codes: np.ndarray, n_groups: int, kind: str
) -> np.ndarray:
    """(G, r, q) ``u_g = Q_gᵀ A_g ẽ_g`` with ``A_g = (I - Q_g Q_gᵀ)^{-1/2}`` (CR2) or ``^{-1}`` (CR3).

    With the thin SVD ``Q_g = U Σ Vᵀ``: ``Q_gᵀ A_g ẽ = Q_gᵀ ẽ + V Σ (f(σ²) - 1) Uᵀ ẽ``, where
    ``f(λ) = (1 - λ)^{-1/2}`` or ``(1 - λ)^{-1}``: only an (n_g, r) SVD per cluster. A cluster
    whose ``I - H_gg`` is singular (it holds a direction no other cluster has) gives NaN.
    """
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
    r, q = Q.shape[1], E.shape[1]
    out = np.empty((n_groups, r, q))
    power = -0.5 if kind == "CR2" else -1.0
    for g in range(n_groups):
        rows = order[bounds[g] : bounds[g + 1]]
        Qg, Eg = Q[rows], E[rows]  # (n_g, r), (n_g, q)
        U, sv, Vt = np.linalg.svd(Qg, full_matrices=False)
        lam = sv * sv
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(lam < 1.0 - 1e-12, (1.0 - lam) ** power, np.nan)
        out[g] = Qg.T @ Eg + Vt.T @ ((sv * (f - 1.0))[:, None] * (U.T @ Eg))
    return out
