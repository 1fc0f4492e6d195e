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
    "cluster_sums",
    "cr1_factor",
    "group_codes",
    "group_sums",
    "scores",
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
    dense = _dense_integer_codes(g)
    if dense is None and g.dtype.kind in "OUS":
        dense = _text_codes(g)
    if dense is not None:
        codes, n_groups = dense
    else:
        if g.dtype == object:
            g = g.astype(str)
        labels, codes = np.unique(g, return_inverse=True)
        n_groups = int(labels.size)
    if n_groups < 2:
        raise DataError(
            f"{what} has {n_groups} cluster(s); a cluster-robust covariance needs at least 2 "
            "(it has G - 1 degrees of freedom)"
        )
    return codes.astype(np.int64, copy=False).reshape(-1), n_groups


def _text_codes(g: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``np.unique``'s codes of text labels by hashing (``pandas.factorize``, then its few
    uniques sorted) instead of sorting every row's string: 1,000,000 labels of 10,000 clusters
    took 1.3 s through ``np.unique`` and 0.1 s here. None without pandas, or for labels that
    are not all ``str`` (mixed objects keep ``np.unique`` on their text, as before)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        return None
    if g.dtype == object:
        kinds = pd.api.types.infer_dtype(g, skipna=False)
        if kinds != "string":
            return None
    codes, uniques = pd.factorize(g, sort=True)
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _dense_integer_codes(g: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``np.unique``'s codes of integer labels in a range of at most ``2 n + 1024`` values,
    without its sort: which values occur (one ``bincount``), their ranks (one ``cumsum``).
    None for other labels."""
    if g.dtype.kind not in "iu" or g.size == 0:
        return None
    lo, hi = int(g.min()), int(g.max())
    if hi - lo > 2 * g.size + 1024:
        return None
    offset = (g - lo) if lo else g
    present = np.bincount(offset.astype(np.intp, copy=False), minlength=hi - lo + 1) > 0
    rank = np.cumsum(present) - 1
    return rank[offset], int(rank[-1] + 1)


def cluster_sums(
    codes: np.ndarray, S: np.ndarray, n_groups: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(groups, sums)``: the rows of ``S`` (b, m) summed by group code (``groups`` None: all
    ``n_groups`` rows of ``sums``, in code order).

    With fewer groups than rows, one sparse product ``Aᵀ S`` with the (b, G) indicator ``A``
    (one entry a row: no sort, SciPy's compiled scatter-add); else :func:`group_sums` (only
    the groups present, so many groups cost no (G, m) array per block).
    """
    b = S.shape[0]
    if n_groups <= b:
        import scipy.sparse as sps

        indicator = sps.csc_matrix((np.ones(b), codes, np.arange(b + 1)), shape=(n_groups, b))
        return None, np.asarray(indicator @ S)
    return group_sums(codes, S, n_groups)


def group_sums(codes: np.ndarray, S: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """``(groups (m,), sums (m, ...))``: the rows of ``S`` (b, ...) summed by group code.

    One stable sort of the codes (a radix sort for up to 65,536 groups) and one
    ``np.add.reduceat`` over the sorted rows; ``groups`` are the codes present, ascending.
    """
    key = codes.astype(np.uint16) if n_groups <= 65536 else codes
    order = np.argsort(key, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.add.reduceat(S[order], starts, axis=0)


def _missing(g: np.ndarray) -> np.ndarray:
    if g.dtype.kind == "f":
        return np.isnan(g)
    if g.dtype == object:
        return np.array([v is None or (isinstance(v, float) and v != v) for v in g], dtype=bool)
    return np.zeros(g.shape, dtype=bool)


def cr1_factor(n_groups: int, nobs: int, rank: int) -> float:
    """``G/(G-1) · (n-1)/(n-r)``: Stata's and statsmodels' small-sample factor."""
    return n_groups / (n_groups - 1.0) * (nobs - 1.0) / (nobs - rank)


def scores(Q: np.ndarray, E: np.ndarray) -> np.ndarray:
    """(b, r·q) row-major scores ``Qᵢₐ ẽᵢⱼ`` at column ``a·q + j`` (the layout of the sums)."""
    b, r = Q.shape
    q = E.shape[1]
    out = np.empty((b, r, q))
    np.multiply(Q[:, :, None], E[:, None, :], out=out)
    return out.reshape(b, r * q)


class ClusterAccumulator:
    """Per-cluster score sums ``u_g = Σ_{i∈g} Qᵢ ẽᵢ`` folded block by block.

    ``fold(Q (b, r), E (b, q), codes (b,))``; ``meats(n_groups)`` gives (q, r, r) ``Σ_g u_g u_gᵀ``.
    """

    def __init__(self, n_groups: int, r: int, q: int) -> None:
        self.sums = np.zeros((n_groups, r, q))

    def fold(self, Q: np.ndarray, E: np.ndarray, codes: np.ndarray) -> None:
        if Q.shape[0]:
            self.add(*cluster_sums(codes, scores(Q, E), self.sums.shape[0]))

    def add(self, groups: np.ndarray | None, sums: np.ndarray) -> None:
        """Add ``sums`` (m, r·q) of the distinct codes ``groups`` (m,), or of every group when
        ``groups`` is None (as :func:`cluster_sums` gives them)."""
        G, r, q = self.sums.shape
        if groups is None:
            self.sums += sums.reshape(G, r, q)
        else:
            self.sums[groups] += sums.reshape(-1, r, q)

    def meats(self) -> np.ndarray:
        U = self.sums
        return np.stack([U[:, :, j].T @ U[:, :, j] for j in range(U.shape[2])])


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
