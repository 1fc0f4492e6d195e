"""Figures without pyplot: no GUI backend, no global figure state, atomic saving.

Every figure is a bare ``matplotlib.figure.Figure`` drawn on an Agg canvas, so plotting works
the same on a headless server, in a test and in a notebook (IPython displays a returned Figure)
and never opens a window or leaks figures into pyplot's registry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._deps import require
from .._fileutil import atomic_write
from ..errors import OptionError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

# file extension -> matplotlib format; the format is chosen by the extension of ``path``
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

# weights are shown on this diverging map: blue negative, red positive, white zero
WEIGHT_CMAP = "RdBu_r"
OLS_COLOR = "#222222"
LINE_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)


def new_figure(width: float, height: float) -> Figure:
    """A Figure of ``width`` x ``height`` inches on an Agg canvas (matplotlib imported here)."""
    require("matplotlib", "olsnet.plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    """Write ``fig`` to ``path`` (PNG, SVG or PDF by extension) all at once, or do nothing.

    The image goes through :func:`olsnet._fileutil.atomic_write` (a temporary file in the same
    folder, renamed into place; mode from the umask), so an interrupted save never leaves half
    an image under the requested name. Raises ``OptionError`` for an unknown extension and
    ``OutputPathError`` when the folder does not exist.
    """
    if path is None:
        return
    target = Path(path)
    fmt = FORMATS.get(target.suffix.lower())
    if fmt is None:
        accepted = ", ".join(FORMATS)
        raise OptionError(
            f"cannot save a figure as {str(target)!r}: the extension {target.suffix or '(none)'!r} "
            f"is not one of {accepted}; name the file e.g. {target.stem or 'figure'}.png"
        )
    with atomic_write(target) as fh:
        fig.savefig(fh, format=fmt, dpi=150 if fmt == "png" else "figure")


def fmt_num(value: float, digits: int = 4) -> str:
    """A compact number: ``4`` significant digits, true minus sign, no ``+``."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text.replace("-", "−")


def term(coef: float, name: str, *, first: bool = False, digits: int = 4) -> str:
    """One term of an equation: ``" − 0.03582·GNP"``, ``" + 1.2·x1"`` (``first``: no leading op)."""
    mag = fmt_num(abs(coef), digits)
    if first:
        return f"{'−' if coef < 0 else ''}{mag}·{name}"
    return f" {'−' if coef < 0 else '+'} {mag}·{name}"


def equation(
    lhs: str, bias: float | None, weights: Any, names: Any, *, per_line: int = 3, digits: int = 4
) -> str:
    """``lhs = b + w1·x1 − w2·x2 ...`` wrapped after every ``per_line`` terms."""
    pieces: list[str] = []
    if bias is not None:
        pieces.append(fmt_num(float(bias), digits))
    for w, name in zip(weights, names, strict=True):
        pieces.append(term(float(w), str(name), first=not pieces, digits=digits))
    if not pieces:
        pieces.append("0")
    lines = []
    for start in range(0, len(pieces), per_line):
        lines.append("".join(pieces[start : start + per_line]).strip())
    indent = " " * (len(lhs) + 3)
    return f"{lhs} = " + ("\n" + indent).join(lines)
