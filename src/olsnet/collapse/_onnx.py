"""Collapse an affine ONNX graph into one :class:`~olsnet.Affine`: the ONNX front end.

The graph is evaluated node by node on :class:`~olsnet.collapse._algebra.Lin` values (the
model input) and NumPy constants (initializers, shapes). ``ONNX_RULES`` maps each supported
``op_type`` to its rule ``rule(inputs, attrs) -> outputs``; an op in no table stops the
collapse with a ``NotAffineError`` naming the node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .._safe_open import open_regular
from ..affine import Affine, Certificate
from ..errors import DimensionError, FormatError, InputTypeError, NotAffineError
from . import _algebra as A
from ._algebra import Lin, _Refused
from .certificate import certify

__all__ = ["ONNX_RULES", "from_onnx"]

OnnxRule = Callable[[list[Any], dict[str, Any]], list[Any]]


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


def _reshape(inputs: list[Any], attrs: dict[str, Any]) -> list[Any]:
    x = inputs[0]
    shape = [s if s is A.BATCH else int(s) for s in np.asarray(inputs[1]).reshape(-1)]
    if not attrs.get("allowzero", 0):  # 0 copies the input's dimension
        shape = [x.shape[i] if s == 0 and i < len(x.shape) else s for i, s in enumerate(shape)]
    return [A.reshape(x, tuple(shape))]


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
    "MatMul, Gemm, Add, Sub, Mul, Div by constants, Neg, Identity, Cast, Flatten, Reshape to "
    "(N, features), Slice and Gather of features, Transpose, BatchNormalization, Dropout and Concat"
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


def load_model(model: Any) -> Any:
    """An ``onnx.ModelProto`` from a path or a ModelProto (FormatError when unreadable)."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    path = os.fspath(model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ONNX file {path!r} does not exist")
    try:
        # a regular file of at most 2 GiB (protobuf's limit): never a FIFO or /dev/zero
        with open_regular(path, MAX_ONNX_FILE_BYTES, what="an ONNX model") as fh:
            return onnx.load(fh)
    except FormatError:
        raise
    except Exception as err:
        raise FormatError(f"{path!r} is not a readable ONNX model: {err}") from err


def from_onnx(model: Any, *, n_probes: int = 64, seed: int = 0) -> Affine:
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
        Random probe rows fed to ONNX Runtime for the certificate.
    seed : int, default 0

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
        A file that is not a readable ONNX model.
    """
    from onnx import numpy_helper

    proto = load_model(model)
    graph = proto.graph
    env: dict[str, Any] = {}
    for init in graph.initializer:
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
    if len(dims) != 2 or not dims[1].dim_value:
        raise DimensionError(
            f"input {inputs[0].name!r} must have shape (N, n_features) with a "
            f"fixed n_features; it has {len(dims)} axes"
        )
    p = int(dims[1].dim_value)
    env[inputs[0].name] = A.identity(p)
    env[""] = None  # an omitted optional input
    for index, node in enumerate(graph.node):
        label = node.name or f"#{index}"
        if node.domain not in ("", "ai.onnx"):
            raise NotAffineError(
                f"cannot collapse: node {label!r} (op_type {node.domain}.{node.op_type}) is "
                "outside the ONNX domain"
            )
        args = [env[name] for name in node.input]
        try:
            rule = rule_for(node.op_type, args)
            if rule is None:
                raise _Refused(f"{node.op_type} is not an affine operation olsnet can follow")
            values = rule(args, _attrs(node))
        except (_Refused, ValueError, IndexError, KeyError, StopIteration, AttributeError) as err:
            raise NotAffineError(
                f"cannot collapse: node {label!r} (op_type {node.op_type}) is not affine: "
                f"{err}. from_onnx follows {SUPPORTED}."
            ) from err
        env.update(zip(node.output, values, strict=False))
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
    affine = Affine(out.W, out.b, feature_names=names[0], target_names=names[1])
    cert = _certify_onnx(proto, inputs[0], affine, n_probes, seed)
    return Affine(affine.weight, affine.bias, affine.feature_names, affine.target_names, cert)


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
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    fixed = graph_input.type.tensor_type.shape.dim[0].dim_value  # 0 when symbolic
    batch = int(fixed) if fixed else n_probes
    n = -(-n_probes // batch) * batch
    X = np.random.default_rng(seed).standard_normal((n, affine.n_features))  # (n, p)
    outputs = [
        session.run(None, {graph_input.name: X[i : i + batch].astype(dtype)})[0]
        for i in range(0, n, batch)
    ]
    y = np.concatenate([np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in outputs])
    return certify(
        y,
        affine.predict(X.astype(dtype)),
        dtype_name=np.dtype(dtype).name,
        source=f"from_onnx (ONNX Runtime {ort.__version__}, {np.dtype(dtype).name})",
    )
