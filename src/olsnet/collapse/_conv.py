"""Convolution, transposed convolution and average pooling in NumPy, float64, any dimension.

Used by the ONNX front end (torch graphs run torch's own operations). Shapes follow ONNX:
``x`` (n, C, *S); ``Conv`` weight (M, C / group, *K); ``ConvTranspose`` weight
(C, M / group, *K); ``pads`` = (begin_1, ..., begin_d, end_1, ..., end_d). Each kernel offset
is one strided slice and one contraction (``einsum``), so the cost is that of the direct
convolution with no im2col copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["average_pool", "conv", "conv_transpose", "same_pads"]


def same_pads(
    size: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
    upper: bool,
) -> list[int]:  # fmt: skip
    """ONNX ``auto_pad`` SAME_UPPER / SAME_LOWER: output ceil(size / stride), extra pad at the
    end (upper) or the beginning (lower)."""
    begin, end = [], []
    for s, k, st, d in zip(size, kernel, strides, dilations, strict=True):
        out = -(-s // st)
        total = max((out - 1) * st + (k - 1) * d + 1 - s, 0)
        small = total // 2
        begin.append(small if upper else total - small)
        end.append(total - small if upper else small)
    return begin + end


def _window(
    k: tuple[int, ...], dilations: Sequence[int], strides: Sequence[int], count: Sequence[int]
) -> tuple[slice, ...]:
    """The strided slice of each spatial axis that kernel offset ``k`` reads (or writes)."""
    return tuple(
        slice(
            k[i] * dilations[i], k[i] * dilations[i] + strides[i] * (count[i] - 1) + 1, strides[i]
        )
        for i in range(len(k))
    )


def conv(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> np.ndarray:
    """ONNX ``Conv``: (n, C, *S) -> (n, M, *O), O = (S + pads - dil·(K-1) - 1) // stride + 1."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), *((pads[i], pads[i + nd]) for i in range(nd))])
    out_sp = [
        (xp.shape[2 + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(nd)
    ]
    if min(out_sp, default=1) < 1:
        raise ValueError(
            f"the kernel {tuple(kernel)} is larger than the padded input {xp.shape[2:]}"
        )
    n, C, M = x.shape[0], x.shape[1], w.shape[0]
    cg, mg = C // group, M // group
    out = np.zeros((n, M, *out_sp))
    for g in range(group):
        xg, wg = xp[:, g * cg : (g + 1) * cg], w[g * mg : (g + 1) * mg]
        for k in np.ndindex(*kernel):
            window = _window(k, dilations, strides, out_sp)
            patch = xg[(slice(None), slice(None), *window)]  # (n, cg, *O)
            out[:, g * mg : (g + 1) * mg] += np.einsum("nc...,mc->nm...", patch, wg[(..., *k)])
    if b is not None:
        out += b.reshape(1, M, *([1] * nd))
    return out


def conv_transpose(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
    output_padding: Sequence[int],
) -> np.ndarray:
    """ONNX ``ConvTranspose`` (the adjoint of ``conv``): (n, C, *S) -> (n, M, *O),
    O = stride·(S-1) + output_padding + dil·(K-1) + 1 - pads_begin - pads_end."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    n, C, S = x.shape[0], x.shape[1], x.shape[2:]
    cg, mg = C // group, w.shape[1]
    full_sp = [
        strides[i] * (S[i] - 1) + output_padding[i] + dilations[i] * (kernel[i] - 1) + 1
        for i in range(nd)
    ]
    full = np.zeros((n, mg * group, *full_sp))
    for g in range(group):
        xg, wg = x[:, g * cg : (g + 1) * cg], w[g * cg : (g + 1) * cg]
        for k in np.ndindex(*kernel):
            window = _window(k, dilations, strides, S)
            full[(slice(None), slice(g * mg, (g + 1) * mg), *window)] += np.einsum(
                "nc...,cm->nm...", xg, wg[(..., *k)]
            )
    crop = tuple(slice(pads[i], full_sp[i] - pads[i + nd]) for i in range(nd))
    out = full[(slice(None), slice(None), *crop)]
    if b is not None:
        out = out + b.reshape(1, -1, *([1] * nd))
    return out


def average_pool(
    x: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    count_include_pad: bool,
) -> np.ndarray:
    """ONNX ``AveragePool`` (ceil_mode 0): the mean over each window, padded entries counted
    only with ``count_include_pad``."""
    C = x.shape[1]
    ones = np.ones((C, 1, *kernel))
    total = conv(x, ones, None, strides, pads, dilations, C)
    if count_include_pad:
        return total / float(np.prod(kernel))
    count = conv(np.ones((1, 1, *x.shape[2:])), ones[:1], None, strides, pads, dilations, 1)
    return total / count
