"""The network diagram: inputs, hidden nodes and outputs as in a textbook figure.

Edges are coloured by the sign of their weight (red positive, blue negative) and shaded by its
size relative to the largest weight of the same layer, on a log scale over four decades, so a
weight a thousand times smaller than its neighbours stays visible. Small layers carry the
weight's value on the edge; every node's equation and the collapsed regression
``ŷ = (cᵀW) x + (cᵀb + d)`` are written beside the diagram.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..affine import Affine
from ..errors import DimensionError, InputTypeError, NotAffineError
from ._figure import WEIGHT_CMAP, equation, fmt_num, new_figure, save

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["network_layers", "plot_network"]

# edges are labelled with their weight when their labels cannot collide: a layer feeding one
# node (labels near the sources) or fed by one node (labels near the targets)
# shading covers this many decades below the largest |weight| of a layer
DECADES = 4.0
# nodes are drawn 30 points wide; column names sit this far from a node's centre
NAME_OFFSET_PT = 20


@dataclass(frozen=True)
class _Layers:
    """A chain of affine layers: ``layers[i] = (W (out, in), b (out,))``, with names."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    collapsed: Affine
    kind: str
    note: str = ""


def _default_names(prefix: str, size: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i + 1}" for i in range(size))


def _from_affine(a: Affine, kind: str) -> _Layers:
    W = np.asarray(a.weight, dtype=np.float64)  # (q, p)
    b = np.asarray(a.bias, dtype=np.float64)  # (q,)
    fnames = a.feature_names or _default_names("x", W.shape[1])
    tnames = a.target_names or (("y",) if W.shape[0] == 1 else _default_names("y", W.shape[0]))
    return _Layers(((W, b),), fnames, tnames, Affine(W, b, fnames, tnames), kind)


def _from_regression(model: Any) -> _Layers:
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))  # (q, p)
    intercept = np.broadcast_to(
        np.asarray(model.intercept_, dtype=np.float64), (coef.shape[0],)
    ).copy()  # (q,)
    fnames = getattr(model, "feature_names_in_", None)
    result = getattr(model, "result_", None)
    if fnames is None and result is not None:
        fnames = getattr(result, "feature_names", None)
    tnames = getattr(result, "target_names", None) if result is not None else None
    a = Affine(
        coef,
        intercept,
        feature_names=tuple(fnames) if fnames is not None else None,
        target_names=tuple(tnames) if tnames is not None else None,
    )
    return _from_affine(a, "linear regression (one affine map)")


def _from_result(result: Any) -> _Layers:
    """A RegressionResult: ``params`` (k,) or (k, q), intercept first when fitted with one."""
    params = np.asarray(result.params, dtype=np.float64)
    params = params[:, None] if params.ndim == 1 else params  # (k, q)
    if result.fit_intercept:
        bias, W = params[0], params[1:].T  # (q,), (q, p)
    else:
        bias, W = np.zeros(params.shape[1]), params.T
    a = Affine(
        W, bias, feature_names=tuple(result.feature_names), target_names=tuple(result.target_names)
    )
    return _from_affine(a, "linear regression (one affine map)")


