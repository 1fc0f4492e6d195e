"""Small helpers shared by the network tests."""

from __future__ import annotations

import numpy as np


def max_rel(est: np.ndarray, ref: np.ndarray) -> float:
    """Largest entrywise relative difference."""
    return float(np.max(np.abs(est - ref) / np.abs(ref)))


def params_of(net) -> np.ndarray:
    """Collapsed (intercept, weights) of a single-output network, (1 + p,)."""
    import olsnet

    A = olsnet.collapse(net)
    return np.r_[A.bias[0], A.weight[0]]
