"""The torch front end: collapse any affine torch module into one :class:`~olsnet.Affine` map.

A plain chain of ``nn.Linear`` layers is multiplied out directly; any other module is traced
(torch.fx, else torch.export) and its graph is evaluated on affine values ``x @ W.T + b``
instead of tensors (see ``_algebra``); ``_torch_rules`` lists the operations it can follow.
Either way the map is float64 and is checked against the module itself on random probe
inputs with :func:`~olsnet.collapse.certificate.certify` (one tolerance table for all).
"""

from __future__ import annotations

import copy
import os
import sys
import warnings
from itertools import pairwise
from typing import Any

import numpy as np

from ..affine import Affine, Certificate
from ..errors import DimensionError, InputTypeError, NotAffineError, TrainingWarning
from ._algebra import Lin
from ._trace import evaluate, guess_n_features, n_features_from_graph, trace
from .certificate import certify

__all__ = ["collapse_module", "multiply_out", "plain_linear_layers"]


def collapse_module(
    module: Any, example_input: Any = None, *, n_probes: int = 64, seed: int = 0
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
    modes = {m: m.training for m in module.modules()}
    layers = plain_linear_layers(module)  # Linear layers: the same in both modes
    if layers is None and any(modes.values()):
        training = [name or "(top level)" for name, m in module.named_modules() if m.training]
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
        return _collapse_eval(module, example, n_probes, seed)
    finally:
        for m, mode in modes.items():
            m.training = mode


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


def _collapse_eval(module: Any, example: Any, n_probes: int, seed: int) -> Affine:
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
    out = evaluate(gm, shape, tracer, batch_size=batch)
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


def _certify_module(
    module: Any, affine: Affine, example: Any, n_probes: int, seed: int, how: str
) -> Certificate:
    import torch

    rng = np.random.default_rng(seed)
    shape = affine.input_shape or (affine.n_features,)
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
