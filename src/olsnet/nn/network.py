"""LinearNetwork: linear regression as a torch network of ``nn.Linear`` layers."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import InputTypeError, NotAffineError, OptionError

if TYPE_CHECKING:  # pragma: no cover
    from ..affine import Affine
    from .training import TrainingLog

__all__ = ["LinearNetwork", "check_widths", "linear_layers"]


def check_widths(hidden: Any) -> tuple[int, ...]:
    """``hidden`` as a tuple of positive ints, or an OptionError naming the bad entry."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise OptionError(
            f"hidden={hidden!r} is not accepted; use a tuple of positive ints such as (3,) or "
            "() for the single neuron"
        )
    out = []
    for i, h in enumerate(hidden):
        if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1:
            raise OptionError(
                f"hidden[{i}] = {h!r} is not a positive integer; every hidden width must be an "
                "int >= 1, e.g. hidden=(3,)"
            )
        out.append(int(h))
    return tuple(out)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of a LinearNetwork, ``nn.Sequential`` or ``nn.Linear``, in order.

    ``nn.Identity`` layers are skipped; any other layer raises NotAffineError naming it.
    """
    if isinstance(module, nn.Linear):
        return [module]
    if not isinstance(module, nn.Sequential):
        raise NotAffineError(
            f"{type(module).__name__} is not a LinearNetwork, nn.Sequential or nn.Linear; train "
            "a LinearNetwork, or collapse the module with olsnet.collapse first"
        )
    layers = []
    for name, layer in module.named_children():
        if isinstance(layer, nn.Linear):
            layers.append(layer)
        elif not isinstance(layer, nn.Identity):
            raise NotAffineError(
                f"layer {name!r} ({type(layer).__name__}) is not linear; only nn.Linear and "
                "nn.Identity layers make a linear network. Remove the activation, or use "
                "olsnet.collapse for other affine modules"
            )
    if not layers:
        raise NotAffineError(f"{type(module).__name__} has no nn.Linear layer")
    for i, (a, b) in enumerate(pairwise(layers)):
        if a.out_features != b.in_features:
            raise NotAffineError(
                f"linear layer {i} gives {a.out_features} outputs but the next takes "
                f"{b.in_features} inputs"
            )
    return layers


class LinearNetwork(nn.Sequential):
    """A feed-forward network of ``nn.Linear`` layers with identity activations.

    A real ``torch.nn.Module`` (an ``nn.Sequential``), usable in any PyTorch code. Whatever its
    widths, it computes one affine map ``y = W x + b``: a linear regression.

    Parameters
    ----------
    n_features : int
        Number of inputs p.
    n_outputs : int, default 1
        Number of outputs q.
    hidden : tuple of int, default ()
        Widths of the hidden layers. ``()`` is the single neuron of multiple regression (its
        weights are b1..bp and its bias b0); ``(3,)`` is a layer of three nodes, each itself a
        regression on x, and an output node regressing on them.
    bias : bool, default True
        Whether every layer has a bias.
    dtype : torch.dtype, default torch.float64
    device : torch.device or str, optional
    seed : int, optional
        Seed of the initial weights (PyTorch's default initialisation); the global torch
        generator is used, and left untouched, only when ``seed`` is None.
    feature_names, target_names : sequence of str, optional
        Names carried to the collapsed map; ``fit`` sets them from data frames.

    Attributes
    ----------
    training_log_ : TrainingLog
        Set by ``fit``.

    Notes
    -----
    With layers ``(W_l, b_l)``, ``l = 1..L``, the network computes
    ``W = W_L ⋯ W_1`` and ``b = Σ_l W_L ⋯ W_{l+1} b_l``; see :func:`olsnet.collapse`.

    Examples
    --------
    >>> import torch
    >>> net = LinearNetwork(4, hidden=(3,), seed=0)
    >>> net(torch.zeros(2, 4, dtype=torch.float64)).shape
    torch.Size([2, 1])
    >>> net.collapse().weight.shape
    (1, 4)
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int = 1,
        hidden: Sequence[int] = (),
        bias: bool = True,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        seed: int | None = None,
        feature_names: Sequence[str] | None = None,
        target_names: Sequence[str] | None = None,
    ) -> None:
        widths = (*check_widths((n_features,)), *check_widths(hidden), *check_widths((n_outputs,)))
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InputTypeError(f"dtype={dtype!r} is not a torch floating dtype")
        if seed is None:
            layers = [
                nn.Linear(a, b, bias=bias, dtype=dtype, device=device) for a, b in pairwise(widths)
            ]
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                layers = [
                    nn.Linear(a, b, bias=bias, dtype=dtype, device=device)
                    for a, b in pairwise(widths)
                ]
        super().__init__(*layers)
        self.n_features = widths[0]
        self.n_outputs = widths[-1]
        self.hidden = widths[1:-1]
        self.bias = bool(bias)
        self.feature_names = None if feature_names is None else tuple(map(str, feature_names))
        self.target_names = None if target_names is None else tuple(map(str, target_names))

    @classmethod
    def from_names(
        cls,
        feature_names: Sequence[str],
        target_names: Sequence[str] = ("y",),
        hidden: Sequence[int] = (),
        **kwargs: Any,
    ) -> LinearNetwork:
        """A network whose inputs and outputs carry these names (the hook formulas build on)."""
        return cls(
            len(feature_names),
            len(target_names),
            hidden,
            feature_names=feature_names,
            target_names=target_names,
            **kwargs,
        )

    @classmethod
    def from_regression(
        cls,
        model: Any,
        hidden: Sequence[int] = (),
        dtype: torch.dtype = torch.float64,
        seed: int | None = None,
    ) -> LinearNetwork:
        """The network with widths ``hidden`` computing exactly the map of ``model``.

        ``model`` is an Affine, a fitted LinearRegression (or any estimator with ``coef_`` and
        ``intercept_``) or a RegressionResult; see :func:`olsnet.expand`.
        """
        from .expand import expand

        return expand(model, hidden=hidden, dtype=dtype, seed=seed)

    @property
    def depth(self) -> int:
        """Number of linear layers."""
        return len(self)

    @property
    def bottleneck(self) -> int | None:
        """Narrowest hidden width when it is below min(n_features, n_outputs), else None."""
        if not self.hidden or min(self.hidden) >= min(self.n_features, self.n_outputs):
            return None
        return min(self.hidden)

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **train_options: Any) -> LinearNetwork:
        """Train on (X, y) with :func:`olsnet.train` (keyword options passed on); returns self."""
        from .training import train

        log = train(self, X, y, sample_weight, **train_options)
        self.training_log_: TrainingLog = log
        return self

    def collapse(self) -> Affine:
        """The affine map this network computes (see :func:`olsnet.collapse`)."""
        from ..collapse import collapse

        return collapse(self)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions as a NumPy array: (n_samples,) for one output, else (n_samples, q)."""
        w = next(self.parameters())
        Xt = torch.as_tensor(np.asarray(X), dtype=w.dtype, device=w.device)
        with torch.no_grad():
            out = self(Xt).cpu().numpy()
        return out[:, 0] if self.n_outputs == 1 else out

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_outputs={self.n_outputs}, hidden={self.hidden}"
