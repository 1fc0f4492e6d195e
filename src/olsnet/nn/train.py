"""train: fit a linear network by least squares with real torch optimizers.

The objective, in the user's units, is

    J(θ) = Σ_i w_i ||y_i - f_θ(x_i)||² / (2 Σ_i w_i) + (λ/2) Σ_l ||W_l||²_F

(λ = ``weight_decay``; biases are not penalised). Training runs on standardised data: inputs
centred and scaled by powers of two close to their standard deviations (exact in floating
point), targets centred and scaled by one power of two (one scale for every output, so a
bottleneck still finds the reduced-rank optimum of the unweighted loss). The parameters are
moved into those coordinates when training starts and back into the user's units when it ends,
so the network and its collapse are always in the user's units.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._types import OPTIMIZERS, TRAIN_OBJECTIVES, check_option
from ..data import as_design
from ..errors import ConvergenceError, DimensionError, OptionError, TrainingWarning
from .network import linear_layers

__all__ = [
    "TrainingLog",
    "affine_of",
    "largest_eigenvalue",
    "loss_change",
    "moment_matrix",
    "moments_loss",
    "train",
]

_WORKING_PRECISION = (
    "converged to working precision: L-BFGS cannot decrease the loss further in this dtype"
)

# torch's L-BFGS keeps a curvature pair only when yᵀs > 1e-10 (absolute), which freezes its
# memory once steps are below ~1e-5 in the standardised coordinates and leaves it converging
# linearly; scaling the objective by 1e10 keeps pairs down to steps of ~1e-10 (where they are
# still accurate to ~1e-6) and changes nothing else: directions and line-search steps are
# invariant to a constant factor on the objective.
_LBFGS_SCALE = 1e10

# "auto" uses the data objective when the standardised moment matrix of [1, x] is worse
# conditioned than this: its gradient A M is resolved to eps · ||A|| ||M||, which limits the
# coefficients to about eps · κ relative accuracy, against eps · sqrt(κ) from the data
_MOMENTS_MAX_CONDITION = 1e8

# rows per block when accumulating the moment matrix (bounds the temporary copy)
_MOMENT_BLOCK_ROWS = 65_536

# defaults per optimizer: epochs (an L-BFGS epoch is one step of up to `lbfgs_iter` iterations)
_MAX_EPOCHS = {"lbfgs": 100, "gd": 20_000, "adam": 20_000, "sgd": 200}


@dataclass(frozen=True, eq=False)
class TrainingLog:
    """What happened during training.

    Attributes
    ----------
    optimizer : str
    loss : ndarray of shape (epochs + 1,)
        The objective J (in the user's units) at the start and after each epoch.
    grad_norm : ndarray of shape (epochs + 1,)
        Euclidean norm of the gradient of the objective in the standardised coordinates the
        optimizer works in.
    time : ndarray of shape (epochs + 1,)
        Seconds since training started, when each entry was recorded.
    epochs : int
        Epochs run (full passes for "gd", "adam" and "sgd"; L-BFGS steps for "lbfgs").
    stop_reason : str
        Why training stopped, in words.
    converged : bool
        Whether it stopped on a convergence criterion (not on epochs, time or the callback).
    lr : float
        Learning rate used (for "gd" the default is 1 / L, L the largest eigenvalue of the
        scaled Gram matrix).
    objective : str
        How the loss was evaluated: "moments" or "data" (what "auto" chose).
    """

    optimizer: str
    loss: np.ndarray
    grad_norm: np.ndarray
    time: np.ndarray
    epochs: int
    stop_reason: str
    converged: bool
    lr: float
    objective: str = "data"

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    @property
    def final_grad_norm(self) -> float:
        return float(self.grad_norm[-1])

    @property
    def seconds(self) -> float:
        return float(self.time[-1])

    def __str__(self) -> str:
        return (
            f"{self.optimizer} ({self.objective}): {self.epochs} epochs in {self.seconds:.3g} s, loss "
            f"{self.final_loss:.10g}, gradient norm {self.final_grad_norm:.3g}; "
            f"{self.stop_reason}"
        )


class _History:
    """Growing float64 buffer for one logged series; ``view()`` is read-only, O(1)."""

    def __init__(self) -> None:
        self._buf = np.empty(64)
        self._n = 0

    def append(self, v: float) -> None:
        if self._n == self._buf.size:
            self._buf = np.concatenate([self._buf, np.empty(self._buf.size)])
        self._buf[self._n] = v
        self._n += 1

    def drop_last(self) -> None:
        self._n -= 1

    def view(self) -> np.ndarray:
        v = self._buf[: self._n]
        v.flags.writeable = False
        return v


@dataclass
class _Scaling:
    """x ↦ (x - x_mean) / x_scale, y ↦ (y - y_mean) / y_scale; all float64 NumPy."""

    x_mean: np.ndarray  # (p,)
    x_scale: np.ndarray  # (p,)
    y_mean: np.ndarray  # (q,)
    y_scale: float


def _pow2(v: np.ndarray) -> np.ndarray:
    """Nearest power of two (1 for zero): scaling by it is exact in binary floating point."""
    v = np.where(v > 0, v, 1.0)
    return np.exp2(np.round(np.log2(v)))


def _scaling(X: np.ndarray, Y: np.ndarray, w: np.ndarray, center: bool, scale: bool) -> _Scaling:
    """Means and power-of-two scales from at most ~4096 evenly strided rows.

    Any centre and scale are undone exactly when training ends, so they need not be the exact
    moments; a subsample keeps this O(p) passes cheaper than one pass over X.
    """
    step = max(1, X.shape[0] // 4096)
    X, Y, w = X[::step], Y[::step], w[::step] / w[::step].sum()
    p, q = X.shape[1], Y.shape[1]
    x_mean = w @ X if center else np.zeros(p)  # w sums to 1
    y_mean = w @ Y if center else np.zeros(q)
    if not scale:
        return _Scaling(x_mean, np.ones(p), y_mean, 1.0)
    x_sd = np.sqrt(w @ (X - x_mean) ** 2)
    y_sd = np.sqrt(np.mean(w @ (Y - y_mean) ** 2))
    return _Scaling(x_mean, _pow2(x_sd), y_mean, float(_pow2(np.array(y_sd))))


def _to_standard(layers: list[nn.Linear], s: _Scaling, inverse: bool) -> None:
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


def _standardized(
    A: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """(A - mean) / scale as a new tensor: one copy, then in place (scale is a power of two)."""
    out = torch.tensor(A, dtype=dtype, device=device)
    out.sub_(torch.as_tensor(mean, dtype=dtype, device=device))
    return out.mul_(torch.as_tensor(1.0 / scale, dtype=dtype, device=device))


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


def _flat_grad(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    )


def moment_matrix(
    X: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    x_mean: Any = 0.0,
    x_scale: Any = 1.0,
    y_mean: Any = 0.0,
    y_scale: Any = 1.0,
    block_rows: int = _MOMENT_BLOCK_ROWS,
) -> np.ndarray:
    """Weighted second moments ``M = Cᵀ Ω C`` of ``C = [1, (X - x_mean)/x_scale, (Y - y_mean)/
    y_scale]``, Ω = diag(w) / Σw; one pass over the rows in blocks, float64.

    X : (n, p); Y : (n, q); weights : (n,) or None. Returns (1 + p + q, 1 + p + q).
    """
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


def _residual_map(layers: list[nn.Linear], dtype: torch.dtype) -> torch.Tensor:
    """A = [-b, -W, I] (q, 1 + p + q): the residual y - W x - b is A [1, x, y]."""
    W, b = affine_of(layers, dtype)
    eye = torch.eye(W.shape[0], dtype=dtype, device=W.device)
    return torch.cat([-b[:, None], -W, eye], dim=1)


def moments_loss(layers: list[nn.Linear], M: torch.Tensor) -> torch.Tensor:
    """``½ tr(A M Aᵀ)``: the weighted least-squares loss ``Σ w ||y - f(x)||² / (2 Σw)`` from the
    moment matrix M of [1, x, y] (see :func:`moment_matrix`), A = [-b, -W, I]."""
    A = _residual_map(layers, M.dtype)  # (q, 1 + p + q)
    return 0.5 * ((A @ M) * A).sum()


def train(
    net: nn.Module,
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    weight_decay: float = 0.0,
    max_epochs: int | None = None,
    grad_tol: float = 1e-13,
    loss_tol: float = 0.0,
    max_time: float | None = None,
    batch_size: int | None = None,
    momentum: float = 0.0,
    standardize: bool = True,
    seed: int | None = 0,
    callback: Callable[[int, TrainingLog], Any] | None = None,
    progress: bool = False,
    lbfgs_iter: int = 20,
    history_size: int = 50,
    warm_start: bool | None = None,
    objective: str = "auto",
) -> TrainingLog:
    """Train a linear network on (X, y) by least squares.

    Parameters
    ----------
    net : LinearNetwork, nn.Sequential of nn.Linear, or nn.Linear
        Trained in place, on its own device and dtype.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), optional
    optimizer : {"lbfgs", "gd", "adam", "sgd"}, default "lbfgs"
        "lbfgs": ``torch.optim.LBFGS`` with strong-Wolfe line search, full batch. "gd": full
        batch ``torch.optim.SGD``, step 1/L by default. "adam": ``torch.optim.Adam``, full
        batch unless ``batch_size`` is given. "sgd": ``torch.optim.SGD`` on minibatches of
        ``batch_size`` (default 32) rows, reshuffled each epoch with ``seed``.
    lr : float, optional
        Defaults: lbfgs 1; gd 1/L; sgd 0.1/L; adam 1e-2 (L: the largest eigenvalue of the
        scaled Gram matrix ``[1 Z]ᵀ Ω [1 Z]``, the curvature of the single neuron's loss).
    weight_decay : float, default 0
        λ in the objective (weights only; see :class:`olsnet.RidgeRegression` for the ridge
        correspondence ``alpha = λ Σw``). With λ > 0 the data are centred but not scaled.
    max_epochs : int, optional
        Defaults: lbfgs 100 steps, gd and adam 20,000 epochs, sgd 200 epochs.
    grad_tol : float, default 1e-13
        Stop when the gradient norm (standardised coordinates) is at most this.
    loss_tol : float, default 0
        Stop when the relative change of the objective over an epoch is below this.
    max_time : float, optional
        Stop after this many seconds.
    batch_size : int, optional
        Minibatch rows for "sgd" and "adam"; not accepted for "gd" and "lbfgs".
    momentum : float, default 0
        Momentum of "gd" and "sgd".
    standardize : bool, default True
        Train on standardised data (undone when training ends).
    seed : int or None, default 0
        Seed of the minibatch shuffling.
    callback : callable(epoch, log), optional
        Called after each epoch with the log so far; returning True stops training. During
        training the layers hold the standardised parameters; they are in user units again
        when ``train`` returns.
    progress : bool, default False
        Show a rich progress bar.
    lbfgs_iter, history_size : int
        L-BFGS iterations per epoch (default 20) and its memory (default 50 pairs).
    warm_start : bool, optional
        True: start from the network's current parameters, read in the user's units. False:
        read the current parameters as parameters of the *standardised* problem -- PyTorch's
        default initialisation is scaled for inputs of unit variance, and taking it in user
        units would make the first layer's weights as large as a column's spread (1e5 for a
        GNP column). Default: True for a network that ``train`` has already trained, else
        False.
    objective : {"auto", "moments", "data"}, default "auto"
        How the full-batch loss is evaluated. "data": a forward and backward pass over the
        rows per evaluation. "moments": from the moment matrix M of the standardised
        [1, x, y], computed once in one pass (float64), each evaluation then costs
        O((p + q)² · depth) whatever the number of rows; full batch only ("lbfgs", "gd",
        "adam" without ``batch_size``). "auto": "moments" for full-batch optimizers unless the
        standardised moment matrix of [1, x] has a condition number above 1e8 (the moments
        gradient is then too coarse for the exact coefficients), else "data".

    Returns
    -------
    TrainingLog

    Raises
    ------
    DimensionError
        X or y do not match the network's inputs / outputs.
    DataError
        NaN or inf in the data.
    OptionError
        An unknown optimizer or objective (the message lists them) or a bad option value.
    NotAffineError
        A layer that is not linear (named).
    ConvergenceError
        The loss or the weights became non-finite (the epoch is named; the weights are reset
        to the last finite ones, in user units).

    Notes
    -----
    Near the optimum, ``J`` changes by less than its own rounding error, which stalls any
    line search comparing loss values (torch's L-BFGS stops about 1e-9 relative from the OLS
    coefficients on the diabetes data). The L-BFGS closure therefore returns the loss change
    from the epoch's starting point θ₀, computed without cancellation from the outputs
    ``o₀ = f_θ₀(x)`` and ``d = f_θ(x) - o₀``: ``J(θ) - J(θ₀) = Σ w (½ d² + d (o₀ - y)) / Σw``
    (plus the same identity for the penalty). Its gradient is that of J; its value is
    resolved to the size of the change. L-BFGS then reaches the OLS coefficients to about
    1e-11 relative on diabetes. An epoch in which L-BFGS cannot move ends training
    ("converged to working precision").

    For a linear network f(x) = W x + b the data term is a quadratic form in A = [-b, -W, I]:
    ``J = ½ tr(A M Aᵀ)`` with ``M = Cᵀ Ω C``, C = [1, x, y] (n, 1 + p + q) in the standardised
    coordinates, Ω = diag(w) / Σw (the "moments" objective). W and b are the products of the
    layers, so autograd still gives every layer's gradient. Its loss change is likewise free
    of cancellation: with Δ = A - A₀, ``J(A) - J(A₀) = tr(Δ M A₀ᵀ) + ½ tr(Δ M Δᵀ)``.
    """
    optimizer = check_option("optimizer", optimizer, OPTIMIZERS)
    objective = check_option("objective", objective, TRAIN_OBJECTIVES)
    layers = linear_layers(net)
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise OptionError(f"weight_decay={weight_decay!r} is not accepted; use a number >= 0")
    if batch_size is not None and optimizer in ("gd", "lbfgs"):
        raise OptionError(
            f"batch_size is not accepted with optimizer={optimizer!r}, which is full batch; use "
            "optimizer='sgd' or 'adam' for minibatches"
        )
    if optimizer == "sgd" and batch_size is None:
        batch_size = 32
    if batch_size is not None and (
        isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1
    ):
        raise OptionError(f"batch_size={batch_size!r} is not accepted; use a positive int")
    full_batch = batch_size is None
    if objective == "moments" and not full_batch:
        raise OptionError(
            f"objective='moments' is full batch and is not accepted with "
            f"optimizer={optimizer!r}, batch_size={batch_size}; use objective='data' or 'auto' "
            "for minibatches"
        )
    if max_epochs is None:
        max_epochs = _MAX_EPOCHS[optimizer]
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise OptionError(f"lr={lr!r} is not accepted; use a positive number")

    d = as_design(X, y, sample_weight)
    p, q = layers[0].in_features, layers[-1].out_features
    if d.n_features != p:
        raise DimensionError(
            f"X has {d.n_features} features but the network takes {p} inputs; build it with "
            f"LinearNetwork({d.n_features}, ...) or select the columns it was built for"
        )
    if d.n_outputs != q:
        raise DimensionError(f"y has {d.n_outputs} target column(s) but the network gives {q}")
    if d.names_from_frame and hasattr(net, "feature_names"):  # a LinearNetwork keeps names
        net.feature_names = d.feature_names  # type: ignore[assignment]
        net.target_names = d.target_names  # type: ignore[assignment]
    w = (
        np.full(d.n_samples, 1.0 / d.n_samples)
        if d.weights is None
        else d.weights / d.weights.sum()
    )  # (n,) sums to 1
    scale = standardize and weight_decay == 0.0
    s = _scaling(
        d.X,
        d.Y,
        w,
        center=standardize and layers[0].bias is not None and layers[-1].bias is not None,
        scale=scale,
    )
    dev, dt = layers[0].weight.device, layers[0].weight.dtype
    Mnp = None  # (1 + p + q, 1 + p + q) moments of the standardised [1, x, y]
    # the [1, x] block (just x without a bias): the Hessian of the single neuron's loss
    hess = slice(0 if layers[0].bias is not None else 1, 1 + p)
    if objective != "data" and full_batch:
        Mnp = moment_matrix(
            d.X,
            d.Y,
            d.weights,
            x_mean=s.x_mean,
            x_scale=s.x_scale,
            y_mean=s.y_mean,
            y_scale=s.y_scale,
        )
        if objective == "auto" and np.linalg.cond(Mnp[hess, hess]) > _MOMENTS_MAX_CONDITION:
            Mnp = None
    use_moments = Mnp is not None
    if use_moments:
        M = torch.as_tensor(Mnp, device=dev)  # float64 whatever the network's dtype
    else:
        Z = _standardized(d.X, s.x_mean, s.x_scale, dt, dev)  # (n, p)
        T = _standardized(d.Y, s.y_mean, np.full(q, s.y_scale), dt, dev)  # (n, q)
        omega = None if d.weights is None else torch.as_tensor(w, dtype=dt, device=dev)  # (n,)
    if lr is None and optimizer == "lbfgs":
        lr = 1.0
    elif lr is None:
        L = (
            float(np.linalg.eigvalsh(Mnp[hess, hess])[-1])
            if Mnp is not None
            else largest_eigenvalue(Z, omega, layers[0].bias is not None)
        )
        lr = {"gd": 1.0 / L, "sgd": 0.1 / L, "adam": 1e-2}[optimizer]
    lam = weight_decay  # never rescaled: λ > 0 turns input and target scaling off
    user_factor = s.y_scale**2  # J_user = c² J_standard when λ = 0 (c = 1 otherwise)
    params: list[torch.Tensor] = [t for layer in layers for t in layer.parameters()]
    weights: list[torch.Tensor] = [layer.weight for layer in layers]

    def data_loss(out: torch.Tensor, target: torch.Tensor, om: torch.Tensor | None) -> torch.Tensor:
        r2 = ((out - target) ** 2).sum(dim=1)  # (b,)
        return 0.5 * (r2.mean() if om is None else (om * r2).sum() / om.sum())

    def penalty() -> torch.Tensor | float:
        return 0.5 * lam * sum((W * W).sum() for W in weights) if lam else 0.0

    def penalised(out: torch.Tensor, target: torch.Tensor, om: torch.Tensor | None) -> torch.Tensor:
        return data_loss(out, target, om) + penalty()

    def batch_objective(rows: torch.Tensor) -> torch.Tensor:
        return penalised(net_forward(Z[rows]), T[rows], None if omega is None else omega[rows])

    def net_forward(Zb: torch.Tensor) -> torch.Tensor:
        h = Zb
        for layer in layers:
            h = layer(h)
        return h

    def evaluate() -> tuple[float, float, torch.Tensor]:
        """(J, gradient norm, outputs (n, q) or A (q, 1 + p + q)) at the current parameters."""
        for t in params:
            t.grad = None
        if use_moments:
            A = _residual_map(layers, M.dtype)
            J = 0.5 * ((A @ M) * A).sum() + penalty()
            at = A.detach()
        else:
            at = net_forward(Z)
            J = penalised(at, T, omega)
        J.backward()
        return float(J.detach()), float(_flat_grad(params).norm()), at.detach()

    def data_change(o0: torch.Tensor) -> Callable[[], torch.Tensor]:
        """J(θ) - J(θ₀) of the data term, from the outputs o0 (n, q) at θ₀."""
        e0 = o0 - T
        return lambda: loss_change(net_forward(Z), o0, e0, omega)

    def moments_change(A0: torch.Tensor) -> Callable[[], torch.Tensor]:
        """J(θ) - J(θ₀) of the data term from A0 = [-b₀, -W₀, I] at θ₀, as tr(Δ M A₀ᵀ) +
        ½ tr(Δ M Δᵀ), Δ = A - A₀: no cancellation between the large terms of J."""
        G0 = A0 @ M  # (q, 1 + p + q)

        def change() -> torch.Tensor:
            D = _residual_map(layers, M.dtype) - A0  # (q, 1 + p + q); its I block is 0
            return (D * (G0 + 0.5 * (D @ M))).sum()

        return change

    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            params,
            lr=lr,
            max_iter=lbfgs_iter,
            history_size=history_size,
            # max |g| <= this implies ||g|| <= grad_tol on the scaled objective
            tolerance_grad=grad_tol * _LBFGS_SCALE / math.sqrt(sum(t.numel() for t in params)),
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(0 if seed is None else seed)

    hist = [_History(), _History(), _History()]  # loss, grad norm, time

    def snapshot(epochs: int, reason: str = "running", converged: bool = False) -> TrainingLog:
        loss, gn, tm = (h.view() for h in hist)
        return TrainingLog(
            optimizer,
            loss,
            gn,
            tm,
            epochs,
            reason,
            converged,
            float(lr),
            "moments" if use_moments else "data",
        )

    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        task = bar.add_task(f"training ({optimizer})", total=max_epochs)
        bar.start()

    def _record(J: float, gnorm: float) -> None:
        hist[0].append(J * user_factor)
        hist[1].append(gnorm)
        hist[2].append(time.perf_counter() - start)

    polish, polish_gnorm, polish_start = False, math.inf, list(params)
    if warm_start is None:
        warm_start = bool(getattr(net, "_olsnet_trained", False))
    if warm_start:
        _to_standard(layers, s, inverse=False)
    good = [t.detach().clone() for t in params]
    start = time.perf_counter()
    epoch, reason, converged = 0, "", False
    try:
        while True:
            J, gnorm, out = evaluate()
            if not (math.isfinite(J) and math.isfinite(gnorm)):
                _restore(params, good)
                raise ConvergenceError(
                    f"training diverged in epoch {epoch}: the loss became {J} (gradient norm "
                    f"{gnorm}) with optimizer={optimizer!r}, lr={lr:.3g}; the weights were reset "
                    f"to those after epoch {max(epoch - 1, 0)}. Use a smaller lr"
                )
            prev = hist[0]._buf[hist[0]._n - 1] / user_factor if hist[0]._n else None
            _record(J, gnorm)
            if bar is not None:
                bar.update(task, completed=epoch)
            asked = callback is not None and epoch > 0 and bool(callback(epoch, snapshot(epoch)))
            if gnorm <= grad_tol:
                reason, converged = f"gradient norm {gnorm:.3g} <= grad_tol {grad_tol:.3g}", True
            elif prev is not None and abs(prev - J) < loss_tol * max(abs(J), 1e-300):
                reason, converged = f"relative loss change below loss_tol {loss_tol:.3g}", True
            elif asked:
                reason = "stopped by callback"
            elif epoch >= max_epochs:
                reason = f"reached max_epochs={max_epochs}"
            elif max_time is not None and hist[2].view()[-1] >= max_time:
                reason = f"reached max_time={max_time} s"
            if reason:
                break
            with torch.no_grad():
                for t, g in zip(params, good, strict=True):
                    g.copy_(t)
            if optimizer == "lbfgs":
                if polish and gnorm >= polish_gnorm:  # polishing stopped helping: undo, stop
                    _restore(params, polish_start)
                    reason, converged = _WORKING_PRECISION, True
                    for h in hist:  # the entry for this epoch now describes the restored point
                        h.drop_last()
                    _record(*evaluate()[:2])
                    break
                if polish:
                    polish_gnorm = gnorm
                    polish_start = [t.detach().clone() for t in params]
                change = moments_change(out) if use_moments else data_change(out)
                if not _lbfgs_epoch(opt, change, params, weights, lam):
                    if polish:
                        reason, converged = _WORKING_PRECISION, True
                        break
                    # the line search cannot resolve the loss any more: continue with unit
                    # quasi-Newton steps on the curvature pairs gathered so far
                    polish = True
                    opt.param_groups[0]["line_search_fn"] = None
            elif batch_size is None:
                opt.step()  # gradients from evaluate() at the current parameters
            else:
                perm = torch.randperm(d.n_samples, generator=gen).to(dev)
                for i in range(0, d.n_samples, batch_size):
                    rows = perm[i : i + batch_size]
                    opt.zero_grad()
                    batch_objective(rows).backward()
                    opt.step()
            epoch += 1
    finally:
        if bar is not None:
            bar.stop()
        _to_standard(layers, s, inverse=True)
        for t in params:
            t.grad = None
        net.__dict__["_olsnet_trained"] = True  # a later call continues from here (warm_start)
    if not converged and not reason.startswith("stopped by callback"):
        warnings.warn(
            f"training stopped before converging ({reason}); gradient norm "
            f"{hist[1].view()[-1]:.3g} > grad_tol {grad_tol:.3g}. Raise max_epochs or use "
            "optimizer='lbfgs'",
            TrainingWarning,
            stacklevel=2,
        )
    return snapshot(epoch, reason, converged)


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


def _restore(params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for t, v in zip(params, values, strict=True):
            t.copy_(v)


def _lbfgs_epoch(
    opt: torch.optim.Optimizer,
    data_change: Callable[[], torch.Tensor],
    params: list[torch.Tensor],
    weights: list[torch.Tensor],
    lam: float,
) -> bool:
    """One L-BFGS step on the loss change from the current point; whether parameters moved.

    data_change() : the change of the data term from the current point, differentiable.
    """
    with torch.no_grad():
        W0 = [W.detach().clone() for W in weights]
        before = [t.detach().clone() for t in params]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        change = data_change()
        if lam:
            change = change + lam * sum(
                ((W - V) * (0.5 * (W - V) + V)).sum() for W, V in zip(weights, W0, strict=True)
            )
        change = _LBFGS_SCALE * change
        change.backward()
        return change

    opt.step(closure)  # type: ignore[arg-type]  # LBFGS closures return tensors
    return any(not torch.equal(t.detach(), b) for t, b in zip(params, before, strict=True))