def _torch_layers(model: Any) -> _Layers:
    """Weights of a LinearNetwork (or any chain of nn.Linear with identity activations)."""
    import torch

    from .. import nn as onn  # the networks module (torch)

    collapsed = onn.collapse(model)  # raises NotAffineError for non-linear activations
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise NotAffineError(f"{type(model).__name__} contains no torch.nn.Linear layer to draw")
    layers = []
    for lin in linears:
        W = lin.weight.detach().to("cpu", torch.float64).numpy().copy()  # (out, in)
        if lin.bias is not None:
            b = lin.bias.detach().to("cpu", torch.float64).numpy().copy()  # (out,)
        else:
            b = np.zeros(W.shape[0])
        layers.append((W, b))
    for i in range(1, len(layers)):
        if layers[i][0].shape[1] != layers[i - 1][0].shape[0]:
            raise NotAffineError(
                f"{type(model).__name__}: layer {i} takes {layers[i][0].shape[1]} inputs but "
                f"layer {i - 1} gives {layers[i - 1][0].shape[0]}; only a plain chain of Linear "
                "layers can be drawn (plot olsnet.collapse(model) instead)"
            )
    p, q = layers[0][0].shape[1], layers[-1][0].shape[0]
    fnames = collapsed.feature_names or _default_names("x", p)
    tnames = collapsed.target_names or (("y",) if q == 1 else _default_names("y", q))
    chained = Affine(*layers[0])
    for W, b in layers[1:]:
        chained = chained.then(Affine(W, b))
    note = ""
    if not chained.allclose(
        collapsed, rtol=1e-9, atol=1e-12 * float(np.abs(collapsed.weight).max())
    ):
        # the network carries an input transformation (e.g. standardization) outside its
        # Linear layers: the drawn weights act on transformed inputs, collapse undoes it
        note = (
            "drawn weights act on standardized inputs;\n"
            "the collapsed regression is in the data's units"
        )
    widths = "-".join(str(W.shape[1]) for W, _ in layers) + f"-{q}"
    kind = f"linear network {widths}" if len(layers) > 1 else "single neuron"
    return _Layers(
        tuple(layers),
        tuple(fnames),
        tuple(tnames),
        collapsed.with_names(fnames, tnames),
        kind,
        note,
    )


def _from_chain(chain: Sequence[Affine]) -> _Layers:
    """A list of Affine layers applied in order (``chain[0]`` first)."""
    collapsed = chain[0]
    for a in chain[1:]:
        collapsed = collapsed.then(a)  # raises DimensionError naming the mismatch
    layers = tuple(
        (np.asarray(a.weight, dtype=np.float64), np.asarray(a.bias, dtype=np.float64))
        for a in chain
    )
    base = _from_affine(collapsed, "")
    widths = "-".join(str(W.shape[1]) for W, _ in layers) + f"-{collapsed.n_outputs}"
    return _Layers(
        layers,
        base.feature_names,
        base.target_names,
        base.collapsed,
        f"linear network {widths}" if len(layers) > 1 else "single neuron",
    )


def network_layers(model: Any, feature_names: Sequence[str] | None = None) -> _Layers:
    """The layers to draw for a LinearNetwork, an Affine, a list of Affines or a regression."""
    if isinstance(model, Affine):
        out = _from_affine(model, "affine map")
    elif isinstance(model, (list, tuple)) and model and all(isinstance(a, Affine) for a in model):
        out = _from_chain(model)
    elif hasattr(model, "coef_") and hasattr(model, "intercept_"):
        out = _from_regression(model)
    elif hasattr(model, "params") and hasattr(model, "fit_intercept"):
        out = _from_result(model)
    elif type(model).__module__.startswith("torch") or any(
        c.__module__.startswith("torch.nn") for c in type(model).__mro__
    ):
        out = _torch_layers(model)
    else:
        raise InputTypeError(
            f"plot_network draws a LinearNetwork (torch), an olsnet.Affine, a list of Affines, "
            f"a fitted LinearRegression or a RegressionResult; got {type(model).__name__}"
        )
    if feature_names is not None:
        names = tuple(str(n) for n in feature_names)
        if len(names) != out.collapsed.n_features:
            raise DimensionError(
                f"feature_names has {len(names)} names; the model takes "
                f"{out.collapsed.n_features} features"
            )
        out = _Layers(
            out.layers, names, out.target_names, out.collapsed.with_names(names), out.kind, out.note
        )
    return out


def _node_y(count: int, span: float) -> np.ndarray:
    """Vertical positions of ``count`` nodes centred on 0, at most ``span`` apart in total."""
    if count == 1:
        return np.zeros(1)
    step = min(1.0, span / (count - 1))
    return (np.arange(count)[::-1] - (count - 1) / 2) * step


