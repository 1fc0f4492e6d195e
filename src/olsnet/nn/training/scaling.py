"""Standardisation for training: power-of-two scales (exact), and moving parameters between the
user's units and the standardised ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Scaling", "pow2", "scaling_of", "standardized", "to_standard"]

# rows of the evenly strided subsample the centre and scales are estimated from
SCALING_ROWS = 4096


@dataclass
class Scaling:
    """x ↦ (x - x_mean) / x_scale, y ↦ (y - y_mean) / y_scale; all float64 NumPy."""

    x_mean: np.ndarray  # (p,)
    x_scale: np.ndarray  # (p,)
    y_mean: np.ndarray  # (q,)
    y_scale: float


def pow2(v: np.ndarray) -> np.ndarray:
    """Nearest power of two (1 for zero): scaling by it is exact in binary floating point."""
    v = np.where(v > 0, v, 1.0)
    return np.exp2(np.round(np.log2(v)))


def scaling_of(X: np.ndarray, Y: np.ndarray, w: np.ndarray, center: bool, scale: bool) -> Scaling:
    """Means and power-of-two scales from at most ~``SCALING_ROWS`` evenly strided rows.

    Any centre and scale are undone exactly when training ends, so they need not be the exact
    moments; a subsample keeps this O(p) passes cheaper than one pass over X.
    """
    step = max(1, X.shape[0] // SCALING_ROWS)
    X, Y, w = X[::step], Y[::step], w[::step] / w[::step].sum()
    p, q = X.shape[1], Y.shape[1]
    x_mean = w @ X if center else np.zeros(p)  # w sums to 1
    y_mean = w @ Y if center else np.zeros(q)
    if not scale:
        return Scaling(x_mean, np.ones(p), y_mean, 1.0)
    x_sd = np.sqrt(w @ (X - x_mean) ** 2)
    y_sd = np.sqrt(np.mean(w @ (Y - y_mean) ** 2))
    return Scaling(x_mean, pow2(x_sd), y_mean, float(pow2(np.array(y_sd))))


def to_standard(layers: list[nn.Linear], s: Scaling, inverse: bool) -> None:
    """Move parameters between user units and standardised units, in place (float64 math).

    User map f_u(x) = c · f_s((x - m) / d) + m_y. First layer: W_u = W_s / d,
    b_u = b_s - W_u m; last layer: W_u = c W_s, b_u = c b_s + m_y.
    """
    first, last = layers[0], layers[-1]
    d = torch.as_tensor(s.x_scale, device=first.weight.device)
    m = torch.as_tensor(s.x_mean, device=first.weight.device)
    my = torch.as_tensor(s.y_mean, device=last.weight.device)
    c = s.y_scale
    with torch.no_grad():
        if not inverse:  # user -> standard: undo the last layer, then the first
            W, b = last.weight.double(), None if last.bias is None else last.bias.double()
            last.weight.copy_(W / c)
            if b is not None:
                last.bias.copy_((b - my) / c)
            W, b = first.weight.double(), None if first.bias is None else first.bias.double()
            if b is not None:
                first.bias.copy_(b + W @ m)
            first.weight.copy_(W * d)
        else:
            W, b = first.weight.double() / d, None if first.bias is None else first.bias.double()
            first.weight.copy_(W)
            if b is not None:
                first.bias.copy_(b - W @ m)
            W, b = last.weight.double(), None if last.bias is None else last.bias.double()
            last.weight.copy_(c * W)
            if b is not None:
                last.bias.copy_(c * b + my)


def standardized(
    A: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """(A - mean) / scale as a new tensor: one copy, then in place (scale is a power of two)."""
    out = torch.tensor(A, dtype=dtype, device=device)
    out.sub_(torch.as_tensor(mean, dtype=dtype, device=device))
    return out.mul_(torch.as_tensor(1.0 / scale, dtype=dtype, device=device))
