"""Choosing a covariance: the middle ``S`` of ``V = F S Fᵀ`` for every ``cov_type``.

``F = T R⁻¹`` maps the solver's ``Q`` coordinates to the user's coefficients (see
:mod:`._rows`); each covariance type only differs in its middle ``S`` (q, r, r):

================  ==========================================================  ==============
cov_type          S                                                           t, F df
================  ==========================================================  ==============
nonrobust         ``s² I``                                                    n - r
HC0..HC3          the HC meats of :mod:`.covariance` (HC1 times n/(n - r))    n - r
cluster           CR1 / CR2 / CR3 meats of :mod:`._cluster`; two-way sum      G - 1
HAC               Newey-West meat of :mod:`._hac`                             n - r
================  ==========================================================  ==============

A covariance that cannot be computed honestly (HC2/HC3 with a row of leverage 1, CR2/CR3
with a singular ``I - H_gg``) gives a NaN middle and a reason, never a finite arbitrary number.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, DimensionError, NotAvailableWarning, OptionError
from ..solve._residuals import RowMap, row_pass
from ._cluster import (
    CLUSTER_TYPES,
    ClusterAccumulator,
    adjusted_cluster_scores,
    cluster_sums,
    cr1_factor,
    group_codes,
    scores,
)
from ._cluster_stream import gathered_labels, streamed_cr1
from ._hac import HacAccumulator, kernel_weights
from ._rows import REFINE_CONDITION, refined_hc_meats, row_blocks, scaled_condition
from ._statistics import scale_values
from .covariance import hc_scale

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["CovChoice", "choose_covariance"]

_MEAT_SLOT = {"HC0": 0, "HC1": 0, "HC2": 1, "HC3": 2}


@dataclass(frozen=True)
class CovChoice:
    """A covariance's middle (q, r, r), why it is not available, its df and its description."""

    middle: np.ndarray
    reason: str | None
    df_inference: float | None
    kwds: tuple[tuple[str, Any], ...]


def choose_covariance(res: RegressionResult, cov_type: str, **options: Any) -> CovChoice:
    """The middle of ``cov_type``'s covariance for ``res`` (options as in ``with_cov``)."""
    allowed = {
        "cluster": {"groups", "cluster_type", "use_correction"},
        "HAC": {"maxlags", "kernel", "use_correction"},
    }
    unknown = set(options) - allowed.get(cov_type, set())
    if unknown:
        raise OptionError(
            f"with_cov({cov_type!r}) takes no option(s) {sorted(unknown)}; "
            f"{cov_type!r} takes {sorted(allowed.get(cov_type, set())) or 'none'}"
        )
    if cov_type == "nonrobust":
        return CovChoice(scale_values(res)[:, None, None] * np.eye(res.rank), None, None, ())
    if cov_type in _MEAT_SLOT:
        return _hc(res, cov_type)
    if cov_type == "cluster":
        return _cluster(res, **options)
    return _hac(res, **options)


# HC2/HC3 leverage 1: R's rule is ``h > 1 - 10 eps`` on Householder leverages (accurate to a few
# eps); the pass's ``‖Z R⁻¹‖²`` are accurate to about REORTHOGONALIZE_ABOVE = 1e-13 only, so a
# row of leverage exactly 1 (a dummy column with one 1) came out as 1 - 1.7e-14 and HC3 gave
# a finite number of rounding noise (0/0: e² ~ 1e-28 over (1 - h)² ~ 1e-28) where R gives NaN
HC_LEVERAGE_ONE = 1.0 - 1e-12


