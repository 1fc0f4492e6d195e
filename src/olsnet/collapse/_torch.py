"""The torch front end: collapse any affine torch module into one :class:`~olsnet.Affine` map.

A plain chain of ``nn.Linear`` layers is multiplied out directly; any other module is traced
(torch.fx, else torch.export) and its graph is evaluated on affine values ``x @ W.T + b``
instead of tensors (see ``_algebra``); ``_torch_rules`` lists the operations it can follow.
Either way the map is float64 and is checked against the module itself on random probe
inputs with :func:`~olsnet.collapse.certificate.certify` (one tolerance table for all).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import warnings
from itertools import pairwise
from typing import Any

import numpy as np

from ..affine import Affine, Certificate
from ..errors import DimensionError, InputTypeError, NotAffineError, TrainingWarning
from ._algebra import Lin
from ._local import Region
from ._trace import evaluate, guess_n_features, n_features_from_graph, trace
from .certificate import certify

__all__ = ["collapse_module", "multiply_out", "plain_linear_layers"]


def collapse_module(
    module: Any, example_input: Any = None, *, at: Any = None, n_probes: int = 64, seed: int = 0
) -> Affine:
    """:func:`olsnet.collapse` of a torch module (see there for parameters and errors).

    A module in training mode is collapsed as in eval mode (Dropout is the identity, BatchNorm
    uses its running statistics), with a :class:`~olsnet.errors.TrainingWarning` unless it is a
    plain chain of Linear layers; the modes of its submodules are restored afterwards. The
    certificate evaluates a float64 copy of the module where possible (else the module in its
    own dtype) on the probes.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise InputTypeError(f"collapse takes a torch.nn.Module, got {type(module).__name__}")
    example = None
    if example_input is not None:
        example = torch.as_tensor(
            np.asarray(example_input) if not torch.is_tensor(example_input) else example_input
        )
        if example.ndim < 2:
            raise DimensionError(
                f"example_input must have shape (n_samples, n_features) or (n_samples, channels, "
                f"...) for convolutions, got {tuple(example.shape)}"
            )
    region = None
    if at is not None:
        example, region = _point(at)
    modes = {m: m.training for m in module.modules()}
    layers = None if region is not None else plain_linear_layers(module)  # mode-independent
    training = [name or "(top level)" for name, m in module.named_modules() if _reads_mode(m)]
    if layers is None and training:
        warnings.warn(
            TrainingWarning(
                f"{type(module).__name__} is in training mode (e.g. {training[0]!r}); it is collapsed as "
                "in eval mode (Dropout off, BatchNorm with running statistics). Call .eval() first to "
                "silence this."
            ),
            stacklevel=_user_stacklevel(),
        )
    try:
        module.eval()
        if layers is not None:
            return _collapse_chain(module, layers, example, n_probes, seed)
        return _collapse_eval(module, example, n_probes, seed, region)
    finally:
        for m, mode in modes.items():
            m.training = mode


def _reads_mode(module: Any) -> bool:
    """A module in training mode that behaves differently there: Dropout, BatchNorm, or a
    module of the user's own whose forward may read ``self.training``."""
    from torch import nn

    if not module.training:
        return False
    if isinstance(module, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)):
        return True
    return not type(module).__module__.startswith("torch.")


def plain_linear_layers(module: Any) -> list[Any] | None:
    """The ``nn.Linear`` layers of an ``nn.Linear`` or a Sequential of Linear / Identity layers
    (a LinearNetwork), in order; None for any other module."""
    from torch import nn

    if isinstance(module, nn.Linear):
        return [module]
    if type(module).forward is not nn.Sequential.forward or not isinstance(module, nn.Sequential):
        return None
    children = list(module.children())
    if not all(isinstance(m, (nn.Linear, nn.Identity)) for m in children):
        return None
    layers = [m for m in children if isinstance(m, nn.Linear)]
    widths_chain = all(a.out_features == b.in_features for a, b in pairwise(layers))
    return layers if layers and widths_chain else None


