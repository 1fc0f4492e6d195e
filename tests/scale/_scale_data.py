"""Data for the scale tests: a well-conditioned regression with every coefficient away from
zero, so relative tolerances compare every entry."""

from __future__ import annotations

import numpy as np


def make_regression(n: int, p: int, q: int = 1, seed: int = 0, weights: bool = False):
    """(X (n, p), Y (n, q), w (n,) or None) with offset columns and non-tiny coefficients."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 3.0, p) + rng.uniform(-5, 5, p)
    B = rng.uniform(0.5, 2.0, (p, q)) * rng.choice([-1.0, 1.0], (p, q))
    Y = X @ B + rng.uniform(1.0, 3.0, q) + rng.standard_normal((n, q))
    w = rng.uniform(0.2, 3.0, n) if weights else None
    return X, Y, w