def _shade(W: np.ndarray) -> np.ndarray:
    """Size of each weight in [0, 1]: log10 of |w| / max |w| of the layer over DECADES decades."""
    mag = np.abs(np.nan_to_num(W))
    top = mag.max()
    if top == 0:
        return np.zeros_like(mag)
    with np.errstate(divide="ignore"):
        rel = np.log10(mag / top)
    return np.clip((rel + DECADES) / DECADES, 0.0, 1.0)


# a layer wider than this is drawn as its first and last nodes around "⋮ k more"; equations
# show at most MAX_EQUATIONS nodes per layer with MAX_TERMS terms each (a 64-10 network was a
# 1800 x 14761 px image with every node and term)
MAX_NODES = 12
MAX_EQUATIONS = 4
MAX_TERMS = 6


def _shown(count: int) -> tuple[np.ndarray, int]:
    """(indices of the nodes drawn, slot of the "⋮" marker or -1) for a layer of ``count``."""
    if count <= MAX_NODES:
        return np.arange(count), -1
    head = (MAX_NODES - 1) // 2 + 1  # 6 first nodes, the marker, 5 last nodes
    tail = MAX_NODES - 1 - head
    return np.r_[np.arange(head), np.arange(count - tail, count)], head


def _draw(ax: Axes, net: _Layers) -> None:
    import matplotlib as mpl

    cmap = mpl.colormaps[WEIGHT_CMAP]
    sizes = [net.layers[0][0].shape[1]] + [W.shape[0] for W, _ in net.layers]
    n_cols = len(sizes)
    shown = [_shown(s) for s in sizes]
    slots = [len(idx) + (gap >= 0) for idx, gap in shown]
    span = max(slots) - 1.0
    xs = np.arange(n_cols) * 3.0
    ys = []  # y of every node (NaN where not drawn), and the marker of each summarised layer
    for s, (idx, gap), n_slots in zip(sizes, shown, slots, strict=True):
        pos = _node_y(n_slots, max(span, 1.0))
        y = np.full(s, np.nan)
        y[idx] = np.delete(pos, gap) if gap >= 0 else pos
        ys.append(y)
    for col, ((idx, gap), n_slots) in enumerate(zip(shown, slots, strict=True)):
        if gap >= 0:
            y_gap = _node_y(n_slots, max(span, 1.0))[gap]
            ax.text(xs[col], y_gap, f"⋮\n{sizes[col] - len(idx)} more", ha="center",
                    va="center", fontsize=9, color="#444444", zorder=5,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none"))  # fmt: skip
    hidden_prefix = ["h"] if len(net.layers) == 2 else [f"h{j + 1}_" for j in range(n_cols - 2)]

    for li, (W, _) in enumerate(net.layers):
        shade = _shade(W)
        labelled = min(W.shape) == 1
        t = 0.38 if W.shape[0] == 1 else 0.62  # fraction of the way from source to target
        for i in shown[li + 1][0]:  # target node
            for j in shown[li][0]:  # source node
                x0, y0, x1, y1 = xs[li], ys[li][j], xs[li + 1], ys[li + 1][i]
                w = W[i, j]
                if np.isnan(w):
                    ax.plot([x0, x1], [y0, y1], color="0.6", ls=":", lw=1.0, zorder=1)
                    continue
                s = shade[i, j]
                color = cmap(0.5 + 0.5 * np.sign(w) * (0.25 + 0.75 * s))
                ax.plot(
                    [x0, x1],
                    [y0, y1],
                    color=color,
                    lw=0.6 + 3.4 * s,
                    zorder=1,
                    solid_capstyle="round",
                )
                if labelled:
                    ax.text(
                        x0 + t * (x1 - x0),
                        y0 + t * (y1 - y0),
                        fmt_num(w, 4),
                        fontsize=8,
                        ha="center",
                        va="center",
                        zorder=3,
                        bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.85),
                    )

    for col, (x, yy) in enumerate(zip(xs, ys, strict=True)):
        if col == 0:
            color, labels = "#e8eef7", net.feature_names
        elif col == n_cols - 1:
            color, labels = (
                "#fde9d9",
                ("ŷ",) if len(yy) == 1 else tuple(f"ŷ{k + 1}" for k in range(len(yy))),
            )
        else:
            prefix = hidden_prefix[0] if len(hidden_prefix) == 1 else hidden_prefix[col - 1]
            color, labels = "#eeeeee", tuple(f"{prefix}{k + 1}" for k in range(len(yy)))
        drawn = shown[col][0]
        ax.scatter(
            np.full(len(drawn), x), yy[drawn], s=900, c=color, edgecolors="#333333",
            linewidths=1.2, zorder=4,
        )  # fmt: skip
        for k in drawn:
            yk = yy[k]
            if col == 0:
                ax.text(x, yk, f"x{k + 1}", ha="center", va="center", fontsize=9, zorder=5)
                ax.annotate(
                    labels[k],
                    (x, yk),
                    xytext=(-NAME_OFFSET_PT, 0),
                    textcoords="offset points",
                    ha="right",
                    va="center",
                    fontsize=9.5,
                    zorder=5,
                )
            else:
                ax.text(x, yk, labels[k], ha="center", va="center", fontsize=9.5, zorder=5)
        if col == n_cols - 1:
            for k in drawn:
                yk = yy[k]
                ax.annotate(
                    net.target_names[k],
                    (x, yk),
                    xytext=(NAME_OFFSET_PT, 0),
                    textcoords="offset points",
                    ha="left",
                    va="center",
                    fontsize=9.5,
                    zorder=5,
                )
    titles = ["inputs"] + [f"hidden layer {c}" for c in range(1, n_cols - 1)] + ["output"]
    top = max(float(np.nanmax(yy)) for yy in ys) + 0.8
    for x, heading in zip(xs, titles, strict=True):
        ax.text(x, top, heading, ha="center", va="bottom", fontsize=10, color="#444444")
    bottom = min(float(np.nanmin(yy)) for yy in ys) - 0.8
    ax.text(
        xs[0] - 2.3,
        bottom,
        "edge colour: sign of the weight (red +, blue −); width: |weight| "
        "relative to the\nlargest of its layer, log scale over four decades",
        ha="left",
        va="top",
        fontsize=8,
        color="#555555",
    )
    ax.set_xlim(xs[0] - 2.4, xs[-1] + 2.0)
    ax.set_ylim(bottom - 0.7, top + 0.6)
    ax.axis("off")


