"""Local linearization: the exact affine map of the linear region of a piecewise-linear network
that contains a point x, and a radius around x inside which that map is exact.

The graph is evaluated on affine values as for ``collapse``; at each piecewise-linear
operation the value's entries at x, ``v = W x + b``, choose the active piece (ReLU: ``v > 0``;
MaxPool: the largest entry of each window; Hardtanh: inside or clamped). By induction over the
graph, as long as every earlier piece is unchanged, an entry's value at ``x'`` is exactly
``W_i x' + b_i``, so its piece is unchanged while ``|W_i (x' - x)| < margin_i`` (the distance of
``v_i`` from its breakpoint). Hence the map is exact on the ball

    ‖x' - x‖₂ < radius = min_i margin_i / ‖W_i‖₂

over every entry of every piecewise-linear operation (for MaxPool, over every pair of window
entries: gap / ‖W_max - W_j‖₂). An entry exactly at a breakpoint puts x on a region boundary:
the map returned is the one autograd reports (ReLU's derivative 0 at 0, the first maximum),
exact on one side only, and the radius is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _algebra as A
from ._algebra import Lin, _Refused
from ._conv import _window

__all__ = ["Region"]


class Region:
    """The point x (flattened, float64) and what the evaluation learned about its region."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = np.asarray(x, dtype=np.float64).reshape(-1)  # (p,)
        self.radius = math.inf
        self.boundary: list[str] = []  # operations at whose breakpoint x lies
        self.n_pieces = 0  # piecewise-linear operations met

    def value(self, v: Lin) -> np.ndarray:
        """The entries of ``v`` at x, (q,)."""
        return v.W @ self.x + v.b

    def constrain(self, rows: np.ndarray, margin: np.ndarray, where: str) -> None:
        """Entries with gradient rows (k, p) stay on their piece while |rows (x' - x)| < margin."""
        norms = np.linalg.norm(rows, axis=1)  # (k,)
        moving = norms > 0  # constant entries never change piece
        if not moving.any():
            return
        if np.any(margin[moving] <= 0):
            self.radius = 0.0
            self.boundary.append(where)
            return
        self.radius = min(self.radius, float(np.min(margin[moving] / norms[moving])))

    # ---- rules -------------------------------------------------------------------------

    def select(self, x: Lin, slope_neg: np.ndarray | float, where: str) -> Lin:
        """``v`` where v > 0, ``slope_neg * v`` where v <= 0 (ReLU, LeakyReLU, PReLU, abs)."""
        self.n_pieces += 1
        v = self.value(x)
        self.constrain(x.W, np.abs(v), where)
        factor = np.where(v > 0, 1.0, slope_neg)  # (q,)
        return x._with(factor[:, None] * x.W, factor * x.b)

    def clamp(self, x: Lin, lo: float | None, hi: float | None, where: str) -> Lin:
        """Hardtanh / clamp: the identity inside (lo, hi), the constant bound outside."""
        self.n_pieces += 1
        v = self.value(x)
        lo_, hi_ = -math.inf if lo is None else lo, math.inf if hi is None else hi
        self.constrain(x.W, np.minimum(np.abs(v - lo_), np.abs(v - hi_)), where)
        inside = (v > lo_) & (v < hi_)
        return x._with(inside[:, None] * x.W, np.where(inside, x.b, np.clip(v, lo_, hi_)))

    def max_pool(
        self,
        x: Lin,
        kernel: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        where: str = "max pooling",
    ) -> Lin:
        """MaxPool{1,2,3}d: each output takes the row of its window's largest entry at x."""
        if x.layout != "nq" or len(x.fshape) < 2:
            raise _Refused(f"max pooling of a value of shape {x.shape}")
        if ceil_mode:
            raise _Refused("max pooling with ceil_mode=True")
        self.n_pieces += 1
        nd = len(x.fshape) - 1

        def per_axis(v: Any, default: int) -> list[int]:
            v = default if v is None or (isinstance(v, (list, tuple)) and not v) else v
            return [int(a) for a in v] if isinstance(v, (list, tuple)) else [int(v)] * nd

        k = per_axis(kernel, 1)
        st, pad, dil = per_axis(stride, 0) or k, per_axis(padding, 0), per_axis(dilation, 1)
        st = [s or kk for s, kk in zip(st, k, strict=True)]
        index = np.arange(x.q).reshape(x.fshape)  # (C, *S)
        index = np.pad(index, [(0, 0), *((p, p) for p in pad)], constant_values=-1)
        out_sp = [(index.shape[1 + i] - dil[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(nd)]
        windows = [index[(slice(None), *_window(o, dil, st, out_sp))] for o in np.ndindex(*k)]
        candidates = np.stack(windows).reshape(len(windows), -1)  # (K, m): each window's entries
        v = self.value(x)
        vals = np.where(candidates >= 0, v[np.maximum(candidates, 0)], -np.inf)  # (K, m)
        best = np.argmax(vals, axis=0)  # (m,) the first maximum, as torch reports it
        m = np.arange(candidates.shape[1])
        chosen = candidates[best, m]  # (m,)
        others = (candidates >= 0) & (np.arange(len(candidates))[:, None] != best[None, :])
        j_idx, m_idx = np.nonzero(others)
        rows = x.W[chosen[m_idx]] - x.W[candidates[j_idx, m_idx]]
        gap = vals[best[m_idx], m_idx] - vals[j_idx, m_idx]
        if len(gap):
            self.constrain(rows, gap, where)
        return x.with_fshape(x.W[chosen], x.b[chosen], (x.fshape[0], *out_sp))


def _channel_slope(x: Lin, weight: Any) -> np.ndarray:
    w = A.as_array(weight).reshape(-1)
    if w.size == 1:
        return np.full(x.q, float(w[0]))
    return A.channel_vector(x, w) if not x.is_matrix else w


LocalRule = Callable[..., Any]


def module_rule(region: Region, module: Any, path: str) -> LocalRule | None:
    """The local rule for a leaf module (None when it is not piecewise linear)."""
    from torch import nn

    where = f"{type(module).__name__} {path!r}"
    if isinstance(module, nn.ReLU):
        return lambda m, x: region.select(x, 0.0, where)
    if isinstance(module, nn.LeakyReLU):
        return lambda m, x: region.select(x, float(m.negative_slope), where)
    if isinstance(module, nn.PReLU):
        return lambda m, x: region.select(x, _channel_slope(x, m.weight), where)
    if isinstance(module, nn.Hardtanh):  # ReLU6 too
        return lambda m, x: region.clamp(x, float(m.min_val), float(m.max_val), where)
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
        return lambda m, x: region.max_pool(
            x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, where
        )
    return None


def function_rule(region: Region, name: str, where: str) -> LocalRule | None:
    """The local rule for a function or tensor method by name (None when not piecewise linear)."""

    def relu(x: Lin, *args: Any, **kwargs: Any) -> Lin:
        return region.select(x, 0.0, where)

    def leaky(x: Lin, negative_slope: float = 0.01, *args: Any, **kwargs: Any) -> Lin:
        return region.select(x, float(negative_slope), where)

    def hardtanh(x: Lin, min_val: float = -1.0, max_val: float = 1.0, *a: Any, **k: Any) -> Lin:
        return region.clamp(x, float(min_val), float(max_val), where)

    def clamp(x: Lin, min: Any = None, max: Any = None) -> Lin:
        return region.clamp(x, None if min is None else float(min),
                            None if max is None else float(max), where)  # fmt: skip

    def max_pool(x: Lin, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Lin:  # fmt: skip
        if return_indices:
            raise _Refused("max pooling that returns its indices")
        return region.max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, where)

    rules: dict[str, LocalRule] = {
        "relu": relu,
        "relu_": relu,
        "leaky_relu": leaky,
        "leaky_relu_": leaky,
        "hardtanh": hardtanh,
        "hardtanh_": hardtanh,
        "relu6": lambda x, *a, **k: region.clamp(x, 0.0, 6.0, where),
        "clamp": clamp,
        "clip": clamp,
        "abs": lambda x: region.select(x, -1.0, where),
        "absolute": lambda x: region.select(x, -1.0, where),
        "prelu": lambda x, weight: region.select(x, _channel_slope(x, weight), where),
        "max_pool1d": max_pool,
        "max_pool2d": max_pool,
        "max_pool3d": max_pool,
    }
    return rules.get(name)