def _hc(res: RegressionResult, kind: str) -> CovChoice:
    dp = res.residual_pass(f"cov_type={kind!r}", kinds=(kind,))  # only the meat it needs
    meats = refined_meats(res, dp)  # ill-conditioned designs: rows re-orthogonalized (_rows)
    middle = hc_scale(kind, res.nobs, res.df_resid) * meats[:, _MEAT_SLOT[kind]]
    if kind in ("HC2", "HC3"):
        from .influence import collect_rows

        if dp.max_leverage > HC_LEVERAGE_ONE:
            shown = "some"
            if res.source is not None:  # name them (a second pass, only in this rare case)
                Q = collect_rows(res, f"cov_type={kind!r}")["Q"]
                h = np.einsum("ij,ij->i", Q, Q)
                # the same cut as the pass's; the largest row at least (the two computations
                # of h may differ in the last digits: no empty list)
                rows = np.flatnonzero(h > HC_LEVERAGE_ONE)
                rows = rows if rows.size else np.array([int(np.argmax(h))] if h.size else [])
                shown = ", ".join(str(i) for i in rows[:10]) + (" ..." if rows.size > 10 else "")
            why = (
                f"row(s) {shown} have leverage 1 (within 1e-12, the accuracy of the pass's "
                f"leverages; R's rule is 10 eps on its own), where {kind} divides 0 by 0; use "
                "HC0 or HC1, or drop those rows"
            )
            warnings.warn(f"{kind} is not available: {why}", NotAvailableWarning, stacklevel=4)
            return CovChoice(np.full_like(middle, np.nan), why, None, ())
    return CovChoice(middle, None, None, ())


_REFINED: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()
_REFINED_LOCK = threading.Lock()


# Column offsets far beyond the scales (X + 1e9): the one-pass meats take residuals from the
# user-coordinate intercept (b0 ≈ -c·β) and ``Q`` from ``X G - c G``, both cancelling about
# this many times eps (at X + 1e9 HC3 SEs were 3e-8 off statsmodels on the shifted rows; the
# refined passes, which centre every block, are at 1e-15)
OFFSET_REFINE = 1e4


def offset_cancellation(res: RegressionResult) -> float:
    """How many times the fitted values' and the rows' magnitudes exceed their scales: the
    larger of ``(|b0| + |c|·|β|) / s`` (per output) and ``|cⱼ| √(n (XᵀX)⁻¹ⱼⱼ)`` (per column)."""
    sol = res.solution
    if not sol.fit_intercept or not np.any(sol.shift_x):
        return 0.0
    coef = np.nan_to_num(np.asarray(sol.params, dtype=np.float64))
    shift = np.abs(np.asarray(sol.shift_x, dtype=np.float64))
    s = np.sqrt(np.maximum(scale_values(res), np.finfo(float).tiny))
    fitted = float(np.max((np.abs(coef[0]) + shift @ np.abs(coef[1:])) / s))
    spread = np.nan_to_num(np.diag(np.asarray(sol.cov_unscaled, dtype=np.float64))[1:])
    rows = float(np.max(shift * np.sqrt(max(res.nobs, 1) * np.abs(spread)), initial=0.0))
    return max(fitted, rows)


def refined_meats(res: RegressionResult, dp: Any) -> np.ndarray:
    """``dp.meats``, or for a design above ``REFINE_CONDITION`` (or with column offsets above
    ``OFFSET_REFINE``) with its rows attached the meats of :func:`._rows.refined_hc_meats`
    (made once per residual pass)."""
    if res.source is None or (
        scaled_condition(res.solution) <= REFINE_CONDITION
        and offset_cancellation(res) <= OFFSET_REFINE
    ):
        return dp.meats
    with _REFINED_LOCK:
        found = _REFINED.get(dp)
    if found is None:
        found = refined_hc_meats(res.solution, res.source)[0]
        with _REFINED_LOCK:
            _REFINED[dp] = found
    return found


def _scores(res: RegressionResult, what: str) -> Any:
    """Per block of the attached data: (Q (b, r), Ẽ (b, q)) with Ẽ the weighted residuals."""
    if res.source is None:
        raise DataError(
            f"{what} needs the rows the model was fitted on (a second pass), and none are "
            "attached; attach them with result.with_data(X, y) or fit on the data"
        )
    for Q, fitted, Y, w in row_blocks(res.solution, res.source):
        yield Q, (Y - fitted) * np.sqrt(w)[:, None]