def _equations(net: _Layers) -> str:
    """Every node's equation, then the collapsed regression."""
    blocks = []
    names: Sequence[str] = [f"x{j + 1}" for j in range(net.collapsed.n_features)]
    n = len(net.layers)
    for li, (W, b) in enumerate(net.layers):
        last = li == n - 1
        if last:
            outs = ["ŷ"] if W.shape[0] == 1 else [f"ŷ{k + 1}" for k in range(W.shape[0])]
        else:
            prefix = "h" if n == 2 else f"h{li + 1}_"
            outs = [f"{prefix}{k + 1}" for k in range(W.shape[0])]
        for k, lhs in enumerate(outs[:MAX_EQUATIONS]):
            blocks.append(_short_equation(lhs, b[k], W[k], names, per_line=3))
        if len(outs) > MAX_EQUATIONS:
            blocks.append(f"... and {len(outs) - MAX_EQUATIONS} more nodes ({outs[-1]})")
        names = outs
    text = "node equations\n\n" + "\n".join(blocks)
    pairs = [f"x{j + 1} = {name}" for j, name in enumerate(net.feature_names)]
    if len(pairs) > MAX_NODES:
        pairs = [*pairs[: MAX_NODES - 1], f"... {pairs[-1]}"]
    return text + "\n\n" + _wrap(", ".join(pairs), 52)


def _short_equation(lhs: str, bias: Any, weights: Any, names: Sequence[str], **kw: Any) -> str:
    """``equation`` with at most MAX_TERMS terms, then "+ k more terms"."""
    if len(weights) <= MAX_TERMS:
        return equation(lhs, bias, weights, names, **kw)
    head = equation(lhs, bias, weights[:MAX_TERMS], names[:MAX_TERMS], **kw)
    return f"{head} ... ({len(weights) - MAX_TERMS} more terms)"