def multiply_out(layers: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(W (q, p), b (q,)) of the composed layers in float64: ``W = W_L ⋯ W_1``,
    ``b = W_L(⋯(W_2 b_1 + b_2)⋯) + b_L``."""
    W = np.eye(layers[0].in_features)  # (p, p)
    b = np.zeros(layers[0].in_features)  # (p,)
    for layer in layers:
        Wl = layer.weight.detach().cpu().double().numpy()  # (h_l, h_{l-1})
        W, b = Wl @ W, Wl @ b
        if layer.bias is not None:
            b = b + layer.bias.detach().cpu().double().numpy()
    return W, b


def _collapse_chain(
    module: Any, layers: list[Any], example: Any, n_probes: int, seed: int
) -> Affine:
    W, b = multiply_out(layers)
    if example is not None and tuple(example.shape[1:]) != (W.shape[1],):
        raise DimensionError(
            f"example_input has shape {tuple(example.shape)}; this model's first Linear layer "
            f"takes {W.shape[1]} features, so example_input must have shape (n_samples, "
            f"{W.shape[1]})"
        )
    affine = Affine(W, b)
    source = f"{type(module).__name__} ({len(layers)} linear layers)"
    cert = _certify_module(module, affine, example, n_probes, seed, source)
    return _with_names(module, affine, cert)


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first caller outside olsnet."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def _param_dtype(module: Any) -> Any:
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _no_shape(module: Any) -> DimensionError:
    return DimensionError(
        f"cannot tell the input shape of {type(module).__name__} (a convolution, pooling or "
        "padding layer does not declare its spatial size, and no Linear layer comes first); "
        "pass example_input with the full shape, e.g. a tensor of shape (1, channels, length) "
        "for Conv1d or (1, channels, height, width) for Conv2d"
    )


def _point(at: Any) -> tuple[Any, Region]:
    """(example input (1, *input_shape) float64, Region) of the point ``at``."""
    import torch

    x = at.detach().cpu() if torch.is_tensor(at) else torch.as_tensor(np.asarray(at))
    x = x.to(torch.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim < 2 or x.shape[0] != 1:
        raise DimensionError(
            f"at must be one input: shape (n_features,) or (1, *input_shape); got {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all():
        raise DimensionError(
            "at holds NaN or inf; the linear region of a point needs a finite point"
        )
    return x, Region(x.numpy().reshape(-1))


def _collapse_eval(
    module: Any, example: Any, n_probes: int, seed: int, region: Region | None = None
) -> Affine:
    import torch

    def make_example() -> Any:
        if example is not None:
            return example
        width = guess_n_features(module)
        if width is None:
            raise _no_shape(module)
        device = next((t.device for t in module.parameters()), None)
        return torch.randn(7, width, dtype=_param_dtype(module), device=device)

    gm, tracer, used = trace(module, make_example)
    shape: tuple[int, ...] | None = None
    if example is not None:
        shape = tuple(int(d) for d in example.shape[1:])
    elif used is not None:
        shape = tuple(int(d) for d in used.shape[1:])
    else:
        width = n_features_from_graph(gm) or guess_n_features(module)
        shape = None if width is None else (width,)
    if shape is None:
        raise _no_shape(module)
    batch = int(used.shape[0]) if used is not None else None
    out = evaluate(gm, shape, tracer, batch_size=batch, region=region)
    if not isinstance(out, Lin):
        raise NotAffineError(
            f"cannot collapse {type(module).__name__}: its output "
            f"({type(out).__name__}) does not depend on the input"
        )
    if out.layout == "qn":
        raise NotAffineError(
            f"cannot collapse {type(module).__name__}: it returns (n_outputs, "
            "n_samples); transpose its output to (n_samples, n_outputs)"
        )
    affine = Affine(out.W, out.b, input_shape=shape if len(shape) > 1 else None)
    if region is not None:
        return _with_names(module, affine, _certify_local(module, affine, region, n_probes, seed))
    cert = _certify_module(module, affine, example, n_probes, seed, tracer)
    return _with_names(module, affine, cert)


def _with_names(module: Any, affine: Affine, cert: Certificate) -> Affine:
    names = [
        _names(getattr(module, attr, None), size)
        for attr, size in (("feature_names", affine.n_features), ("target_names", affine.n_outputs))
    ]
    return Affine(
        affine.weight, affine.bias, names[0], names[1], cert, input_shape=affine.input_shape
    )


def _names(names: Any, size: int) -> tuple[str, ...] | None:
    """Names a module carries (as LinearNetwork does), when they fit the map."""
    if isinstance(names, (list, tuple)) and len(names) == size:
        return tuple(str(n) for n in names)
    return None


def _certify_local(
    module: Any, affine: Affine, region: Region, n_probes: int, seed: int
) -> Certificate:
    """Model against local map at x and at probes drawn uniformly in the ball of half the
    radius (a radius of 0 leaves only x; an infinite one, standard-normal offsets)."""
    import dataclasses

    rng = np.random.default_rng(seed)
    x = region.x
    offsets = np.zeros((1, x.size))
    if region.radius > 0:
        u = rng.standard_normal((n_probes, x.size))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        scale = 0.5 * region.radius if math.isfinite(region.radius) else 1.0
        r = scale * rng.uniform(size=(n_probes, 1)) ** (1.0 / x.size)  # uniform in the ball
        offsets = np.vstack([offsets, r * u])
    X = (x + offsets).reshape(len(offsets), *(affine.input_shape or (affine.n_features,)))
    where = "; ".join(region.boundary[:3])
    cert = _certify_module(module, affine, None, 0, seed, "local map", X=X)
    return dataclasses.replace(cert, radius=region.radius, boundary=where)


def _certify_module(
    module: Any,
    affine: Affine,
    example: Any,
    n_probes: int,
    seed: int,
    how: str,
    X: np.ndarray | None = None,
) -> Certificate:
    import torch

    rng = np.random.default_rng(seed)
    shape = affine.input_shape or (affine.n_features,)
    if X is None:
        X = rng.standard_normal((n_probes, *shape))  # (n_probes, *input_shape)
    if example is not None:
        X = np.concatenate([X, example.detach().cpu().double().numpy()])
    with torch.no_grad():
        try:  # float64 copy: the tightest check of the propagation itself
            reference = copy.deepcopy(module).to(device="cpu", dtype=torch.float64)
            y = reference(torch.as_tensor(X, dtype=torch.float64))
            dtype_name = "float64"
        except Exception:
            dtype = _param_dtype(module)
            device = next((t.device for t in module.parameters()), torch.device("cpu"))
            y = module(torch.as_tensor(X, dtype=dtype, device=device))
            dtype_name = str(dtype)
    if not torch.is_tensor(y):
        raise NotAffineError(
            f"cannot collapse {type(module).__name__}: it returns "
            f"{type(y).__name__}, not one tensor"
        )
    y_model = y.detach().cpu().double().numpy()
    source = f"collapse of {type(module).__name__} ({how}, checked in {dtype_name})"
    y_map = affine.predict(X.reshape(len(X), -1))
    return certify(y_model, y_map, dtype_name=dtype_name, source=source)
