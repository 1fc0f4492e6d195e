"""expand: factor an affine map into a linear network with balanced layers."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..affine import Affine
from ..errors import AliasedColumnWarning, InputTypeError, RankError
from .network import LinearNetwork, check_widths, linear_layers

__all__ = ["as_affine", "expand", "numerical_rank"]


def numerical_rank(s: np.ndarray, shape: tuple[int, int]) -> int:
    """Rank from singular values ``s`` with LAPACK's default cut ``max(shape) · eps · s_max``."""
    if s.size == 0 or s[0] == 0.0:
        return 0
    return int((s > max(shape) * np.finfo(np.float64).eps * s[0]).sum())


def _with_zeros_for_aliased(params: np.ndarray, what: str) -> np.ndarray:
    if np.isnan(params).any():
        warnings.warn(
            f"{what} has NaN (aliased) coefficients; the map uses 0 for them, as predictions do",
            AliasedColumnWarning,
            stacklevel=4,
        )
        return np.where(np.isnan(params), 0.0, params)
    return params


def as_affine(model: Any) -> Affine:
    """An Affine from an Affine, a fitted estimator (``coef_``, ``intercept_``) or a result."""
    if isinstance(model, Affine):
        return model
    if hasattr(model, "coef_"):
        W = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))  # (q, p)
        b = np.atleast_1d(np.asarray(getattr(model, "intercept_", 0.0), dtype=np.float64))
        names = getattr(model, "feature_names_in_", None)
        return Affine(
            _with_zeros_for_aliased(W, type(model).__name__),
            np.broadcast_to(b, (W.shape[0],)),
            feature_names=None if names is None else tuple(names),
        )
    if hasattr(model, "params") and hasattr(model, "param_names"):
        P = np.asarray(model.params, dtype=np.float64)
        P = P[:, None] if P.ndim == 1 else P  # (k, q)
        P = _with_zeros_for_aliased(P, type(model).__name__)
        pnames = list(model.param_names)
        if pnames and pnames[0] == "Intercept":
            b, W = P[0], P[1:].T
        else:
            b, W = np.zeros(P.shape[1]), P.T
        return Affine(
            W,
            b,
            feature_names=getattr(model, "feature_names", None),
            target_names=getattr(model, "target_names", None),
        )
    if isinstance(model, torch.nn.Module):
        from ..collapse import collapse

        return collapse(model)
    raise InputTypeError(
        f"cannot expand a {type(model).__name__}; pass an olsnet.Affine, a fitted "
        "LinearRegression (or estimator with coef_ and intercept_) or a RegressionResult"
    )


def _embedding(width: int, r: int, gen: np.random.Generator | None) -> np.ndarray:
    """(width, r) with orthonormal columns: the first r unit vectors, or random if seeded."""
    if gen is None:
        return np.eye(width, r)
    Q, R = np.linalg.qr(gen.standard_normal((width, r)))
    return Q * np.where(np.diagonal(R) < 0, -1.0, 1.0)


def expand(
    model: Any,
    hidden: Sequence[int] = (),
    *,
    dtype: torch.dtype = torch.float64,
    seed: int | None = None,
) -> LinearNetwork:
    """A LinearNetwork with widths ``hidden`` computing exactly the map of ``model``.

    Parameters
    ----------
    model : Affine, fitted LinearRegression, RegressionResult or linear torch module
    hidden : tuple of int, default ()
        Hidden widths; each must be at least the rank of the map.
    dtype : torch.dtype, default torch.float64
    seed : int, optional
        None embeds the rank-r factors in the first r units of each hidden layer (the rest are
        zero); an int embeds them through a random orthonormal basis drawn with that seed.

    Returns
    -------
    LinearNetwork
        Its collapse equals the map to rounding (about depth · eps relative).

    Raises
    ------
    RankError
        A hidden width smaller than the rank of the map (naming both).

    Notes
    -----
    Balanced factors (Arora, Cohen and Hazan 2018, *On the optimization of deep networks*,
    ICML): with the thin SVD ``W = U S Vᵀ`` of rank r and L layers, and ``P_l`` (h_l, r)
    with orthonormal columns, ``W_1 = P_1 S^{1/L} Vᵀ``, ``W_l = P_l S^{1/L} P_{l-1}ᵀ``,
    ``W_L = U S^{1/L} P_{L-1}ᵀ``. Then ``W_L ⋯ W_1 = W`` and every layer satisfies
    ``W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ`` (balancedness). The hidden biases are zero; the bias of
    the map sits in the last layer.

    Examples
    --------
    >>> import numpy as np
    >>> from olsnet import Affine
    >>> A = Affine(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5]))
    >>> net = expand(A, hidden=(3, 2))
    >>> bool(net.collapse().allclose(A, rtol=1e-13, atol=1e-15))
    True
    """
    A = as_affine(model)
    widths = check_widths(hidden)
    W = np.asarray(A.weight, dtype=np.float64)  # (q, p)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    r = numerical_rank(s, W.shape)
    for i, h in enumerate(widths):
        if h < r:
            raise RankError(
                f"hidden width {h} (layer {i + 1}) is smaller than the rank {r} of the map; a "
                f"network that narrow cannot compute it exactly. Use widths >= {r}, or fit "
                f"olsnet.ReducedRankRegression(rank={h}) for the best rank-{h} map"
            )
    L = len(widths) + 1
    root = s[:r] ** (1.0 / L)  # (r,): each layer's share of the singular values
    gen = None if seed is None else np.random.default_rng(seed)
    P = [_embedding(h, r, gen) for h in widths]  # (h_l, r) each
    left = [*P, U[:, :r]]  # output side of each layer
    right = [Vt[:r].T, *P]  # input side of each layer
    factors = [(lo * root) @ ri.T for lo, ri in zip(left, right, strict=True)]  # (h_l, h_{l-1})
    net = LinearNetwork(
        A.n_features,
        A.n_outputs,
        widths,
        bias=True,
        dtype=dtype,
        feature_names=A.feature_names,
        target_names=A.target_names,
        seed=0,
    )
    with torch.no_grad():
        for i, (layer, F) in enumerate(zip(linear_layers(net), factors, strict=True)):
            layer.weight.copy_(torch.as_tensor(F, dtype=dtype))
            last = i == L - 1
            layer.bias.copy_(torch.as_tensor(np.array(A.bias) if last else 0.0, dtype=dtype))
    return net
