"""Regression diagnostics in four panels, as R's ``plot.lm`` draws them.

1. residuals against fitted values, 2. normal Q-Q of the standardized residuals,
3. scale-location (√|standardized residual| against fitted), 4. standardized residuals against
leverage with Cook's distance contours at 0.5 and 1. Red lines are LOWESS smooths; the three
most extreme points of each panel are labelled with their row label.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, DimensionError, InputTypeError
from ._figure import new_figure, save
from ._influence import lowess, normal_positions

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Diagnostics", "diagnostics", "plot_diagnostics"]

SMOOTH_COLOR = "#d62728"
POINT_COLOR = "#3b5b92"
N_LABELLED = 3  # R's plot.lm id.n


@dataclass(frozen=True)
class Diagnostics:
    """Per-row quantities of a fit, for rows of positive weight (shapes (n,)).

    fitted, resid : fitted values and raw residuals ``y − ŷ``.
    hat : leverage (diagonal of the hat matrix).
    std_resid : internally studentized residuals (R's ``rstandard``).
    cooks : Cook's distance.
    labels : row labels (the row's index in the data unless given).
    n_params : rank of the design (``k`` in Cook's distance).
    """

    fitted: np.ndarray
    resid: np.ndarray
    hat: np.ndarray
    std_resid: np.ndarray
    cooks: np.ndarray
    labels: tuple[str, ...]
    n_params: int
    title: str


def _result_of(model: Any) -> Any:
    result = getattr(model, "result_", None) or model
    if not hasattr(result, "params") or not hasattr(result, "fit_intercept"):
        raise InputTypeError(
            "plot_diagnostics takes a RegressionResult or a fitted LinearRegression; got "
            f"{type(model).__name__}"
        )
    return result


def diagnostics(
    result: Any,
    *,
    X: Any = None,
    y: Any = None,
    sample_weight: Any = None,
    target: int | str | None = None,
    labels: Sequence[Any] | None = None,
) -> Diagnostics:
    """Fitted values, residuals, leverage, standardized residuals and Cook's distance.

    The data are ``X, y`` (and ``sample_weight``) when given, else the rows attached to the
    result. Rows of zero weight are left out, as R's ``plot.lm`` leaves them out.
    """
    result = _result_of(result)
    params = np.asarray(result.params, dtype=np.float64)
    params = params[:, None] if params.ndim == 1 else params  # (k, q)
    q = params.shape[1]
    tnames = tuple(result.target_names)
    if target is None:
        if q != 1:
            raise DimensionError(
                f"this result has {q} outputs ({', '.join(tnames)}); choose one with target=..."
            )
        t = 0
    elif isinstance(target, str):
        if target not in tnames:
            raise DimensionError(
                f"target {target!r} is not an output; outputs: {', '.join(tnames)}"
            )
        t = tnames.index(target)
    else:
        t = int(target)
        if not 0 <= t < q:
            raise DimensionError(f"target={target} is out of range for {q} outputs")

    if X is None:
        if y is not None or sample_weight is not None:
            raise DataError("pass X together with y (and sample_weight) to plot_diagnostics")
        if getattr(result, "source", None) is None:
            raise DataError(
                "plot_diagnostics needs the rows the model was fitted on, and this result has "
                "none attached (e.g. it was loaded from a file); pass them as "
                "plot_diagnostics(result, X=X, y=y)"
            )
    else:
        if y is None:
            raise DataError("plot_diagnostics: X was given without y; pass both")
        result = result.with_data(X, y, sample_weight)  # checked: the fit's own rows
    # every number from the fit's own influence measures (its rank, its 10 eps leverage rule)
    infl = result.get_influence()
    w = infl.weights

    def column(a: np.ndarray) -> np.ndarray:
        return a if a.ndim == 1 else a[:, t]

    fitted = column(np.asarray(result.fittedvalues))
    resid = column(np.asarray(result.resid))
    n = fitted.shape[0]
    row_labels = (
        tuple(str(v) for v in labels) if labels is not None else tuple(str(i) for i in range(n))
    )
    if len(row_labels) != n:
        raise DimensionError(f"labels has {len(row_labels)} entries for {n} rows")
    keep = np.ones(n, bool) if w is None else np.asarray(w) > 0  # zero weight: not observed
    std = column(infl.resid_studentized_internal)
    cooks = column(infl.cooks_distance[0])
    formula = f"{tnames[t]} ~ " + " + ".join(result.feature_names) if result.feature_names else ""
    return Diagnostics(
        fitted=fitted[keep],
        resid=resid[keep],
        hat=infl.hat_matrix_diag[keep],
        std_resid=std[keep],
        cooks=cooks[keep],
        labels=tuple(np.asarray(row_labels, dtype=object)[keep]),
        n_params=int(result.rank),
        title=formula,
    )


def _label_extremes(
    ax: Axes, x: np.ndarray, y: np.ndarray, score: np.ndarray, labels: Sequence[str]
) -> None:
    """Label the N_LABELLED points of largest ``score`` (NaN never)."""
    order = np.argsort(np.where(np.isfinite(score), score, -np.inf))[::-1][:N_LABELLED]
    for i in order:
        if np.isfinite(score[i]) and np.isfinite(y[i]):
            ax.annotate(
                labels[i],
                (x[i], y[i]),
                xytext=(4, 2),
                textcoords="offset points",
                fontsize=8,
                color="#333333",
            )


def _smooth(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() >= 3:
        xs, ys = lowess(x[ok], y[ok])
        ax.plot(xs, ys, color=SMOOTH_COLOR, lw=1.2)


def _scatter(ax: Axes, x: np.ndarray, y: np.ndarray) -> None:
    ax.scatter(x, y, s=22, facecolors="none", edgecolors=POINT_COLOR, linewidths=1.0)


def _draw(fig: Figure, d: Diagnostics) -> None:
    axes = fig.subplots(2, 2)
    ok = np.isfinite(d.std_resid)

    ax = axes[0, 0]  # residuals vs fitted
    _scatter(ax, d.fitted, d.resid)
    ax.axhline(0.0, color="0.5", ls=":", lw=1)
    _smooth(ax, d.fitted, d.resid)
    _label_extremes(ax, d.fitted, d.resid, np.abs(d.resid), d.labels)
    ax.set(title="Residuals vs Fitted", xlabel="fitted values", ylabel="residuals")

    ax = axes[0, 1]  # normal Q-Q
    order = np.argsort(np.where(ok, d.std_resid, np.inf))[: ok.sum()]
    theo = normal_positions(order.size)
    sample = d.std_resid[order]
    _scatter(ax, theo, sample)
    if order.size >= 4:
        qs = np.quantile(sample, [0.25, 0.75])
        qt = np.array([-0.6744897501960817, 0.6744897501960817])  # standard normal quartiles
        slope = (qs[1] - qs[0]) / (qt[1] - qt[0])
        ax.axline((qt[0], qs[0]), slope=slope, color="0.5", ls=":", lw=1)
    _label_extremes(ax, theo, sample, np.abs(sample), [d.labels[i] for i in order])
    ax.set(title="Normal Q-Q", xlabel="theoretical quantiles", ylabel="standardized residuals")

    ax = axes[1, 0]  # scale-location
    root = np.sqrt(np.abs(d.std_resid))
    _scatter(ax, d.fitted, root)
    _smooth(ax, d.fitted, root)
    _label_extremes(ax, d.fitted, root, root, d.labels)
    ax.set(title="Scale-Location", xlabel="fitted values", ylabel="√|standardized residuals|")

    ax = axes[1, 1]  # residuals vs leverage, Cook's distance contours
    _scatter(ax, d.hat, d.std_resid)
    ax.axhline(0.0, color="0.5", ls=":", lw=1)
    _smooth(ax, d.hat, d.std_resid)
    h_max = float(np.nanmax(d.hat[ok])) if ok.any() else 1.0
    hh = np.linspace(max(1e-3, 0.01 * h_max), min(0.999, 1.08 * h_max), 200)
    y_lim = np.nanmax(np.abs(d.std_resid[ok])) * 1.15 if ok.any() else 1.0
    for level, style in ((0.5, "--"), (1.0, "-.")):
        r = np.sqrt(level * d.n_params * (1 - hh) / hh)
        for sign in (1, -1):
            ax.plot(hh, sign * r, color=SMOOTH_COLOR, ls=style, lw=0.9, alpha=0.8)
        inside = r[-1] <= y_lim
        if inside:
            ax.text(hh[-1], r[-1], f" {level:g}", color=SMOOTH_COLOR, fontsize=8, va="center")
    ax.plot([], [], color=SMOOTH_COLOR, ls="--", lw=0.9, label="Cook's distance 0.5")
    ax.plot([], [], color=SMOOTH_COLOR, ls="-.", lw=0.9, label="Cook's distance 1")
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_ylim(-y_lim, y_lim)
    ax.set_xlim(0, hh[-1] * 1.06)
    _label_extremes(ax, d.hat, d.std_resid, np.nan_to_num(d.cooks, nan=-1.0), d.labels)
    ax.set(title="Residuals vs Leverage", xlabel="leverage", ylabel="standardized residuals")
    for a in axes.flat:
        a.grid(True, color="0.92", lw=0.6)
        a.set_axisbelow(True)


def plot_diagnostics(
    result: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    X: Any = None,
    y: Any = None,
    sample_weight: Any = None,
    target: int | str | None = None,
    labels: Sequence[Any] | None = None,
) -> Figure:
    """Four diagnostic panels of a fitted regression, as R's ``plot.lm``.

    Parameters
    ----------
    result : RegressionResult or fitted LinearRegression
    path : str or path-like, optional
        Where to save the figure; ``.png``, ``.svg`` or ``.pdf`` by extension.
    X, y, sample_weight : array-like, optional
        The data to diagnose; by default the rows attached to the result.
    target : int or str, optional
        Which output, for a model with several.
    labels : sequence, optional
        One label per row (e.g. years), used to mark the three most extreme points of each
        panel; default: the row's index.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    With weights ``w``, residuals ``e = y − ŷ``, leverage ``h`` (hat-matrix diagonal),
    ``σ̂² = Σ w e² / (n − k)`` and ``k`` the rank: standardized residual
    ``r = √w e / (σ̂ √(1 − h))``, Cook's distance ``D = r² h / (k (1 − h))``; the contours are
    ``r = ±√(D k (1 − h) / h)``. Smooths: LOWESS (Cleveland 1979, R's ``lowess`` defaults).

    References
    ----------
    R Core Team, ``plot.lm`` (package stats). Cook, R. D. (1977). Detection of influential
    observation in linear regression. *Technometrics*, 19(1), 15-18.
    """
    d = diagnostics(result, X=X, y=y, sample_weight=sample_weight, target=target, labels=labels)
    fig = new_figure(10.0, 8.0)
    _draw(fig, d)
    if d.title:
        fig.suptitle(f"lm({d.title})", fontsize=11)
    save(fig, path)
    return fig