def _collapsed_text(net: _Layers) -> str:
    a = net.collapsed
    lines = []
    for k in range(min(a.n_outputs, MAX_EQUATIONS)):
        lhs = a.target_names[k] if a.target_names else "ŷ"
        names = a.feature_names or tuple(f"x{j + 1}" for j in range(a.n_features))
        lines.append(_short_equation(f"{lhs}", a.bias[k], a.weight[k], names, per_line=2))
    if a.n_outputs > MAX_EQUATIONS:
        lines.append(f"... and {a.n_outputs - MAX_EQUATIONS} more outputs")
    head = "collapsed regression"
    if len(net.layers) > 1:
        head += "  (cᵀW x + cᵀb + d)" if len(net.layers) == 2 else "  (product of the layers)"
    return head + "\n\n" + "\n".join(lines)


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(", "), [], ""
    for w in words:
        piece = w if not line else f"{line}, {w}"
        if len(piece) > width and line:
            lines.append(line + ",")
            line = w
        else:
            line = piece
    lines.append(line)
    return "\n".join(lines)


def plot_network(
    model: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    feature_names: Sequence[str] | None = None,
) -> Figure:
    """Draw a linear network (or an affine map) as a textbook figure.

    Parameters
    ----------
    model : LinearNetwork, torch.nn.Module, Affine, list of Affine, LinearRegression or RegressionResult
        A network (or a list of Affine layers, first applied first) is drawn layer by layer:
        inputs, hidden nodes, outputs. An Affine or a regression is drawn as its single neuron.
    path : str or path-like, optional
        Where to save the figure; ``.png``, ``.svg`` or ``.pdf`` by extension. Not saved if None.
    feature_names : sequence of str, optional
        Names of the inputs; by default those carried by the model (``x1, x2, ...`` otherwise).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Edge colour gives the sign of the weight (red positive, blue negative); its shade and width
    give ``log10(|w| / max |w|)`` of its layer over four decades. Layers feeding a single node
    (or fed by one) are labelled with the weights. For a network with layers ``h = W x + b``
    and ``ŷ = cᵀ h + d`` the collapsed regression is ``ŷ = (cᵀW) x + (cᵀb + d)``.
    """
    net = network_layers(model, feature_names)
    sizes = [net.layers[0][0].shape[1], *(W.shape[0] for W, _ in net.layers)]
    n_rows = max(min(s, MAX_NODES) for s in sizes)
    equations = _equations(net)
    body = _collapsed_text(net)
    if net.note:
        body += "\n\n" + net.note
    # the text column needs about 0.17 inch per line (9-point monospace), the box some padding
    eq_lines, body_lines = equations.count("\n") + 1, body.count("\n") + 3
    height = max(4.2, 0.62 * n_rows + 1.8, 0.17 * (eq_lines + body_lines) + 1.0)
    fig = new_figure(12.0, height)
    gs = fig.add_gridspec(2, 2, width_ratios=[1.0, 0.85], height_ratios=[eq_lines, body_lines])
    ax = fig.add_subplot(gs[:, 0])
    _draw(ax, net)
    title = f"{net.kind}: {', '.join(net.target_names)} on {len(net.feature_names)} inputs"
    ax.set_title(title, fontsize=11, loc="left")

    eq_ax = fig.add_subplot(gs[0, 1])
    eq_ax.axis("off")
    eq_ax.text(
        0.0,
        1.0,
        equations,
        family="monospace",
        fontsize=9,
        va="top",
        ha="left",
        transform=eq_ax.transAxes,
    )
    col_ax = fig.add_subplot(gs[1, 1])
    col_ax.axis("off")
    col_ax.text(
        0.0,
        0.9,
        body,
        family="monospace",
        fontsize=9.5,
        va="top",
        ha="left",
        transform=col_ax.transAxes,
        bbox=dict(boxstyle="round,pad=0.5", fc="#fff8e6", ec="#d9a441"),
    )
    save(fig, path)
    return fig
