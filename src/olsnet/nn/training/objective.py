"""The training objective, evaluated from the data or from the moment matrix.

    J(θ) = Σ_i w_i ||y_i - f_θ(x_i)||² / (2 Σ_i w_i) + (λ/2) Σ_l ||W_l||²_F

For a linear network f(x) = W x + b the data term is a quadratic form in A = [-b, -W, I]:
``J = ½ tr(A M Aᵀ)`` with ``M = Cᵀ Ω C``, C = [1, x, y] (n, 1 + p + q), Ω = diag(w) / Σw.
Both objectives also give the loss change from a point θ₀ without cancellation (what the
L-BFGS closure minimises near the optimum, see :func:`olsnet.train`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import OptionError
from .device import device_moment_matrix, has_float64
from .scaling import Scaling, standardized

__all__ = [
    "DataObjective",
    "MomentObjective",
    "Objective",
    "affine_of",
    "build_objective",
    "choose_objective",
    "largest_eigenvalue",
    "loss_change",
    "moment_matrix",
    "moments_loss",
]

# "auto" uses the data objective when the standardised moment matrix of [1, x] is worse
# conditioned than this: its gradient A M is resolved to eps · ||A|| ||M||, which limits the
# coefficients to about eps · κ relative accuracy, against eps · sqrt(κ) from the data
MOMENTS_MAX_CONDITION = 1e8

# rows per block when accumulating the moment matrix (bounds the temporary copy)
MOMENT_BLOCK_ROWS = 65_536


def moment_matrix(
    X: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    x_mean: Any = 0.0,
    x_scale: Any = 1.0,
    y_mean: Any = 0.0,
    y_scale: Any = 1.0,
    block_rows: int = MOMENT_BLOCK_ROWS,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Weighted second moments ``M = Cᵀ Ω C`` of ``C = [1, (X - x_mean)/x_scale, (Y - y_mean)/
    y_scale]``, Ω = diag(w) / Σw; one pass over the rows in blocks, float64.

    X : (n, p); Y : (n, q); weights : (n,) or None. Returns (1 + p + q, 1 + p + q). With a
    ``device`` other than the CPU, the products run there (``olsnet.nn.training.device``).
    """
    if device is not None and torch.device(device).type != "cpu":
        scaling = (x_mean, x_scale, y_mean, y_scale)
        return device_moment_matrix(X, Y, weights, scaling, device)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    n, p = X.shape
    q = Y.shape[1]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(n) if w is None else float(w.sum())
    M = np.zeros((1 + p + q, 1 + p + q))
    C = np.empty((min(block_rows, n), 1 + p + q))  # (b, 1 + p + q), reused per block
    for i in range(0, n, block_rows):
        b = min(block_rows, n - i)
        Cb = C[:b]
        Cb[:, 0] = 1.0
        np.subtract(X[i : i + b], x_mean, out=Cb[:, 1 : 1 + p])
        Cb[:, 1 : 1 + p] /= x_scale
        np.subtract(Y[i : i + b], y_mean, out=Cb[:, 1 + p :])
        Cb[:, 1 + p :] /= y_scale
        M += Cb.T @ (Cb if w is None else Cb * w[i : i + b, None])
    M /= total
    return (M + M.T) / 2  # exactly symmetric


