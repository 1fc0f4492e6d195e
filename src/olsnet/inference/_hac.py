"""Heteroscedasticity and autocorrelation consistent (HAC) covariance kernels.

Newey & West (1987), as statsmodels' ``cov_type="HAC"`` (``sandwich.cov_hac_simple`` with
``S_hac_simple``) and R's ``sandwich::NeweyWest(lag=L, prewhite=FALSE, adjust=FALSE)``. With
``sᵢ = Qᵢ ẽᵢ`` (r,) the scores in ``Q`` coordinates (see :mod:`.covariance`) in row order::

    Γ_l = Σ_{t>l} s_t s_{t-l}ᵀ,   M = Γ_0 + Σ_{l=1}^{L} k(l) (Γ_l + Γ_lᵀ)

with the Bartlett kernel ``k(l) = 1 - l/(L+1)`` (or the uniform kernel ``k(l) = 1``). No
small-sample factor (statsmodels' default ``use_correction=False``); t and F on ``df_resid``.
The rows must be in time order; the pass folds them block by block, carrying the last ``L``.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from ..errors import OptionError

__all__ = ["HAC_KERNELS", "HacAccumulator", "kernel_weights"]

HacKernel = Literal["bartlett", "uniform"]
HAC_KERNELS: tuple[str, ...] = get_args(HacKernel)


def kernel_weights(kernel: str, maxlags: int) -> np.ndarray:
    """(L + 1,) weights ``k(0..L)``: Bartlett ``1 - l/(L+1)``, uniform 1."""
    lags = np.arange(maxlags + 1, dtype=np.float64)
    if kernel == "bartlett":
        return 1.0 - lags / (maxlags + 1.0)
    if kernel == "uniform":
        return np.ones(maxlags + 1)
    raise OptionError(f"kernel={kernel!r} is not accepted; use one of {HAC_KERNELS}")


class HacAccumulator:
    """Lagged score cross-products ``Γ_0..Γ_L`` folded over row blocks in order.

    ``fold(Q (b, r), E (b, q))`` per block; ``meats(kernel)`` gives (q, r, r).
    """

    def __init__(self, maxlags: int, r: int, q: int) -> None:
        self.maxlags = maxlags
        self.gammas = np.zeros((q, maxlags + 1, r, r))
        self.carry = np.zeros((q, 0, r))  # the last maxlags scores of the rows before

    def fold(self, Q: np.ndarray, E: np.ndarray) -> None:
        q = E.shape[1]
        L = self.maxlags
        for j in range(q):
            S = np.concatenate([self.carry[j], Q * E[:, j : j + 1]])  # (m + b, r)
            m = self.carry.shape[1]
            for lag in range(L + 1):
                start = max(m, lag)
                if start >= S.shape[0]:
                    continue
                A = S[start:]  # rows t of this block
                B = S[start - lag : S.shape[0] - lag]  # rows t - lag
                self.gammas[j, lag] += A.T @ B
        keep = min(L, self.carry.shape[1] + Q.shape[0])
        new = np.concatenate(
            [self.carry, np.stack([Q * E[:, j : j + 1] for j in range(q)])], axis=1
        )
        self.carry = new[:, new.shape[1] - keep :] if keep else new[:, :0]

    def meats(self, kernel: str) -> np.ndarray:
        k = kernel_weights(kernel, self.maxlags)
        G = self.gammas  # (q, L+1, r, r)
        M = k[0] * G[:, 0]
        for lag in range(1, self.maxlags + 1):
            M = M + k[lag] * (G[:, lag] + np.swapaxes(G[:, lag], -1, -2))
        return M
