"""collapse: multiply the layers of a linear network out into one affine map."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..affine import Affine, Certificate
from ..errors import NotAffineError
from .network import LinearNetwork, linear_layers

__all__ = ["certify", "collapse"]

N_PROBES = 64


def _is_plain_linear(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return (
        isinstance(module, nn.Sequential)
        and all(isinstance(m, (nn.Linear, nn.Identity)) for m in module.children())
        and any(isinstance(m, nn.Linear) for m in module.children())
    )


def multiply_out(layers: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (q, p), b (q,)) of the composed layers, in their dtype and on their device."""
    first = layers[0]
    W = first.weight.detach()  # (h_1, p)
    b = (
        first.bias.detach()
        if first.bias is not None
        else torch.zeros(first.out_features, dtype=W.dtype, device=W.device)
    )
    for layer in layers[1:]:
        Wl = layer.weight.detach()  # (h_l, h_{l-1})
        b = Wl @ b
        if layer.bias is not None:
            b = b + layer.bias.detach()
        W = Wl @ W
    return W, b


def certify(
    module: nn.Module, W: torch.Tensor, b: torch.Tensor, source: str, seed: int = 0
) -> Certificate:
    """Largest difference between ``module`` and ``x @ W.T + b`` on Gaussian probe inputs."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(N_PROBES, W.shape[1], generator=gen, dtype=torch.float64)
    X = X.to(dtype=W.dtype, device=W.device)  # (N_PROBES, p)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(X).reshape(N_PROBES, -1)  # (N_PROBES, q)
            mapped = X @ W.T + b
    finally:
        module.train(was_training)
    diff = (out - mapped).abs().max().item()
    scale = max(out.abs().max().item(), torch.finfo(W.dtype).tiny)
    # sqrt(eps) of the dtype: the product of L layers differs from their sequential evaluation
    # by about L · eps relative; anything near sqrt(eps) means the module is not this map
    tol = float(np.sqrt(torch.finfo(W.dtype).eps))
    return Certificate(
        max_abs_diff=diff,
        max_rel_diff=diff / scale,
        n_probes=N_PROBES,
        tolerance=tol,
        source=source,
    )


def collapse(module: nn.Module, example_input: Any = None) -> Affine:
    """The affine map ``y = W x + b`` computed by a linear network or any affine module.

    Parameters
    ----------
    module : torch.nn.Module
        A LinearNetwork, an ``nn.Sequential`` of ``nn.Linear`` / ``nn.Identity`` layers or an
        ``nn.Linear``: its layers are multiplied out directly. Any other module is traced by
        :func:`olsnet._collapse.collapse_module` (torch.fx), with ``example_input`` if given.
    example_input : tensor, optional
        Passed to the tracer for general modules.

    Returns
    -------
    Affine
        ``weight`` (n_outputs, n_features) and ``bias`` (n_outputs,) as NumPy arrays in the
        module's dtype, with the names a LinearNetwork carries and a Certificate: the largest
        difference between module and map on 64 Gaussian probe inputs.

    Raises
    ------
    NotAffineError
        A layer that is not affine (named), or a certificate above the dtype's tolerance.

    Notes
    -----
    For layers ``(W_l, b_l)``: ``W = W_L ⋯ W_1``, ``b = W_L(⋯(W_2 b_1 + b_2)⋯) + b_L``.
    Training standardises inputs and targets internally and folds the scales back into the
    first and last layers, so the map is always in the user's units.
    """
    if not _is_plain_linear(module):
        try:
            from .._collapse import collapse_module
        except ImportError:  # the general tracer is not available: name the first bad layer
            linear_layers(module)
            raise
        return collapse_module(module, example_input)
    layers = linear_layers(module)
    W, b = multiply_out(layers)
    cert = certify(module, W, b, source=f"{type(module).__name__} ({len(layers)} linear layers)")
    if not cert.passed:
        raise NotAffineError(f"collapsed map does not reproduce the module: {cert}")
    names: dict[str, Any] = {}
    if isinstance(module, LinearNetwork):
        names = {"feature_names": module.feature_names, "target_names": module.target_names}
    return Affine(W.cpu().numpy(), b.cpu().numpy(), certificate=cert, **names)
