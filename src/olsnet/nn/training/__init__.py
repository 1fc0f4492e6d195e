"""train: fit a linear network by least squares with real torch optimizers.

The objective, in the user's units, is

    J(θ) = Σ_i w_i ||y_i - f_θ(x_i)||² / (2 Σ_i w_i) + (λ/2) Σ_l ||W_l||²_F

(λ = ``weight_decay``; biases are not penalised). Training runs on standardised data: inputs
centred and scaled by powers of two close to their standard deviations (exact in floating
point), targets centred and scaled by one power of two (one scale for every output, so a
bottleneck still finds the reduced-rank optimum of the unweighted loss). The parameters are
moved into those coordinates when training starts and back into the user's units when it ends,
so the network and its collapse are always in the user's units.

Modules: ``options`` (checks and defaults), ``scaling`` (standardisation), ``objective``
(moments or data, and which one "auto" picks), ``optimizers`` (torch optimizers, the L-BFGS
epoch and polish phase), ``loop`` (stopping rules, divergence), ``log`` (:class:`TrainingLog`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch import nn

from ...data import as_design
from ...errors import DimensionError, TrainingWarning
from ..network import linear_layers
from .log import TrainingLog
from .loop import DIVERGENCE_FACTOR, Loop
from .objective import (
    affine_of,
    build_objective,
    choose_objective,
    largest_eigenvalue,
    loss_change,
    moment_matrix,
    moments_loss,
)
from .optimizers import make_optimizer
from .options import TrainOptions
from .scaling import scaling_of, to_standard

__all__ = [
    "DIVERGENCE_FACTOR",
    "TrainingLog",
    "affine_of",
    "choose_objective",
    "largest_eigenvalue",
    "loss_change",
    "moment_matrix",
    "moments_loss",
    "train",
]

# default learning rate per optimizer, as a function of L (the single neuron's curvature)
_DEFAULT_LR: dict[str, Callable[[float], float]] = {
    "lbfgs": lambda L: 1.0,
    "gd": lambda L: 1.0 / L,
    "sgd": lambda L: 0.1 / L,
    "adam": lambda L: 1e-2,
}


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
        Training diverged: the loss became non-finite or rose above ``DIVERGENCE_FACTOR``
        (1e6) times the larger of its start and the loss of the zero map. The message names
        the epoch and suggests a smaller ``lr`` (or ``standardize=True``); the weights are
        reset to those of the epoch before, in user units.

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
    options = TrainOptions(
        optimizer=optimizer,
        objective=objective,
        lr=lr,
        weight_decay=weight_decay,
        max_epochs=max_epochs,
        grad_tol=grad_tol,
        loss_tol=loss_tol,
        max_time=max_time,
        batch_size=batch_size,
        momentum=momentum,
        standardize=standardize,
        seed=seed,
        lbfgs_iter=lbfgs_iter,
        history_size=history_size,
    )
    layers = linear_layers(net)
    d = _design(net, layers, X, y, sample_weight)
    w = (
        np.full(d.n_samples, 1.0 / d.n_samples)
        if d.weights is None
        else d.weights / d.weights.sum()
    )
    biased = layers[0].bias is not None and layers[-1].bias is not None
    unpenalised = weight_decay == 0.0
    s = scaling_of(d.X, d.Y, w, center=standardize and biased, scale=standardize and unpenalised)
    obj = build_objective(
        layers,
        d,
        w,
        s,
        requested=options.objective,
        full_batch=options.full_batch,
        weight_decay=weight_decay,
    )
    rate = options.lr
    if rate is None:
        rate = _DEFAULT_LR[options.optimizer](1.0 if optimizer == "lbfgs" else obj.curvature())
    loop = Loop(
        options, obj, make_optimizer(obj.params, options, rate), rate, s.y_scale**2, callback
    )
    if warm_start is None:
        warm_start = bool(getattr(net, "_olsnet_trained", False))
    if warm_start:
        to_standard(layers, s, inverse=False)
    try:
        with _progress(progress, options.optimizer, options.epochs) as on_epoch:
            log = loop.run(on_epoch)
    finally:
        to_standard(layers, s, inverse=True)
        for t in obj.params:
            t.grad = None
        net.__dict__["_olsnet_trained"] = True  # a later call continues from here (warm_start)
    if not log.converged and log.stop_reason != "stopped by callback":
        warnings.warn(
            f"training stopped before converging ({log.stop_reason}); gradient norm "
            f"{log.final_grad_norm:.3g} > grad_tol {grad_tol:.3g}. Raise max_epochs or use "
            "optimizer='lbfgs'",
            TrainingWarning,
            stacklevel=2,
        )
    return log


def _design(net: nn.Module, layers: list[nn.Linear], X: Any, y: Any, sample_weight: Any) -> Any:
    """The checked design; a LinearNetwork takes the names of a data frame."""
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
    return d


@contextlib.contextmanager
def _progress(show: bool, optimizer: str, epochs: int) -> Iterator[Callable[[int], Any] | None]:
    """A rich progress bar over the epochs (transient), or nothing."""
    if not show:
        yield None
        return
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(f"training ({optimizer})", total=epochs)
    bar.start()
    try:
        yield lambda epoch: bar.update(task, completed=epoch)
    finally:
        bar.stop()
