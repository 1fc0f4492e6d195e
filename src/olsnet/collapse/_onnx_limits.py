"""Bounds on what an ONNX graph may make olsnet allocate, checked before each allocation.

A graph states its tensors' sizes only implicitly (a ``ConstantOfShape`` of ``[2**17, 2**17]``
is 40 bytes in the file and 128 GiB in memory), so every tensor the collapse would build is
sized first, with Python integers, and refused above ``max_bytes``:

* the affine value of the input, ``p × p`` float64 (an identity), and of every node output,
  ``q × p`` (q its feature count), by the rule's own output shape or the graph's shapes;
* every constant computed from constants (``ConstantOfShape``, ``Expand``, ``Tile``, ``Concat``,
  broadcasting arithmetic, ...), by its output shape from its inputs' shapes and values;
* the certificate's probe batch (its rows never follow a declared batch size).

External data is read only from files beside the model (relative paths, no ``..``, no links
out of the folder), and only as much as the tensor declares.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..errors import FormatError, ResourceLimitError

__all__ = ["MAX_BYTES", "check_bytes", "constant_output_elements", "load_external_data"]

# 256 MiB per tensor: a float64 map of 4,096 features by 8,192 (or an identity on 5,792
# features); larger affine collapses are refused unless the caller raises max_bytes
MAX_BYTES = 2**28


def check_bytes(n_bytes: int, what: str, max_bytes: int) -> None:
    """ResourceLimitError when ``n_bytes`` (a Python int, never wrapped) exceeds the budget."""
    if n_bytes > max_bytes:
        raise ResourceLimitError(
            f"{what} would take {n_bytes / 2**20:,.1f} MiB, more than the budget of "
            f"{max_bytes / 2**20:,.1f} MiB (max_bytes={max_bytes}); nothing was allocated. Pass "
            "a larger max_bytes if the model is meant to be this large"
        )


def _elements(shape: Any) -> int:
    return math.prod(int(d) for d in shape)


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0}
        dims.discard(1)
        out.append(max(dims, default=1))
    return tuple(out)


# ops whose output is no larger than their largest input (elementwise, reductions, views)
_NOT_GROWING = {
    "Abs", "Acos", "And", "Cast", "CastLike", "Ceil", "Clip", "Cos", "Erf", "Exp", "Flatten",
    "Floor", "Identity", "IsInf", "IsNaN", "Log", "Neg", "Not", "Reciprocal", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "Relu", "Reshape", "Round", "Shape",
    "Sigmoid", "Sign", "Sin", "Size", "Slice", "Sqrt", "Squeeze", "Tanh", "Transpose",
    "Unsqueeze", "ArgMax", "ArgMin", "Softmax", "Dropout",
}  # fmt: skip
_BROADCASTING = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Equal", "Greater", "Less",
    "GreaterOrEqual", "LessOrEqual", "Or", "Xor", "Where", "Sum", "Mean", "BitShift",
}  # fmt: skip


def constant_output_elements(op: str, inputs: list[Any], attrs: dict[str, Any]) -> int | None:
    """Entries of the largest output of ``op`` on constant ``inputs``; None when not known."""
    arrays = [np.asarray(v if v is not None else np.zeros(0)) for v in inputs]
    shapes = [a.shape if v is not None else () for a, v in zip(arrays, inputs, strict=True)]
    if op == "ConstantOfShape":
        return _elements(arrays[0].reshape(-1))
    if op == "Expand":
        return _elements(_broadcast(shapes[0], tuple(int(d) for d in arrays[1].reshape(-1))))
    if op == "Tile":
        reps = [int(r) for r in arrays[1].reshape(-1)]
        return _elements(shapes[0]) * _elements(reps)
    if op == "Range":
        start, limit, delta = (float(a) for a in arrays[:3])
        return max(math.ceil((limit - start) / delta), 0) if delta else None
    if op == "Concat":
        return sum(_elements(s) for s in shapes)
    if op in _BROADCASTING:
        return _elements(_broadcast(*shapes))
    if op in ("MatMul", "Gemm"):
        a, b = shapes[0], shapes[1]
        if len(a) < 1 or len(b) < 1:
            return None
        rows = a[-2] if len(a) > 1 and not attrs.get("transA") else a[-1]
        cols = b[-1] if not attrs.get("transB") else b[0]
        return _elements(_broadcast(a[:-2], b[:-2])) * int(rows) * int(cols)
    if op == "Gather":
        axis = int(attrs.get("axis", 0))
        return _elements(shapes[0]) // max(shapes[0][axis], 1) * max(_elements(shapes[1]), 1)
    if op == "OneHot":
        return _elements(shapes[0]) * int(np.asarray(arrays[1]).reshape(-1)[0])
    if op in _NOT_GROWING:
        return max((_elements(s) for s in shapes), default=1)
    return None


def _inside(base: str, location: str) -> str:
    """The real path of ``location`` if it names a regular file inside ``base``, else an error."""
    if not location or os.path.isabs(location) or os.path.splitdrive(location)[0]:
        raise FormatError(f"external data location {location!r} is absolute; only paths "
                          "relative to the model's folder are read")  # fmt: skip
    parts = location.replace("\\", "/").split("/")
    if ".." in parts:
        raise FormatError(
            f"external data location {location!r} leaves the model's folder ('..'); only "
            "files beside the model are read"
        )
    root = os.path.realpath(base)
    full = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, full]) != root:
        raise FormatError(
            f"external data location {location!r} resolves outside the model's folder "
            f"({full}); only files beside the model are read"
        )
    if not os.path.isfile(full):
        raise FormatError(
            f"external data file {location!r} (beside the model, in {root}) is missing or not "
            "a regular file"
        )
    return full


def load_external_data(proto: Any, base: str | None, max_bytes: int) -> None:
    """Read every tensor's external data from files beside the model, in place.

    ``base`` is the model's folder, None for a ModelProto given in memory (whose external data
    must then already be loaded). Raises FormatError naming the tensor.
    """
    from onnx import TensorProto, external_data_helper, helper

    for tensor in external_data_helper._get_all_tensors(proto):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = external_data_helper.ExternalDataInfo(tensor)
        name = tensor.name or "(unnamed)"
        if base is None:
            raise FormatError(
                f"tensor {name!r} keeps its data in the external file {info.location!r}, which "
                "was not loaded; pass the path of the .onnx file so olsnet reads it from beside "
                "the model"
            )
        try:
            full = _inside(base, info.location)
        except FormatError as err:
            raise FormatError(f"tensor {name!r}: {err}") from None
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        declared = _elements(tensor.dims) * itemsize
        check_bytes(declared, f"tensor {name!r} (external data)", max_bytes)
        offset = int(info.offset or 0)
        length = declared if info.length is None else int(info.length)
        if length != declared or offset < 0 or offset + length > os.path.getsize(full):
            raise FormatError(
                f"tensor {name!r}: external data {info.location!r} at offset {offset} with length "
                f"{length} does not hold its {declared} bytes (shape {list(tensor.dims)}); the "
                "file is truncated or the model is malformed"
            )
        with open(full, "rb") as fh:
            fh.seek(offset)
            tensor.raw_data = fh.read(length)
        tensor.data_location = TensorProto.DEFAULT
        del tensor.external_data[:]
