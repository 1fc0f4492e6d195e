"""Collapse an affine ONNX graph into one :class:`~olsnet.Affine`: the ONNX front end.

The graph is evaluated node by node on :class:`~olsnet.collapse._algebra.Lin` values (the
model input) and NumPy constants (initializers, shapes). ``ONNX_RULES`` maps each supported
``op_type`` to its rule ``rule(inputs, attrs) -> outputs``; an op in no table stops the
collapse with a ``NotAffineError`` naming the node.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .._safe_open import open_regular
from ..affine import Affine, Certificate
from ..errors import DimensionError, FormatError, InputTypeError, NotAffineError
from . import _algebra as A
from . import _conv
from ._algebra import Lin, _Refused
from ._onnx_limits import MAX_BYTES, check_bytes, constant_output_elements, load_external_data
from .certificate import certify

__all__ = ["ONNX_RULES", "from_onnx"]

OnnxRule = Callable[[list[Any], dict[str, Any]], list[Any]]

# attribute key under which from_onnx passes the graph's fixed batch size (a reshape to it
# keeps the batch axis)
_BATCH_SIZE = "__olsnet_batch_size__"


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _transposed(v: Any) -> Any:
    return A.transpose(v) if isinstance(v, Lin) else np.asarray(v).T


def _matmul(a: Any, b: Any) -> Any:
    if not isinstance(a, Lin) and not isinstance(b, Lin):
        return np.asarray(a) @ np.asarray(b)
    return A.matmul(a, b)


def _axes(inputs: list[Any], attrs: dict[str, Any]) -> tuple[int, ...] | None:
    if len(inputs) > 1 and inputs[1] is not None:
        return tuple(int(i) for i in np.asarray(inputs[1]).reshape(-1))
    return tuple(attrs["axes"]) if "axes" in attrs else None


def _slices(ndim: int, inputs: list[Any]) -> tuple[slice, ...]:
    """The index tuple of an ONNX Slice (inputs data, starts, ends, axes, steps)."""
    starts, ends = (np.asarray(v).reshape(-1) for v in inputs[1:3])
    axes = (
        np.asarray(inputs[3]).reshape(-1)
        if len(inputs) > 3 and inputs[3] is not None
        else (np.arange(len(starts)))
    )
    steps = (
        np.asarray(inputs[4]).reshape(-1)
        if len(inputs) > 4 and inputs[4] is not None
        else (np.ones(len(starts), dtype=np.int64))
    )
    index = [slice(None)] * ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        stop = None if abs(int(end)) >= 2**62 else int(end)  # INT64_MAX / MIN: to the end
        index[int(axis)] = slice(int(start), stop, int(step))
    return tuple(index)


# ---- rules: each takes the evaluated inputs (None for an omitted one) and the attributes ----


def _constant(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    from onnx import numpy_helper

    if "value" in attrs:
        return [numpy_helper.to_array(attrs["value"])]
    key = next(k for k in attrs if k.startswith("value_"))
    return [np.asarray(attrs[key])]


def _dropout(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    training = inputs[2] if len(inputs) > 2 else None
    if training is not None and (isinstance(training, Lin) or bool(np.asarray(training))):
        raise _Refused("Dropout with training_mode=True is random")
    return [inputs[0], None]


def _binary(op: str) -> OnnxRule:
    const = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
    affine: dict[str, Callable[[Any, Any], Any]] = {
        "Add": A.add,
        "Sub": lambda a, b: A.add(a, b, -1.0),
        "Mul": A.mul,
        "Div": A.div,
    }

    def rule(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
        a, b = inputs[0], inputs[1]
        if not isinstance(a, Lin) and not isinstance(b, Lin):
            return [const(np.asarray(a), np.asarray(b))]
        return [affine[op](a, b)]

    return rule


def _neg(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x = inputs[0]
    return [A.scale(x, -1.0) if isinstance(x, Lin) else -np.asarray(x)]


def _gemm(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    a = _transposed(inputs[0]) if attrs.get("transA", 0) else inputs[0]
    b = _transposed(inputs[1]) if attrs.get("transB", 0) else inputs[1]
    y = _matmul(a, b)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    y = A.scale(y, alpha) if isinstance(y, Lin) else alpha * y
    if len(inputs) > 2 and inputs[2] is not None:
        c = beta * np.asarray(inputs[2], dtype=np.float64)
        y = A.add(y, c) if isinstance(y, Lin) else y + c
    return [y]


def _shape(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x = inputs[0]
    shape = x.shape if isinstance(x, Lin) else np.asarray(x).shape  # batch left symbolic
    return [np.array(shape, dtype=object)[attrs.get("start", 0) : attrs.get("end")]]


def _on_constant(op: str) -> OnnxRule:
    """Shape operations on constants (weights transposed or reshaped inside the graph)."""

    def rule(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
        x = np.asarray(inputs[0])
        if op == "Transpose":
            return [np.transpose(x, attrs.get("perm"))]
        if op == "Reshape":
            shape = [int(s) for s in np.asarray(inputs[1]).reshape(-1)]
            if not attrs.get("allowzero", 0):
                shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return [x.reshape(shape)]
        if op == "Flatten":
            axis = int(attrs.get("axis", 1))
            return [x.reshape(int(np.prod(x.shape[:axis])), -1)]
        if op == "Concat":
            return [np.concatenate([np.asarray(v) for v in inputs], axis=int(attrs["axis"]))]
        if op == "Gather":
            return [np.take(x, np.asarray(inputs[1]), axis=int(attrs.get("axis", 0)))]
        if op == "Slice":
            return [x[_slices(x.ndim, inputs)]]
        axes = _axes(inputs, attrs) or ()
        if op == "Squeeze":
            return [np.squeeze(x, axis=axes or None)]
        return [np.expand_dims(x, axis=axes)]

    return rule


def _gather(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x, index = inputs[0], np.asarray(inputs[1])
    axis = int(attrs.get("axis", 0))
    feature: Any = int(index) if index.ndim == 0 else index
    return [A.getitem(x, (slice(None), feature) if axis in (1, -1) else feature)]


def _slice(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    return [A.getitem(inputs[0], _slices(len(inputs[0].shape), inputs))]


def _transpose(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    perm = tuple(attrs.get("perm", (1, 0)))
    if perm == (0, 1):
        return [inputs[0]]
    if perm != (1, 0):
        raise _Refused(f"Transpose with perm {perm}")
    return [A.transpose(inputs[0])]


def _flatten(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x, axis = inputs[0], int(attrs.get("axis", 1))
    if axis == 1 and x.layout in ("nq", "n"):
        return [Lin(x.W, x.b, "nq")]
    raise _Refused(f"Flatten with axis={axis} of a value of shape {x.shape}")


def _spatial(x: Lin, attrs: dict[str, Any], kernel: tuple[int, ...]) -> tuple[list[int], ...]:
    """(strides, pads, dilations) of a Conv / pooling node over the spatial axes of ``x``."""
    if x.layout != "nq" or len(x.fshape) < 2:
        raise _Refused(f"a value of shape {x.shape} has no channel and spatial axes")
    nd = len(x.fshape) - 1
    if len(kernel) != nd:
        raise _Refused(f"a {len(kernel)}-d kernel on a value of shape {x.shape}")
    strides = list(attrs.get("strides", [1] * nd))
    dilations = list(attrs.get("dilations", [1] * nd))
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = _conv.same_pads(x.fshape[1:], kernel, strides, dilations, auto == "SAME_UPPER")
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    else:
        pads = list(attrs.get("pads", [0] * (2 * nd)))
    return strides, pads, dilations


def _kernel_and_bias(inputs: list[Any]) -> tuple[Lin, np.ndarray, np.ndarray | None]:
    """(x, weight, bias or None) of a Conv / ConvTranspose node; constant weight and bias."""
    if isinstance(inputs[1], Lin) or (len(inputs) > 2 and isinstance(inputs[2], Lin)):
        raise _Refused("a convolution whose weight depends on the input is not affine")
    bias = inputs[2] if len(inputs) > 2 else None
    return (
        inputs[0],
        np.asarray(inputs[1], dtype=np.float64),
        None if bias is None else np.asarray(bias, dtype=np.float64),
    )


def _conv_rule(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x, w, b = _kernel_and_bias(inputs)
    strides, pads, dilations = _spatial(x, attrs, tuple(w.shape[2:]))
    group = int(attrs.get("group", 1))
    return [
        A.columnwise(
            x,
            lambda T: _conv.conv(T, w, None, strides, pads, dilations, group),
            lambda T: _conv.conv(T, w, b, strides, pads, dilations, group),
        )
    ]


def _conv_transpose_rule(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x, w, b = _kernel_and_bias(inputs)
    if "output_shape" in attrs:
        raise _Refused("ConvTranspose with output_shape (give pads and output_padding instead)")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise _Refused("ConvTranspose with auto_pad SAME (give pads instead)")
    strides, pads, dilations = _spatial(x, {**attrs, "auto_pad": b"NOTSET"}, tuple(w.shape[2:]))
    nd, group = len(strides), int(attrs.get("group", 1))
    extra = list(attrs.get("output_padding", [0] * nd))
    return [
        A.columnwise(
            x,
            lambda T: _conv.conv_transpose(T, w, None, strides, pads, dilations, group, extra),
            lambda T: _conv.conv_transpose(T, w, b, strides, pads, dilations, group, extra),
        )
    ]


def _average_pool(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x, kernel = inputs[0], tuple(int(k) for k in attrs["kernel_shape"])
    if attrs.get("ceil_mode", 0):
        raise _Refused("AveragePool with ceil_mode=1")
    strides, pads, dilations = _spatial(x, attrs, kernel)
    include = bool(attrs.get("count_include_pad", 0))

    def pool(T: np.ndarray) -> np.ndarray:
        return _conv.average_pool(T, kernel, strides, pads, dilations, include)

    return [A.columnwise(x, pool, pool)]


def _global_average_pool(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x = inputs[0]
    if x.layout != "nq" or len(x.fshape) < 2:
        raise _Refused(f"GlobalAveragePool of a value of shape {x.shape}")
    axes = tuple(range(2, len(x.fshape) + 1))

    def pool(T: np.ndarray) -> np.ndarray:
        return T.mean(axis=axes, keepdims=True)

    return [A.columnwise(x, pool, pool)]


def _pad(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x = inputs[0]
    if x.layout != "nq":
        raise _Refused(f"Pad of a value of shape {x.shape}")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    pads = [int(v) for v in np.asarray(inputs[1] if len(inputs) > 1 else attrs["pads"]).reshape(-1)]
    value = float(np.asarray(inputs[2])) if len(inputs) > 2 and inputs[2] is not None else 0.0
    rank = len(x.shape)
    axes = (
        [int(a) % rank for a in np.asarray(inputs[3]).reshape(-1)]
        if len(inputs) > 3 and inputs[3] is not None
        else list(range(rank))
    )
    width = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        width[axis] = (pads[i], pads[i + len(axes)])
    if width[0] != (0, 0) or min(min(w) for w in width) < 0:
        raise _Refused(f"Pad {pads} pads the batch axis or crops")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise _Refused(f"Pad mode {mode!r}")
    if mode != "constant":
        copy: Any = np.pad  # reflect / edge / wrap copy entries: linear, no constant
        return [A.columnwise(x, lambda T: copy(T, width, mode), lambda T: copy(T, width, mode))]
    return [
        A.columnwise(
            x,
            lambda T: np.pad(T, width),
            lambda T: np.pad(T, width, constant_values=value),
        )
    ]


def _reshape(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x = inputs[0]
    shape = [s if s is A.BATCH else int(s) for s in np.asarray(inputs[1]).reshape(-1)]
    if not attrs.get("allowzero", 0):  # 0 copies the input's dimension
        shape = [x.shape[i] if s == 0 and i < len(x.shape) else s for i, s in enumerate(shape)]
    return [A.reshape(x, tuple(shape), attrs.get(_BATCH_SIZE))]


def _unsqueeze(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    axes = _axes(inputs, attrs) or ()
    if len(axes) != 1:
        raise _Refused(f"Unsqueeze with axes {axes}")
    return [A.unsqueeze(inputs[0], axes[0])]


def _batch_norm(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    if attrs.get("training_mode", 0):
        raise _Refused("BatchNormalization with training_mode=1 uses batch statistics")
    scale, bias, mean, var = inputs[1:5]
    return [A.batch_norm(inputs[0], mean, var, scale, bias, float(attrs.get("epsilon", 1e-5)))]


# rules for an input-dependent first operand; CONSTANT_RULES when every input is a constant
ONNX_RULES: dict[str, OnnxRule] = {
    "Constant": _constant,
    "Identity": lambda inputs, attrs: [inputs[0]],
    "Cast": lambda inputs, attrs: [inputs[0]],
    "Dropout": _dropout,
    **{op: _binary(op) for op in ("Add", "Sub", "Mul", "Div")},
    "Neg": _neg,
    "MatMul": lambda inputs, attrs: [_matmul(inputs[0], inputs[1])],
    "Gemm": _gemm,
    "Shape": _shape,
    "Gather": _gather,
    "Slice": _slice,
    "Transpose": _transpose,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": lambda inputs, attrs: [A.squeeze(inputs[0], _axes(inputs, attrs))],
    "Unsqueeze": _unsqueeze,
    "Concat": lambda inputs, attrs: [A.cat(inputs, int(attrs["axis"]))],
    "BatchNormalization": _batch_norm,
    "Conv": _conv_rule,
    "ConvTranspose": _conv_transpose_rule,
    "AveragePool": _average_pool,
    "GlobalAveragePool": _global_average_pool,
    "Pad": _pad,
}
MAX_ONNX_FILE_BYTES = 2**31  # protobuf cannot parse a larger message
_SHAPE_OPS = (
    "Transpose",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Gather",
    "Slice",
)
CONSTANT_RULES: dict[str, OnnxRule] = {op: _on_constant(op) for op in _SHAPE_OPS}

SUPPORTED = (
    "MatMul, Gemm, Add, Sub, Mul, Div by constants, Neg, Identity, Cast, Flatten, Reshape that "
    "keeps the batch axis, Slice and Gather of features, Transpose, BatchNormalization, Conv, "
    "ConvTranspose, AveragePool, GlobalAveragePool, Pad, Dropout and Concat"
)


def rule_for(op: str, inputs: list[Any]) -> OnnxRule | None:
    """The rule that evaluates ``op`` on these inputs (None when ``op`` is not supported)."""
    x = inputs[0] if inputs else None
    if (
        op in CONSTANT_RULES
        and not isinstance(x, Lin)
        and not any(isinstance(v, Lin) for v in inputs)
    ):
        return CONSTANT_RULES[op]
    return ONNX_RULES.get(op)


def load_model(model: Any, max_bytes: int = MAX_BYTES) -> Any:
    """An ``onnx.ModelProto`` from a path or a ModelProto, its external data read from beside
    the file only (FormatError when unreadable, external data missing or outside the folder)."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        load_external_data(model, None, max_bytes)  # only checks: in memory, nothing to read
        return model
    path = os.fspath(model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ONNX file {path!r} does not exist")
    try:
        # a regular file of at most 2 GiB (protobuf's limit): never a FIFO or /dev/zero
        with open_regular(path, MAX_ONNX_FILE_BYTES, what="an ONNX model") as fh:
            proto = onnx.load(fh, load_external_data=False)
    except FormatError:
        raise
    except Exception as err:
        raise FormatError(f"{path!r} is not a readable ONNX model: {err}") from err
    load_external_data(proto, os.path.dirname(os.path.abspath(path)), max_bytes)
    return proto


def _is_numeric(value: Any) -> bool:
    return value is None or (isinstance(value, np.ndarray) and value.dtype != object)


def _constant_node(
    node: Any, args: list[Any], attrs: dict[str, Any], max_bytes: int, held: int
) -> list[Any]:
    """A node none of whose inputs depends on the model input, sized before it is computed
    (``held``: bytes the evaluation already holds; the budget is for all of them)."""
    op = node.op_type
    if op == "Constant":
        return _constant(args, attrs)
    arrays = [v if v is None or isinstance(v, np.ndarray) else np.asarray(v) for v in args]
    elements = constant_output_elements(op, arrays, attrs)
    if elements is None:
        raise _Refused(f"{op} on constants is not an operation olsnet can size before running")
    check_bytes(held + 8 * elements, f"the output of node {node.name or op!r} ({op}) with the "
                f"{held / 2**20:,.1f} MiB the graph already holds", max_bytes)  # fmt: skip
    if not all(_is_numeric(v) for v in arrays):  # shapes holding the symbolic batch size
        rule = rule_for(op, arrays)
        if rule is None:
            raise _Refused(f"{op} of a shape that holds the batch size")
        return rule(arrays, attrs)
    from onnx.reference import ReferenceEvaluator

    feeds = {name: v for name, v in zip(node.input, arrays, strict=True) if name}
    return list(ReferenceEvaluator(node).run(None, feeds))


def _nbytes(value: Any) -> int:
    if isinstance(value, Lin):
        return int(value.W.nbytes + value.b.nbytes)
    return int(getattr(value, "nbytes", 0))


def _features_bound(op: str, args: list[Any], attrs: dict[str, Any]) -> int:
    """An upper bound on the feature count of the output of ``op`` on an affine input."""
    lins = [v for v in args if isinstance(v, Lin)]
    q = max(v.q for v in lins)
    shapes = [np.shape(v) if not isinstance(v, Lin) else v.fshape for v in args]
    if op in ("MatMul", "Gemm") and len(args) > 1:
        first = isinstance(args[0], Lin)
        other = shapes[1] if first else shapes[0]
        if len(other) < 2:
            return q
        if op == "Gemm" and attrs.get("transA" if not first else "transB", 0):
            return int(other[0]) if first else int(other[-1])
        return int(other[-1]) if first else int(other[0])
    if op == "Concat":
        return sum(v.q if isinstance(v, Lin) else math.prod(np.shape(v)) for v in args)
    x = args[0]
    if not isinstance(x, Lin) or len(x.fshape) < 2:
        return q
    spatial = x.fshape[1:]
    if op == "Conv":
        pads = list(attrs.get("pads", [])) or [0] * (2 * len(spatial))
        padded = [s + int(a) + int(b) for s, a, b in zip(spatial, pads[: len(spatial)],
                                                          pads[len(spatial) :], strict=False)]  # fmt: skip
        return int(np.shape(args[1])[0]) * math.prod(padded or spatial)
    if op == "ConvTranspose":
        w = np.shape(args[1])
        strides = list(attrs.get("strides", [1] * len(spatial)))
        dil = list(attrs.get("dilations", [1] * len(spatial)))
        extra = list(attrs.get("output_padding", [0] * len(spatial)))
        full = [
            int(st) * (s - 1) + int(d) * (k - 1) + 1 + int(e)
            for s, k, st, d, e in zip(spatial, w[2:], strides, dil, extra, strict=False)
        ]
        return int(w[1]) * int(attrs.get("group", 1)) * math.prod(full)
    if op == "Pad" and len(args) > 1 and _is_numeric(args[1]):
        return q + 2 * int(np.abs(np.asarray(args[1])).sum()) * q  # generous: every axis padded
    return q


def from_onnx(
    model: Any, *, n_probes: int = 64, seed: int = 0, max_bytes: int = MAX_BYTES
) -> Affine:
    """Collapse an affine ONNX graph into one :class:`~olsnet.Affine`, with a certificate.

    Parameters
    ----------
    model : str, path-like or onnx.ModelProto
        A graph with one input of shape (N, n_features) built from MatMul, Gemm (any
        transA / transB / alpha / beta), Add, Sub, Mul and Div by constants, Neg, Identity,
        Cast, Flatten, Reshape to (N, features) (also with a shape computed by Shape, Gather,
        Unsqueeze and Concat, as torch.onnx.export writes ``x.view(x.size(0), -1)``), Slice and
        Gather of features, Transpose, Squeeze / Unsqueeze of a unit axis, BatchNormalization
        (inference), Dropout (inference) and Concat on the feature axis.
    n_probes : int, default 64
        Random probe rows fed to ONNX Runtime for the certificate (whatever batch size the
        graph declares).
    seed : int, default 0
    max_bytes : int, default 2**28 (256 MiB)
        Budget for any one tensor the collapse builds (the affine value ``q × p`` of each
        node, each constant computed in the graph, each external-data tensor); sized with
        Python integers before it is allocated (see :mod:`olsnet.collapse._onnx_limits`).

    Returns
    -------
    Affine
        float64 ``weight`` (q, p) and ``bias`` (q,); feature and target names from the
        ``olsnet.feature_names`` / ``olsnet.target_names`` metadata when present. Its
        ``certificate`` compares it with ONNX Runtime on the probes (tolerances of
        :data:`olsnet.collapse.certificate.TOLERANCES` by the graph's input type).

    Raises
    ------
    NotAffineError
        Naming the node (name and op_type) that is not affine or not supported.
    DimensionError
        A graph with more than one input or output, or an input that is not (N, n_features).
    FormatError
        A file that is not a readable ONNX model; external data that is missing, truncated,
        or named by an absolute path or one leaving the model's folder (``..``, links); a
        ModelProto whose external data was not loaded.
    ResourceLimitError
        A tensor larger than ``max_bytes`` (named, with its size), refused before allocation.
    """
    from onnx import numpy_helper

    proto = load_model(model, max_bytes)
    graph = proto.graph
    env: dict[str, Any] = {}
    held = 0  # bytes of every value computed so far (they stay in env until the end)
    for init in graph.initializer:
        held += 8 * math.prod(init.dims)
        check_bytes(held, f"initializer {init.name!r} with the ones before it", max_bytes)
        value = numpy_helper.to_array(init)
        env[init.name] = (
            value.astype(np.float64) if np.issubdtype(value.dtype, np.floating) else value
        )
    inputs = [i for i in graph.input if i.name not in env]
    if len(inputs) != 1:
        raise DimensionError(
            f"from_onnx collapses graphs with one input; this one has "
            f"{len(inputs)}: {[i.name for i in inputs]}"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) < 2 or not all(d.dim_value > 0 for d in dims[1:]):
        raise DimensionError(
            f"input {inputs[0].name!r} must have shape (N, n_features) or (N, channels, ...) "
            f"with every axis but the batch fixed; it has {len(dims)} axes "
            f"({[d.dim_value or d.dim_param or '?' for d in dims]})"
        )
    input_shape = tuple(int(d.dim_value) for d in dims[1:])
    p = math.prod(input_shape)
    what = f"the affine value of input {inputs[0].name!r} ({p} features: a {p} x {p} matrix)"
    check_bytes(8 * p * p, what, max_bytes)
    env[inputs[0].name] = A.identity(input_shape)
    env[""] = None  # an omitted optional input
    for index, node in enumerate(graph.node):
        label = node.name or f"#{index}"
        if node.domain not in ("", "ai.onnx"):
            raise NotAffineError(
                f"cannot collapse: node {label!r} (op_type {node.domain}.{node.op_type}) is "
                "outside the ONNX domain"
            )
        args = [env[name] for name in node.input]
        attrs = {**_attrs(node), _BATCH_SIZE: int(dims[0].dim_value) or None}
        try:
            if not any(isinstance(v, Lin) for v in args):
                values = _constant_node(node, args, attrs, max_bytes, held)
            else:
                rule = ONNX_RULES.get(node.op_type)
                if rule is None:
                    raise _Refused(f"{node.op_type} is not an affine operation olsnet can follow")
                q = _features_bound(node.op_type, args, attrs)
                what = f"the affine value of node {label!r} ({q} x {p}) with what the graph holds"
                check_bytes(held + 8 * q * p, what, max_bytes)
                values = rule(args, attrs)
        except (_Refused, ValueError, IndexError, KeyError, StopIteration, AttributeError) as err:
            raise NotAffineError(
                f"cannot collapse: node {label!r} (op_type {node.op_type}) is not affine: "
                f"{err}. from_onnx follows {SUPPORTED}."
            ) from err
        env.update(zip(node.output, values, strict=False))
        held += sum(_nbytes(v) for v in values)
    if len(graph.output) != 1:
        raise DimensionError(
            f"from_onnx collapses graphs with one output; this one has {len(graph.output)}"
        )
    out = env[graph.output[0].name]
    if not isinstance(out, Lin) or out.layout == "qn":
        raise NotAffineError(
            f"cannot collapse: output {graph.output[0].name!r} is not of shape "
            "(N, n_outputs) computed from the input"
        )
    props = {prop.key: prop.value for prop in proto.metadata_props}
    names = [
        _metadata_names(props.get(f"olsnet.{key}"), size)
        for key, size in (("feature_names", p), ("target_names", out.q))
    ]
    shape = input_shape if len(input_shape) > 1 else None
    affine = Affine(out.W, out.b, names[0], names[1], input_shape=shape)
    cert = _certify_onnx(proto, inputs[0], affine, n_probes, seed)  # n_probes x p: below p x p
    return Affine(affine.weight, affine.bias, names[0], names[1], cert, input_shape=shape)


def _metadata_names(text: str | None, size: int) -> tuple[str, ...] | None:
    try:
        names = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    if isinstance(names, list) and len(names) == size and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def _certify_onnx(
    proto: Any, graph_input: Any, affine: Affine, n_probes: int, seed: int
) -> Certificate:
    import onnxruntime as ort
    from onnx import TensorProto

    elem = graph_input.type.tensor_type.elem_type
    dtype = {TensorProto.DOUBLE: np.float64, TensorProto.FLOAT: np.float32}.get(elem)
    if dtype is None:
        raise InputTypeError(
            f"input {graph_input.name!r} has ONNX element type {elem}; "
            "from_onnx checks float32 and float64 graphs"
        )
    fixed = graph_input.type.tensor_type.shape.dim[0].dim_value  # 0 when symbolic
    if fixed > n_probes:  # never as many probe rows as a declared batch: make the batch symbolic
        proto = _with_symbolic_batch(proto, graph_input.name)
        fixed = 0
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # ONNX Runtime has no float64 kernel for Conv, ConvTranspose, ...
        if dtype is not np.float64 or "NOT_IMPLEMENTED" not in str(err):
            raise
        dtype = np.float32
        session = ort.InferenceSession(
            _as_float32(proto).SerializeToString(), providers=["CPUExecutionProvider"]
        )
    batch = int(fixed) if fixed else n_probes
    n = -(-n_probes // batch) * batch
    shape = affine.input_shape or (affine.n_features,)
    X = np.random.default_rng(seed).standard_normal((n, *shape))  # (n, *input_shape)
    outputs = [
        session.run(None, {graph_input.name: X[i : i + batch].astype(dtype)})[0]
        for i in range(0, n, batch)
    ]
    y = np.concatenate([np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in outputs])
    return certify(
        y,
        affine.predict(X.astype(dtype).reshape(n, -1)),
        dtype_name=np.dtype(dtype).name,
        source=f"from_onnx (ONNX Runtime {ort.__version__}, {np.dtype(dtype).name})",
    )


def _with_symbolic_batch(proto: Any, name: str) -> Any:
    """A copy of the graph whose input ``name`` and outputs have a symbolic first axis."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    for value in (*model.graph.input, *model.graph.output):
        if value.name == name or value in model.graph.output:
            dims = value.type.tensor_type.shape.dim
            if dims:
                dims[0].dim_param = "N"
    del model.graph.value_info[:]
    return model


def _as_float32(proto: Any) -> Any:
    """A float32 copy of a float64 graph (initializers, inputs, outputs, Cast targets, constants)
    for certificates where ONNX Runtime lacks float64 kernels; checked with float32 tolerance."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.DOUBLE:
            array = numpy_helper.to_array(init).astype(np.float32)
            graph.initializer[i].CopyFrom(numpy_helper.from_array(array, init.name))
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.type.tensor_type.elem_type == TensorProto.DOUBLE:
            value.type.tensor_type.elem_type = TensorProto.FLOAT
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.DOUBLE:
                attr.i = TensorProto.FLOAT
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.DOUBLE:
                array = numpy_helper.to_array(attr.t).astype(np.float32)
                attr.t.CopyFrom(numpy_helper.from_array(array, attr.t.name))
    return model