def affine_of(
    layers: list[nn.Linear], dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (q, p), b (q,)) of the composed layers, differentiable in every layer's parameters.

    W = W_L ⋯ W_1, b = W_L(⋯(W_2 b_1 + b_2)⋯) + b_L; computed in ``dtype``.
    """
    W = layers[0].weight.to(dtype)
    b = (
        layers[0].bias.to(dtype)
        if layers[0].bias is not None
        else torch.zeros(W.shape[0], dtype=dtype, device=W.device)
    )
    for layer in layers[1:]:
        Wl = layer.weight.to(dtype)
        W, b = Wl @ W, Wl @ b
        if layer.bias is not None:
            b = b + layer.bias.to(dtype)
    return W, b


def residual_map(layers: list[nn.Linear], dtype: torch.dtype) -> torch.Tensor:
    """A = [-b, -W, I] (q, 1 + p + q): the residual y - W x - b is A [1, x, y]."""
    W, b = affine_of(layers, dtype)
    eye = torch.eye(W.shape[0], dtype=dtype, device=W.device)
    return torch.cat([-b[:, None], -W, eye], dim=1)


def moments_loss(layers: list[nn.Linear], M: torch.Tensor) -> torch.Tensor:
    """``½ tr(A M Aᵀ)``: the weighted least-squares loss ``Σ w ||y - f(x)||² / (2 Σw)`` from the
    moment matrix M of [1, x, y] (see :func:`moment_matrix`), A = [-b, -W, I]."""
    A = residual_map(layers, M.dtype)  # (q, 1 + p + q)
    return 0.5 * ((A @ M) * A).sum()


def loss_change(
    out: torch.Tensor, out0: torch.Tensor, err0: torch.Tensor, omega: torch.Tensor | None
) -> torch.Tensor:
    """``J(θ) - J(θ₀)`` of the data term without cancellation.

    out, out0 : (n, q) outputs at θ and θ₀; err0 = out0 - target. With d = out - out0,
    ``½ Σ w ||out - y||² - ½ Σ w ||out0 - y||² = Σ w (½ d² + d · err0)`` (weights sum to 1).
    """
    d = out - out0  # (n, q)
    terms = d * (0.5 * d + err0)  # (n, q)
    if omega is None:
        return terms.sum() / d.shape[0]
    return (omega[:, None] * terms).sum() / omega.sum()


def largest_eigenvalue(Z: torch.Tensor, w: torch.Tensor | None, bias: bool) -> float:
    """Largest eigenvalue of the Hessian of the single neuron's loss: ``[1 Z]ᵀ Ω [1 Z]``.

    Ω = diag(w) / Σw; computed with ``eigvalsh`` of the small (p+1, p+1) Gram matrix.
    """
    A = torch.cat([torch.ones_like(Z[:, :1]), Z], dim=1) if bias else Z  # (n, p + 1)
    Aw = A if w is None else A * w[:, None]
    G = (A.T @ Aw).double().cpu().numpy()  # (p + 1, p + 1)
    if w is None:
        G = G / Z.shape[0]
    return float(np.linalg.eigvalsh(G)[-1])


def flat_grad(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    )


class Objective:
    """J in the standardised coordinates: the penalty and the gradient bookkeeping."""

    name = ""

    def __init__(self, layers: list[nn.Linear], weight_decay: float) -> None:
        self.layers = layers
        self.lam = weight_decay  # never rescaled: λ > 0 turns input and target scaling off
        self.params: list[torch.Tensor] = [t for layer in layers for t in layer.parameters()]
        self.weights: list[torch.Tensor] = [layer.weight for layer in layers]

    def penalty(self) -> torch.Tensor | float:
        return 0.5 * self.lam * sum((W * W).sum() for W in self.weights) if self.lam else 0.0

    def value(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(J, what the loss change from here needs), differentiable."""
        raise NotImplementedError

    def evaluate(self) -> tuple[float, float, torch.Tensor]:
        """(J, gradient norm, the point's outputs or A) at the current parameters."""
        for t in self.params:
            t.grad = None
        J, at = self.value()
        J.backward()
        return float(J.detach()), float(flat_grad(self.params).norm()), at.detach()

    def change_from(self, at: torch.Tensor) -> Callable[[], torch.Tensor]:
        """A function giving J(θ) - J(θ₀) of the data term, θ₀ the point ``at`` came from."""
        raise NotImplementedError

    def curvature(self) -> float:
        """L: the largest eigenvalue of the single neuron's Hessian (for the default lr)."""
        raise NotImplementedError

    def zero_map_loss(self) -> float:
        """The data term of the map that predicts 0 (a scale for telling divergence)."""
        raise NotImplementedError


class MomentObjective(Objective):
    """J = ½ tr(A M Aᵀ) + penalty from the moment matrix M (float64 whatever the network)."""

    name = "moments"

    def __init__(
        self, layers: list[nn.Linear], weight_decay: float, M: np.ndarray, hess: slice
    ) -> None:
        super().__init__(layers, weight_decay)
        self.Mnp, self.hess = M, hess
        self.M = torch.as_tensor(M, device=layers[0].weight.device)

    def value(self) -> tuple[torch.Tensor, torch.Tensor]:
        A = residual_map(self.layers, self.M.dtype)
        return 0.5 * ((A @ self.M) * A).sum() + self.penalty(), A

    def change_from(self, at: torch.Tensor) -> Callable[[], torch.Tensor]:
        """tr(Δ M A₀ᵀ) + ½ tr(Δ M Δᵀ), Δ = A - A₀: no cancellation between the large terms."""
        M, G0 = self.M, at @ self.M  # (q, 1 + p + q)

        def change() -> torch.Tensor:
            D = residual_map(self.layers, M.dtype) - at  # (q, 1 + p + q); its I block is 0
            return (D * (G0 + 0.5 * (D @ M))).sum()

        return change

    def curvature(self) -> float:
        return float(np.linalg.eigvalsh(self.Mnp[self.hess, self.hess])[-1])

    def zero_map_loss(self) -> float:
        q = self.layers[-1].out_features
        return 0.5 * float(np.trace(self.Mnp[-q:, -q:]))