def _group_columns(res: RegressionResult, groups: Any, n: int) -> list[np.ndarray]:
    """One or two label arrays (n,) from ``groups``: an array, (n, 2), a pair, or names."""
    if groups is None:
        raise OptionError("with_cov('cluster') needs groups=: one label per row (or two columns)")
    names = _label_names(groups)
    if names is not None:
        return gathered_labels(res, names)
    if hasattr(groups, "columns") and not isinstance(groups, np.ndarray):  # a DataFrame
        return [np.asarray(groups[c]) for c in groups.columns]
    if (
        isinstance(groups, (tuple, list))
        and len(groups) == 2
        and all(np.ndim(g) == 1 and np.shape(g)[0] == n for g in groups)
        and n != 2
    ):
        return [np.asarray(groups[0]), np.asarray(groups[1])]  # two-way: a pair of columns
    g = np.asarray(groups)
    if g.ndim == 2:
        return [g[:, j] for j in range(g.shape[1])]
    return [g]


def _label_names(groups: Any) -> tuple[Any, ...] | None:
    """``groups`` as columns the source reads alongside its rows -- column names, or dask
    collections (read partition by partition) -- one or a list / tuple of two; else None."""

    def read_along(g: Any) -> bool:
        return isinstance(g, str) or (hasattr(g, "dask") and hasattr(g, "to_delayed"))

    if read_along(groups):
        return (groups,)
    # one or two names: a longer list of text is one label per row (as statsmodels takes it)
    if isinstance(groups, (tuple, list)) and 0 < len(groups) <= 2 and all(map(read_along, groups)):
        texts = [g for g in groups if isinstance(g, str)]
        twice = next((g for i, g in enumerate(texts) if g in texts[:i]), None)
        if twice is not None:
            raise OptionError(
                f"groups names the column {twice!r} twice; two-way clustering needs two "
                "different columns (one name: one-way)"
            )
        return tuple(groups)
    return None


def _n_rows(res: RegressionResult) -> int:
    return sum(int(np.asarray(X).shape[0]) for X, _Y, _w in res.source.blocks())


def _cluster(
    res: RegressionResult,
    groups: Any = None,
    cluster_type: str = "CR1",
    use_correction: bool = True,
) -> CovChoice:
    if cluster_type not in CLUSTER_TYPES:
        raise OptionError(
            f"cluster_type={cluster_type!r} is not accepted; use one of {CLUSTER_TYPES}"
        )
    if res.source is None:
        list(_scores(res, "cov_type='cluster'"))  # raises the DataError
    names = _label_names(groups)
    if names is not None and cluster_type == "CR1" and len(names) <= 2:
        # column names: labels read alongside the rows in one pass (files, dask: not held)
        middle, df, streamed = streamed_cr1(res, names, use_correction)
        return CovChoice(middle, None, df, streamed)
    n = _n_rows(res)
    columns = _group_columns(res, groups, n)
    if len(columns) > 2:
        raise DimensionError(f"groups has {len(columns)} columns; one- or two-way clustering only")
    coded = [
        group_codes(c, n, f"groups column {i}" if len(columns) > 1 else "groups")
        for i, c in enumerate(columns)
    ]
    if len(coded) == 2:
        if cluster_type != "CR1":
            raise OptionError(
                "two-way clustering is CR1 (Cameron, Gelbach & Miller); use cluster_type='CR1'"
            )
        (c1, g1), (c2, g2) = coded
        both, g12 = group_codes(c1 * g2 + c2, n, "groups intersections")
        m1, m2, m12 = (_cr1_meats(res, c, g) for c, g in ((c1, g1), (c2, g2), (both, g12)))
        f = (lambda g: cr1_factor(g, res.nobs, res.rank)) if use_correction else (lambda g: 1.0)
        middle = f(g1) * m1 + f(g2) * m2 - f(g12) * m12
        kwds: tuple[tuple[str, Any], ...] = (
            ("groups", "two-way"),
            ("n_groups", (g1, g2)),
            ("cluster_type", "CR1"),
        )
        return CovChoice(middle, None, float(min(g1, g2) - 1), kwds)
    codes, G = coded[0]
    kwds = (("groups", "one-way"), ("n_groups", G), ("cluster_type", cluster_type))
    if cluster_type == "CR1":
        factor = cr1_factor(G, res.nobs, res.rank) if use_correction else 1.0
        return CovChoice(factor * _cr1_meats(res, codes, G), None, float(G - 1), kwds)
    parts = list(_scores(res, f"cov_type='cluster' ({cluster_type})"))
    Q = np.concatenate([p[0] for p in parts])
    E = np.concatenate([p[1] for p in parts])
    u = adjusted_cluster_scores(Q, E, codes, G, cluster_type)  # (G, r, q)
    middle = np.einsum("gaj,gbj->jab", u, u)
    reason = None
    if not np.isfinite(middle).all():
        middle = np.full_like(middle, np.nan)
        reason = (
            f"{cluster_type} is not defined: a cluster holds a direction of the design no other "
            "cluster has (I - H_gg is singular); use CR1"
        )
    return CovChoice(middle, reason, float(G - 1), kwds)


