"""The trainer on a device: whether it has float64 (which the "moments" objective needs), and
the moment matrix built where the network is.

The "moments" objective needs ``M = Cᵀ Ω C`` once (one pass over the rows) and then costs
O((1 + p + q)²) per evaluation, against a pass over every row for "data". Built with NumPy on
the host, that one pass was what made "auto" 4x slower than "data" for a CUDA network
(``LinearNetwork(..., device="cuda").fit`` on (4,000,000 x 100): 3.2 s against 0.73 s, measured
on an H200 for issue 14): here it is one float64 product per row block on the network's
device, the same upload of the rows that "data" makes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["DEVICE_MOMENT_BLOCK_ROWS", "device_moment_matrix", "has_float64"]

# rows uploaded per block (2**20 rows of 100 float64 columns: 0.8 GB on the device)
DEVICE_MOMENT_BLOCK_ROWS = 1 << 20


def has_float64(device: torch.device) -> bool:
    """Apple's MPS, for one, has no float64 arithmetic."""
    try:
        torch.zeros(1, dtype=torch.float64, device=device)
    except (TypeError, RuntimeError):
        return False
    return True


def device_moment_matrix(
    X: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray | None,
    scaling: tuple[Any, Any, Any, Any],
    device: torch.device | str,
    block_rows: int = DEVICE_MOMENT_BLOCK_ROWS,
) -> np.ndarray:
    """:func:`olsnet.nn.training.objective.moment_matrix` computed on ``device``, in float64.

    X : (n, p); Y : (n, q); weights : (n,) or None; ``scaling`` is (x_mean, x_scale, y_mean,
    y_scale). Returns ``M = Cᵀ Ω C`` (1 + p + q, 1 + p + q) as NumPy, with C = [1, (X -
    x_mean)/x_scale, (Y - y_mean)/y_scale] and Ω = diag(w) / Σw. Rows are uploaded
    ``block_rows`` at a time, so the device holds one block.
    """
    x_mean, x_scale, y_mean, y_scale = scaling
    dev = torch.device(device)
    if not has_float64(dev):  # "auto" then picks "data" (choose_objective)
        dev = torch.device("cpu")
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n, p = X.shape
    q = Y.shape[1]
    f64 = torch.float64

    def const(v: Any, m: int) -> torch.Tensor:
        return torch.tensor(np.broadcast_to(np.asarray(v, dtype=np.float64), (m,)), device=dev)

    xm, xs, ym, ys = const(x_mean, p), const(x_scale, p), const(y_mean, q), const(y_scale, q)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(n) if w is None else float(w.sum())
    # the blocks of M = [1 Z T]ᵀ Ω [1 Z T], accumulated from contiguous uploads (as the "data"
    # objective makes them) by matrix products; no (b, 1 + p + q) copy is assembled
    s0 = torch.zeros((), dtype=f64, device=dev)
    sz, st = torch.zeros(p, dtype=f64, device=dev), torch.zeros(q, dtype=f64, device=dev)
    zz = torch.zeros((p, p), dtype=f64, device=dev)
    zt = torch.zeros((p, q), dtype=f64, device=dev)
    tt = torch.zeros((q, q), dtype=f64, device=dev)
    for i in range(0, n, block_rows):
        b = min(block_rows, n - i)
        Z = torch.tensor(X[i : i + b], dtype=f64, device=dev).sub_(xm).div_(xs)  # (b, p)
        T = torch.tensor(Y[i : i + b], dtype=f64, device=dev).sub_(ym).div_(ys)  # (b, q)
        if w is None:
            Zw, Tw = Z, T
            s0 += b
        else:
            wb = torch.tensor(w[i : i + b], dtype=f64, device=dev)
            Zw, Tw = Z * wb[:, None], T * wb[:, None]
            s0 += wb.sum()
        sz += Zw.sum(dim=0)
        st += Tw.sum(dim=0)
        zz += Z.T @ Zw
        zt += Z.T @ Tw
        tt += T.T @ Tw
    M = np.empty((1 + p + q, 1 + p + q))
    M[0, 0] = float(s0)
    M[0, 1 : 1 + p], M[0, 1 + p :] = sz.cpu().numpy(), st.cpu().numpy()
    M[1 : 1 + p, 1 : 1 + p], M[1 : 1 + p, 1 + p :] = zz.cpu().numpy(), zt.cpu().numpy()
    M[1 + p :, 1 + p :] = tt.cpu().numpy()
    M = np.triu(M) + np.triu(M, 1).T  # the lower triangle from the upper
    M /= total
    return (M + M.T) / 2  # exactly symmetric