class DataObjective(Objective):
    """J from a forward pass over the standardised rows Z (n, p), T (n, q), weights Ω."""

    name = "data"

    def __init__(
        self,
        layers: list[nn.Linear],
        weight_decay: float,
        Z: torch.Tensor,
        T: torch.Tensor,
        omega: torch.Tensor | None,
    ) -> None:
        super().__init__(layers, weight_decay)
        self.Z, self.T, self.omega = Z, T, omega

    def forward(self, Zb: torch.Tensor) -> torch.Tensor:
        h = Zb
        for layer in self.layers:
            h = layer(h)
        return h

    def penalised(
        self, out: torch.Tensor, target: torch.Tensor, om: torch.Tensor | None
    ) -> torch.Tensor:
        r2 = ((out - target) ** 2).sum(dim=1)  # (b,)
        data = 0.5 * (r2.mean() if om is None else (om * r2).sum() / om.sum())
        return data + self.penalty()

    def value(self) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.forward(self.Z)
        return self.penalised(out, self.T, self.omega), out

    def batch_loss(self, rows: torch.Tensor) -> torch.Tensor:
        om = None if self.omega is None else self.omega[rows]
        return self.penalised(self.forward(self.Z[rows]), self.T[rows], om)

    def change_from(self, at: torch.Tensor) -> Callable[[], torch.Tensor]:
        e0 = at - self.T
        return lambda: loss_change(self.forward(self.Z), at, e0, self.omega)

    def curvature(self) -> float:
        return largest_eigenvalue(self.Z, self.omega, self.layers[0].bias is not None)

    def zero_map_loss(self) -> float:
        r2 = (self.T.double() ** 2).sum(dim=1)
        om = self.omega
        return 0.5 * float(r2.mean() if om is None else (om.double() * r2).sum() / om.sum())


def choose_objective(
    requested: str,
    *,
    full_batch: bool,
    moments: np.ndarray | None,
    hess: slice,
    device: torch.device | None = None,
) -> str:
    """ "moments" or "data": what ``objective=requested`` means for this problem and device.

    "auto" is "moments" for full-batch training on a device with float64 arithmetic (the
    moment matrix is float64 whatever the network's dtype; Apple's MPS has none) unless the
    moment matrix of [1, x] is conditioned worse than ``MOMENTS_MAX_CONDITION``.

    Raises
    ------
    OptionError
        "moments" asked for on a device without float64 arithmetic.
    """
    f64 = device is None or has_float64(device)
    if requested == "moments" and not f64:
        raise OptionError(
            f"objective='moments' needs float64 arithmetic, which device {device} lacks; use "
            "objective='data' or 'auto'"
        )
    if requested != "auto":
        return requested
    if not (full_batch and f64) or moments is None:
        return "data"
    return "moments" if np.linalg.cond(moments[hess, hess]) <= MOMENTS_MAX_CONDITION else "data"


def build_objective(
    layers: list[nn.Linear],
    design: Any,
    w: np.ndarray,
    s: Scaling,
    *,
    requested: str,
    full_batch: bool,
    weight_decay: float,
) -> Objective:
    """The objective over the standardised data of ``design`` (X (n, p), Y (n, q), weights)."""
    p, q = design.n_features, design.n_outputs
    hess = slice(0 if layers[0].bias is not None else 1, 1 + p)  # [1, x] (x without a bias)
    M = None
    dev, dt = layers[0].weight.device, layers[0].weight.dtype
    if requested != "data" and full_batch:
        M = moment_matrix(  # built where the network is (on a GPU: from the uploaded rows)
            design.X,
            design.Y,
            design.weights,
            x_mean=s.x_mean,
            x_scale=s.x_scale,
            y_mean=s.y_mean,
            y_scale=s.y_scale,
            device=dev,
        )
    chosen = choose_objective(requested, full_batch=full_batch, moments=M, hess=hess, device=dev)
    if M is not None and chosen == "moments":
        return MomentObjective(layers, weight_decay, M, hess)
    Z = standardized(design.X, s.x_mean, s.x_scale, dt, dev)  # (n, p)
    T = standardized(design.Y, s.y_mean, np.full(q, s.y_scale), dt, dev)  # (n, q)
    omega = None if design.weights is None else torch.as_tensor(w, dtype=dt, device=dev)  # (n,)
    return DataObjective(layers, weight_decay, Z, T, omega)