def _cr1_meats(res: RegressionResult, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """(q, r, r) ``Σ_g u_g u_gᵀ`` from one blocked, threaded pass over the attached rows.

    Each chunk's scores ``Qᵢ ẽᵢ`` come from the shared row kernel (:class:`RowMap`); each
    thread sums a span of chunks by cluster (one sparse indicator product:
    :func:`._cluster.cluster_sums`), and the spans are added in row order.
    """
    if res.source is None:
        list(_scores(res, "cov_type='cluster'"))  # raises the DataError
    sol = res.solution
    rows = RowMap(sol.params, sol.R_x, sol.shift_x, sol.kept, sol.fit_intercept)

    def chunk_scores(start: int, Q: np.ndarray, E: np.ndarray, _w: Any) -> tuple[int, np.ndarray]:
        return start, scores(Q, E)  # (c, r·q)

    def by_cluster(parts: list[tuple[int, np.ndarray]]) -> tuple[Any, np.ndarray]:
        S = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
        start = parts[0][0]
        return cluster_sums(codes[start : start + S.shape[0]], S, n_groups)

    acc = ClusterAccumulator(n_groups, res.rank, res.n_outputs)
    for groups, sums in row_pass(res.source.blocks(), rows, chunk_scores, finish=by_cluster):
        acc.add(groups, sums)
    return acc.meats()


def _hac(
    res: RegressionResult,
    maxlags: Any = None,
    kernel: str = "bartlett",
    use_correction: bool = False,
) -> CovChoice:
    if maxlags is None or isinstance(maxlags, bool) or not isinstance(maxlags, (int, np.integer)):
        raise OptionError(f"with_cov('HAC') needs maxlags= a whole number >= 0; got {maxlags!r}")
    n = res.nobs
    if not 0 <= int(maxlags) < n:
        raise OptionError(
            f"maxlags={maxlags} is out of range: lags run from 0 to nobs - 1 = {n - 1}"
        )
    kernel_weights(kernel, int(maxlags))  # checks the kernel's name
    acc = HacAccumulator(int(maxlags), res.rank, res.n_outputs)
    for Q, E in _scores(res, "cov_type='HAC'"):
        acc.fold(Q, E)
    middle = acc.meats(kernel)
    if use_correction:
        middle = middle * n / res.df_resid
    kwds = (("maxlags", int(maxlags)), ("kernel", kernel), ("use_correction", bool(use_correction)))
    return CovChoice(middle, None, None, kwds)
