"""Collapse affine models (torch modules, ONNX graphs) into one :class:`~olsnet.Affine` map.

Two front ends share one algebra of affine values (``_algebra``) and one certificate policy
(:mod:`olsnet.collapse.certificate`):

* torch: ``_trace`` (torch.fx, else torch.export) and the rule tables of ``_torch_rules``,
  driven by ``_torch``;
* ONNX: ``_onnx`` with its ``ONNX_RULES`` table.

Importing this package imports neither torch nor onnx; they load when a function needs them.
"""

from __future__ import annotations

import os
from typing import Any

from ..affine import Affine
from ..errors import InputTypeError
from ._fuse import FusedRun, FuseReport, fuse
from ._onnx import from_onnx
from ._onnx import load_model as read_onnx
from .certificate import TOLERANCES, certify

__all__ = [
    "TOLERANCES",
    "FuseReport",
    "FusedRun",
    "certify",
    "collapse",
    "from_onnx",
    "fuse",
    "read_onnx",
]


def collapse(
    model: Any, example_input: Any = None, *, at: Any = None, n_probes: int = 64, seed: int = 0
) -> Affine:
    """The affine map ``y = W x + b`` computed by an affine torch module or ONNX graph.

    Parameters
    ----------
    model : torch.nn.Module, onnx.ModelProto or path to a ``.onnx`` file
        A LinearNetwork, ``nn.Linear`` or ``nn.Sequential`` of ``nn.Linear`` / ``nn.Identity``
        layers is multiplied out directly. Any other module is traced (torch.fx, else
        torch.export) and its graph followed through Linear, BatchNorm (eval), Dropout (eval),
        Identity, Flatten, sums of branches, concatenation and scaling by constants. ONNX
        graphs go to :func:`from_onnx`.
    example_input : tensor or array of shape (n_samples, n_features), optional
        Fixes the input width when the first layer does not declare it; joins the probes.
        For convolutions, the full shape (n_samples, channels, ...).
    at : tensor or array of shape (n_features,) or (1, *input_shape), optional
        Local linearization of a piecewise-linear network (ReLU, LeakyReLU, PReLU, Hardtanh /
        ReLU6 / clamp, abs, MaxPool and the affine layers): the exact affine map of the linear
        region containing ``at``, equal to the network's Jacobian there. Its certificate gives
        the ``radius`` around ``at`` inside which the map is exact (the smallest pre-activation
        margin over the norm of its gradient row) and is checked on probes inside that ball;
        a point on a region boundary gets radius 0, ``boundary`` naming the operation, and
        the map autograd reports there. Torch modules only.
    n_probes : int, default 64
        Random standard-normal probe rows for the certificate.
    seed : int, default 0
        Seed of the probe generator.

    Returns
    -------
    Affine
        float64 ``weight`` (n_outputs, n_features) and ``bias`` (n_outputs,), whatever the
        model's dtype, with the names a LinearNetwork carries and a ``certificate``: the
        largest difference between model and map on the probes, against the tolerance of
        :data:`TOLERANCES` for the dtype the check ran in.

    Raises
    ------
    NotAffineError
        Naming the node, its operation and module path, for an operation that is not affine
        (ReLU, GELU, tanh, softmax, LayerNorm, ``x * x``, data-dependent control flow), or when
        the certificate exceeds its tolerance.
    DimensionError
        The input width cannot be told (pass ``example_input``).
    InputTypeError
        ``model`` is neither a torch module nor an ONNX model.

    Notes
    -----
    For layers ``(W_l, b_l)``: ``W = W_L ⋯ W_1``, ``b = W_L(⋯(W_2 b_1 + b_2)⋯) + b_L``.
    A ReLU network is affine on each linear region (Montúfar et al. 2014, "On the number of
    linear regions of deep neural networks"); ``at=x`` returns that region's map, so the
    network is, around each input, a linear regression (``olsnet.inference_at`` gives its
    statistics on data of the region).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double().eval()
    >>> collapse(net).weight.shape
    (2, 3)
    """
    if _is_onnx(model):
        if at is not None:
            raise InputTypeError("collapse(..., at=x) linearizes torch modules, not ONNX graphs")
        return from_onnx(model, n_probes=n_probes, seed=seed)
    from ._torch import collapse_module

    return collapse_module(model, example_input, at=at, n_probes=n_probes, seed=seed)


def _is_onnx(model: Any) -> bool:
    if isinstance(model, (str, os.PathLike)):
        if not os.fspath(model).lower().endswith(".onnx"):
            raise InputTypeError(
                f"collapse takes a torch module, an onnx.ModelProto or a path to a .onnx file; "
                f"got the path {os.fspath(model)!r}"
            )
        return True
    return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")
