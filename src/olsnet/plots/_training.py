"""The training picture: loss against epoch, its gap to the exact optimum, coefficient paths."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DimensionError, InputTypeError
from ._figure import LINE_COLORS, OLS_COLOR, fmt_num, new_figure, save

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Reference", "plot_training", "reference_of"]

MAX_COEF_PANELS = 12
# olsnet's one loss scale (TrainingLog.loss, compare, inference_at, this figure)
LOSS_LABEL = "J = Σ w (y − ŷ)² / 2 Σ w"


@dataclass(frozen=True)
class Reference:
    """The exact optimum a training run is compared with.

    loss : float or None
        Optimal value of the training objective ``Σ w ‖y − ŷ‖² / (2 Σ w)`` (summed over outputs).
    params : (k,) or None
        Optimal coefficients of a single output, intercept first (None for several outputs).
    names : tuple of str
        One name per coefficient ("Intercept", then the columns).
    n_outputs : int
    """

    loss: float | None
    params: np.ndarray | None
    names: tuple[str, ...]
    n_outputs: int = 1


def reference_of(reference: Any) -> Reference | None:
    """The optimum from a number (loss), a RegressionResult or a fitted estimator."""
    if reference is None:
        return None
    if isinstance(reference, (int, float, np.floating)):
        return Reference(float(reference), None, ())
    result = getattr(reference, "result_", None) or reference
    if hasattr(result, "ssr") and hasattr(result, "params") and hasattr(result, "sum_weights"):
        params = np.asarray(result.params, dtype=np.float64)
        loss = float(np.sum(result.ssr)) / (2.0 * float(result.sum_weights))
        q = 1 if params.ndim == 1 else params.shape[1]
        return Reference(loss, params if q == 1 else None, tuple(result.param_names), q)
    if hasattr(reference, "coef_") and hasattr(reference, "intercept_"):
        coef = np.atleast_2d(np.asarray(reference.coef_, dtype=np.float64))  # (q, p)
        names = getattr(reference, "feature_names_in_", None)
        p = coef.shape[1]
        names = tuple(names) if names is not None else tuple(f"x{j + 1}" for j in range(p))
        intercept = np.atleast_1d(np.asarray(reference.intercept_, dtype=np.float64))
        first = np.concatenate([intercept[:1], coef[0]]) if coef.shape[0] == 1 else None
        return Reference(None, first, ("Intercept", *names), coef.shape[0])
    raise InputTypeError(
        "reference must be the optimal loss (a number), a RegressionResult or a fitted "
        f"LinearRegression; got {type(reference).__name__}"
    )


def _epochs_for(rows: int, log: Any) -> np.ndarray:
    n_loss = len(np.asarray(log.loss))
    if rows == n_loss:
        return np.arange(rows)
    if rows == n_loss - 1:
        return np.arange(1, rows + 1)
    raise DimensionError(
        f"coef_paths has {rows} rows; the log has {n_loss} loss values (epochs 0..{n_loss - 1}): "
        "give one row per epoch, with or without the starting point"
    )


def _logs_of(log: Any) -> list[Any]:
    """One log, or a sequence of them (each with a non-empty 1-D ``loss``)."""
    logs = list(log) if isinstance(log, (list, tuple)) else [log]
    if not logs:
        raise InputTypeError("plot_training needs at least one TrainingLog")
    for i, one in enumerate(logs):
        loss = np.asarray(getattr(one, "loss", None), dtype=np.float64)
        if loss.ndim != 1 or loss.size == 0:
            where = f"log[{i}]" if len(logs) > 1 else "log"
            raise InputTypeError(f"{where}.loss must be a non-empty 1-D array of losses per epoch")
    return logs


def _label(log: Any, logs: list[Any]) -> str:
    """The legend entry of a loss curve: its optimizer, with the learning rate if it differs."""
    opt = str(getattr(log, "optimizer", "") or "training")
    same = [g for g in logs if getattr(g, "optimizer", None) == getattr(log, "optimizer", None)]
    lr = getattr(log, "lr", None)
    if len(same) > 1 and lr is not None:
        opt += f", lr {fmt_num(float(lr), 3)}"
    return f"training loss ({opt})"


def plot_training(
    log: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    reference: Any = None,
    coef_paths: Any = None,
    coef_names: Sequence[str] | None = None,
    ax: Any = None,
) -> Figure:
    """Loss against epoch and each coefficient's path to its exact value.

    Parameters
    ----------
    log : TrainingLog or sequence of TrainingLog
        From ``olsnet.train`` / ``LinearNetwork.fit`` (``loss`` per epoch, ``optimizer``,
        ``stop_reason``). Several logs (e.g. one per optimizer on the same data) are drawn on
        the same axes, one colour each, labelled by optimizer (and learning rate when two
        share an optimizer).
    path : str or path-like, optional
        Where to save the figure; ``.png``, ``.svg`` or ``.pdf`` by extension.
    reference : float, RegressionResult or fitted LinearRegression, optional
        The exact optimum: its loss is drawn as a horizontal line (and the relative gap is
        plotted), its coefficients as dashed lines in the coefficient panels.
    coef_paths : array-like of shape (epochs + 1, k) or (epochs, k), optional
        The collapsed coefficients (intercept first) after each epoch, e.g. collected by a
        ``callback``; one small panel per coefficient. Only with a single log.
    coef_names : sequence of str, optional
        Names of the k coefficients; default: the reference's names.
    ax : matplotlib Axes, optional
        Draw only the loss curves (and the optimum's line) into this Axes of the caller's
        figure; no gap or coefficient panels. The Axes' figure is returned (and saved to
        ``path`` when given).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputTypeError
        A log without a 1-D ``loss``, or a reference of an unknown kind.
    DimensionError
        ``coef_paths`` whose rows or columns do not fit the log, the names or the reference;
        ``coef_paths`` with several logs or with ``ax``.

    Notes
    -----
    The loss is olsnet's one loss scale, the training objective
    ``J = Σ w ‖y − ŷ‖² / (2 Σ w)`` (half the weighted mean squared error, summed over outputs;
    ``TrainingLog.loss``, ``compare`` and ``inference_at`` use the same scale). Its minimum over
    affine maps is ``ssr / (2 Σ w)`` of the exact fit. The relative gap ``(J − J*) / J*`` is
    drawn down to ``1e-16``, where double precision ends.
    """
    logs = _logs_of(log)
    ref = reference_of(reference)
    paths = None
    if coef_paths is not None:
        if len(logs) > 1 or ax is not None:
            raise DimensionError(
                "coef_paths are drawn for a single log in a figure of its own "
                f"(got {len(logs)} logs{' and ax=' if ax is not None else ''})"
            )
        paths = np.asarray(coef_paths, dtype=np.float64)
        paths = paths[:, None] if paths.ndim == 1 else paths
        path_epochs = _epochs_for(paths.shape[0], logs[0])
    k = 0 if paths is None else paths.shape[1]
    names: tuple[str, ...] = ()
    if paths is not None:
        if coef_names is not None:
            names = tuple(str(n) for n in coef_names)
        elif ref is not None and ref.names:
            names = ref.names
        else:
            names = ("Intercept", *(f"x{j}" for j in range(1, k)))
        if len(names) != k:
            raise DimensionError(f"{len(names)} coefficient names for {k} coefficient paths")
        if ref is not None and ref.n_outputs != 1:
            raise DimensionError(
                f"coefficient paths are drawn for one output; the reference has {ref.n_outputs} "
                "outputs (pass the exact fit of the output the paths belong to)"
            )
        if ref is not None and ref.params is not None and ref.params.size != k:
            raise DimensionError(
                f"coef_paths has {k} columns; the reference has {ref.params.size} coefficients"
            )

    if ax is not None:
        _loss_panel(ax, logs, ref)
        ax.set_xlabel("epoch")
        save(ax.figure, path)
        return ax.figure

    from matplotlib.ticker import MaxNLocator

    shown = min(k, MAX_COEF_PANELS)
    n_cols = 0 if shown == 0 else min(4, shown)
    n_rows = max(2, math.ceil(shown / 4)) if shown else 2
    width = max(8.0, 5.2 + 2.6 * n_cols)
    fig = new_figure(width, 2.6 * n_rows + 0.9)
    gs = fig.add_gridspec(n_rows, 2 + n_cols, width_ratios=[1.0, 1.0] + [1.0] * n_cols)
    loss_ax = fig.add_subplot(gs[: n_rows // 2 if ref and ref.loss else n_rows, :2])
    _loss_panel(loss_ax, logs, ref)
    if ref is not None and ref.loss is not None:
        gap_ax = fig.add_subplot(gs[n_rows // 2 :, :2], sharex=loss_ax)
        _gap_panel(gap_ax, logs, ref.loss)
    else:
        loss_ax.set_xlabel("epoch")

    if paths is not None:
        for j in range(shown):
            cax = fig.add_subplot(gs[j // n_cols, 2 + j % n_cols])
            cax.plot(
                path_epochs, paths[:, j], color=LINE_COLORS[(j + 2) % len(LINE_COLORS)], lw=1.5
            )
            title = names[j]
            if ref is not None and ref.params is not None:
                target = ref.params[j]
                cax.axhline(target, color=OLS_COLOR, ls="--", lw=1.0)
                err = abs(paths[-1, j] - target) / max(abs(target), 1e-300)
                title += f"\nOLS {fmt_num(target, 5)}, final rel. err {fmt_num(err, 1)}"
            cax.set_title(title, fontsize=8.5)
            cax.xaxis.set_major_locator(MaxNLocator(integer=True))
            cax.tick_params(labelsize=7)
            cax.yaxis.get_offset_text().set_fontsize(7)
            cax.grid(True, color="0.92")
            if j // n_cols == (shown - 1) // n_cols:
                cax.set_xlabel("epoch", fontsize=8)
        if k > shown:
            fig.text(0.99, 0.01, f"{k - shown} more coefficients not shown", ha="right", fontsize=8)
    fig.suptitle(textwrap.fill(_heading(logs), width=int(12 * width)), fontsize=10.5)
    save(fig, path)
    return fig


def _loss_panel(ax: Any, logs: list[Any], ref: Reference | None) -> None:
    """The loss curves of ``logs`` (log scale) and the exact optimum as a dashed line."""
    for i, one in enumerate(logs):
        loss = np.asarray(one.loss, dtype=np.float64)
        color = LINE_COLORS[i % len(LINE_COLORS)]
        ax.plot(np.arange(loss.size), loss, color=color, lw=1.6, label=_label(one, logs))
    if ref is not None and ref.loss is not None:
        ax.axhline(
            ref.loss,
            color=OLS_COLOR,
            ls="--",
            lw=1.1,
            label=f"exact optimum {fmt_num(ref.loss, 6)}",
        )
    ax.set_yscale("log")
    ax.set(title="loss against epoch", ylabel=LOSS_LABEL)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(True, which="major", color="0.92")


def _gap_panel(ax: Any, logs: list[Any], optimum: float) -> None:
    """Each log's relative gap to the optimum, floored at 1e-16."""
    floor = 1e-16
    finals = []
    for i, one in enumerate(logs):
        loss = np.asarray(one.loss, dtype=np.float64)
        gap = (loss - optimum) / abs(optimum) if optimum else loss - optimum
        color = LINE_COLORS[i % len(LINE_COLORS)]
        ax.plot(np.arange(loss.size), np.maximum(gap, floor), color=color, lw=1.6)
        final = gap[-1]
        finals.append(fmt_num(final, 2) if final > floor else "< 1e−16")
    ax.set_yscale("log")
    ax.set(title="relative gap to the exact optimum", xlabel="epoch", ylabel="(J − J*) / J*")
    ax.grid(True, which="major", color="0.92")
    ax.annotate(
        f"final: {', '.join(finals)}", xy=(0.98, 0.95), xycoords="axes fraction", ha="right",
        va="top", fontsize=8,
    )  # fmt: skip


def _heading(logs: list[Any]) -> str:
    if len(logs) > 1:
        opts = ", ".join(str(getattr(g, "optimizer", "?")) for g in logs)
        return f"training a linear network: {opts}"
    one = logs[0]
    opt = getattr(one, "optimizer", "")
    head = f"training a linear network with {opt}" if opt else "training"
    reason = getattr(one, "stop_reason", "")
    if reason:
        head += f": {getattr(one, 'epochs', len(one.loss) - 1)} epochs, {reason}"
    return head
