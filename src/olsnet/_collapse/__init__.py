"""Collapse any affine torch module into one :class:`~olsnet.Affine` map, with a certificate.

The module is traced (torch.fx, else torch.export) and its graph is evaluated on affine values
``x @ W.T + b`` instead of tensors (see ``_algebra``); ``_rules`` lists the operations it can
follow. The map is then checked against the module itself on random probe inputs.
"""

from __future__ import annotations

import copy
import os
import sys
import warnings
from typing import Any

import numpy as np

from ..affine import Affine, Certificate
from ..errors import DimensionError, InputTypeError, NotAffineError, TrainingWarning
from ._algebra import Lin
from ._certificate import certify
from ._fx import evaluate, guess_n_features, n_features_from_graph, trace

__all__ = ["collapse_module"]


def collapse_module(
    module: Any, example_input: Any = None, *, n_probes: int = 64, seed: int = 0
) -> Affine:
    """Collapse a torch module whose forward pass is affine into one map ``y = W x + b``.

    Parameters
    ----------
    module : torch.nn.Module
        Takes one tensor of shape (n_samples, n_features) and returns (n_samples, n_outputs)
        or (n_samples,).
    example_input : tensor or array of shape (n_samples, n_features), optional
        Fixes the input width when the first layer does not declare it, serves as the example
        for torch.export when torch.fx cannot trace the module, and joins the probes.
    n_probes : int, default 64
        Random standard-normal probe rows for the certificate.
    seed : int, default 0
        Seed of the probe generator.

    Returns
    -------
    Affine
        ``weight`` (n_outputs, n_features) and ``bias`` (n_outputs,) in float64, whatever the
        module's dtype (the exact product of its factors, rounded once per step), with a
        ``certificate``.

    Raises
    ------
    NotAffineError
        Naming the node, its operation and module path, for an operation that is not affine
        (ReLU, GELU, tanh, softmax, LayerNorm, ``x * x``, abs, data-dependent control flow),
        or when the certificate exceeds the tolerance of the dtype the check ran in (1e-10 in
        float64, 1e-4 in float32).

    Notes
    -----
    A module in training mode is collapsed as in eval mode (Dropout is the identity,
    BatchNorm1d uses its running statistics), with a :class:`~olsnet.errors.TrainingWarning`;
    the modes of its submodules are restored afterwards. The certificate evaluates a float64
    copy of the module where possible (else the module in its own dtype) on the probes and
    reports ``max |module(x) - map(x)|`` and that divided by ``max |module(x)|``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double().eval()
    >>> collapse_module(net).weight.shape
    (2, 3)
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise InputTypeError(f"collapse takes a torch.nn.Module, got {type(module).__name__}")
    example = None
    if example_input is not None:
        example = torch.as_tensor(
            np.asarray(example_input) if not torch.is_tensor(example_input) else example_input
        )
        if example.ndim != 2:
            raise DimensionError(
                f"example_input must have shape (n_samples, n_features), got {tuple(example.shape)}"
            )
    modes = {m: m.training for m in module.modules()}
    if any(modes.values()):
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
        return _collapse_eval(module, example, n_probes, seed)
    finally:
        for m, mode in modes.items():
            m.training = mode


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


def _collapse_eval(module: Any, example: Any, n_probes: int, seed: int) -> Affine:
    import torch

    def make_example() -> Any:
        if example is not None:
            return example
        width = guess_n_features(module)
        if width is None:
            raise DimensionError(
                f"cannot tell how many features {type(module).__name__} takes; "
                "pass example_input of shape (n_samples, n_features)"
            )
        device = next((t.device for t in module.parameters()), None)
        return torch.randn(7, width, dtype=_param_dtype(module), device=device)

    gm, tracer, used = trace(module, make_example)
    if example is not None:
        width: int | None = int(example.shape[1])
    elif used is not None:
        width = int(used.shape[1])
    else:
        width = n_features_from_graph(gm) or guess_n_features(module)
    if width is None:
        raise DimensionError(
            f"cannot tell how many features {type(module).__name__} takes; "
            "pass example_input of shape (n_samples, n_features)"
        )
    batch = int(used.shape[0]) if used is not None else None
    out = evaluate(gm, width, tracer, batch_size=batch)
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
    affine = Affine(out.W, out.b)
    cert = _certify_module(module, affine, example, n_probes, seed, tracer)
    names = [
        _names(getattr(module, attr, None), size)
        for attr, size in (("feature_names", affine.n_features), ("target_names", affine.n_outputs))
    ]
    return Affine(affine.weight, affine.bias, names[0], names[1], certificate=cert)


def _names(names: Any, size: int) -> tuple[str, ...] | None:
    """Names a module carries (as LinearNetwork does), when they fit the map."""
    if isinstance(names, (list, tuple)) and len(names) == size:
        return tuple(str(n) for n in names)
    return None


def _certify_module(
    module: Any, affine: Affine, example: Any, n_probes: int, seed: int, tracer: str
) -> Certificate:
    import torch

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_probes, affine.n_features))  # (n_probes, p)
    if example is not None:
        X = np.vstack([X, example.detach().cpu().double().numpy()])
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
    source = f"collapse of {type(module).__name__} ({tracer}, checked in {dtype_name})"
    return certify(y_model, affine.predict(X), dtype_name=dtype_name, source=source)
