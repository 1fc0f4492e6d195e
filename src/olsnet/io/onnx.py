"""ONNX export of olsnet models, and collapse of affine ONNX graphs into one :class:`Affine`.

Exported models (``to_onnx``) have one input ``"X"`` of shape (N, n_features) and one output
``"y"`` of shape (N, n_outputs), in float64 or float32; the batch axis is symbolic (``"N"``).
One input carrying all features is what ONNX Runtime serves fastest and what every consumer
can feed; the feature names travel with the model instead:

* ``metadata_props``: ``olsnet.feature_names`` and ``olsnet.target_names`` (JSON lists of
  strings, in column order), ``olsnet.kind`` (what was exported) and ``olsnet.format_version``;
* ``doc_string`` of the model and of the input / output: the same names in words.

A collapsed export is one ``Gemm`` node (``y = X @ W.T + b``, ``transB=1``); ``layers="separate"``
keeps one ``Gemm`` per layer of a LinearNetwork. Aliased (NaN) regression coefficients are
exported as 0, as ``LinearRegression.predict`` uses them. ``onnx`` and ``onnxruntime`` are
imported only when these functions run.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

from .._collapse import _algebra as A
from .._collapse._algebra import Lin, _Refused
from .._collapse._certificate import certify
from .._types import ONNX_DTYPES, ONNX_LAYERS, check_option
from ..affine import Affine
from ..errors import DimensionError, FormatError, InputTypeError, NotAffineError
from ..inference import RegressionResult
from .archive import atomic_write

__all__ = ["from_onnx", "to_onnx"]

# accepted option strings (kept here until olsnet._types lists them)

FORMAT_VERSION = "1"
INPUT_NAME, OUTPUT_NAME = "X", "y"


# ---- export ---------------------------------------------------------------------------------


def _layers_of(
    model: Any, layers: str
) -> tuple[
    list[tuple[np.ndarray, np.ndarray | None]], tuple[str, ...] | None, tuple[str, ...] | None, str
]:
    """([(W (q_l, p_l), b (q_l,) or None), ...], feature names, target names, kind)."""
    if isinstance(model, Affine):
        return [(model.weight, model.bias)], model.feature_names, model.target_names, "Affine"
    if isinstance(model, RegressionResult):
        return _from_params(model, "RegressionResult")
    if hasattr(model, "result_") and hasattr(model, "coef_"):  # fitted LinearRegression
        return _from_params(model.result_, type(model).__name__)
    if hasattr(model, "get_params") and hasattr(model, "fit_intercept"):
        from ..errors import NotFittedError

        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit before to_onnx")
    torch = sys.modules.get("torch")  # a torch module exists only if torch was imported
    if torch is not None and isinstance(model, torch.nn.Module):
        names = (getattr(model, "feature_names", None), getattr(model, "target_names", None))
        kind = type(model).__name__
        if layers == "collapsed":
            from ..nn import collapse

            affine = collapse(model)
            return [(affine.weight, affine.bias)], names[0], names[1], kind
        from ..nn.network import linear_layers

        out: list[tuple[np.ndarray, np.ndarray | None]] = []
        for layer in linear_layers(model):
            bias = layer.bias
            out.append(
                (
                    layer.weight.detach().cpu().double().numpy(),
                    None if bias is None else bias.detach().cpu().double().numpy(),
                )
            )
        return out, names[0], names[1], kind
    raise InputTypeError(
        f"to_onnx takes an Affine, a fitted LinearRegression, a RegressionResult or a "
        f"LinearNetwork / affine torch module; got {type(model).__name__}"
    )


def _from_params(
    result: Any, kind: str
) -> tuple[list[tuple[np.ndarray, np.ndarray | None]], tuple[str, ...], tuple[str, ...], str]:
    params = np.nan_to_num(np.asarray(result.params, dtype=np.float64))
    params = params.reshape(params.shape[0], -1)  # (k, q), intercept first
    k0 = int(bool(result.fit_intercept))
    W = params[k0:].T  # (q, p)
    b = params[0] if k0 else np.zeros(W.shape[0])
    return [(W, b)], tuple(result.feature_names), tuple(result.target_names), kind


def to_onnx(
    model: Any,
    path: str | os.PathLike[str] | None,
    *,
    dtype: str = "float64",
    layers: str = "collapsed",
    opset: int | None = None,
) -> Any:
    """Export a model as an ONNX graph computing ``y = X @ W.T + b``.

    Parameters
    ----------
    model : Affine, LinearRegression (fitted), RegressionResult or LinearNetwork
        A LinearNetwork (or another affine torch module, when collapsed) is collapsed with
        :func:`olsnet.collapse` unless ``layers="separate"``.
    path : str or path-like, or None
        Where to write the ``.onnx`` file (atomically: a temporary file then a rename).
        ``None`` writes nothing and only returns the model.
    dtype : {"float64", "float32"}, default "float64"
        Element type of the input, weights and output.
    layers : {"collapsed", "separate"}, default "collapsed"
        One ``Gemm`` for the whole map, or one per ``nn.Linear`` layer of a network.
    opset : int, optional
        ONNX opset; defaults to the newest the installed ``onnx`` knows.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model(full_check=True)``. Input ``"X"`` (N, p),
        output ``"y"`` (N, q); names in ``metadata_props`` (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> proto = to_onnx(Affine(np.array([[1.0, 2.0]]), np.array([0.5])), None)
    >>> [n.op_type for n in proto.graph.node]
    ['Gemm']
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dtype = check_option("dtype", dtype, ONNX_DTYPES)
    layers = check_option("layers", layers, ONNX_LAYERS)
    factors, feature_names, target_names, kind = _layers_of(model, layers)
    np_dtype = np.float64 if dtype == "float64" else np.float32
    elem = TensorProto.DOUBLE if dtype == "float64" else TensorProto.FLOAT
    p, q = factors[0][0].shape[1], factors[-1][0].shape[0]
    feature_names = (
        tuple(feature_names) if feature_names is not None else tuple(f"x{i + 1}" for i in range(p))
    )
    target_names = (
        tuple(target_names)
        if target_names is not None
        else tuple(f"y{i + 1}" for i in range(q))
        if q > 1
        else ("y",)
    )
    nodes, inits = [], []
    current = INPUT_NAME
    for i, (W, b) in enumerate(factors):
        out = OUTPUT_NAME if i == len(factors) - 1 else f"h{i + 1}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(W, dtype=np_dtype), f"W{i + 1}"))
        inputs = [current, f"W{i + 1}"]
        if b is not None:
            inits.append(
                numpy_helper.from_array(np.ascontiguousarray(b, dtype=np_dtype), f"b{i + 1}")
            )
            inputs.append(f"b{i + 1}")
        nodes.append(helper.make_node("Gemm", inputs, [out], name=f"layer{i + 1}", transB=1))
        current = out
    features_doc = f"features (in column order): {', '.join(feature_names)}"
    targets_doc = f"targets (in column order): {', '.join(target_names)}"
    graph = helper.make_graph(
        nodes,
        "olsnet_affine",
        [helper.make_tensor_value_info(INPUT_NAME, elem, ["N", p], doc_string=features_doc)],
        [helper.make_tensor_value_info(OUTPUT_NAME, elem, ["N", q], doc_string=targets_doc)],
        inits,
    )
    opset = int(opset) if opset is not None else int(onnx.defs.onnx_opset_version())
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="olsnet",
        doc_string=(f"olsnet {kind}: y = X @ W.T + b; {features_doc}; {targets_doc}"),
    )
    helper.set_model_props(
        proto,
        {
            "olsnet.kind": kind,
            "olsnet.format_version": FORMAT_VERSION,
            "olsnet.feature_names": json.dumps(list(feature_names)),
            "olsnet.target_names": json.dumps(list(target_names)),
        },
    )
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        with atomic_write(path) as fh:
            fh.write(proto.SerializeToString())
    return proto


# ---- import: collapse an ONNX graph ---------------------------------------------------------


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _const_binary(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)


def _transposed(v: Any) -> Any:
    return A.transpose(v) if isinstance(v, Lin) else np.asarray(v).T


def _matmul(a: Any, b: Any) -> Any:
    if not isinstance(a, Lin) and not isinstance(b, Lin):
        return np.asarray(a) @ np.asarray(b)
    return A.matmul(a, b)


def _axes(node: Any, inputs: list[Any], attrs: dict[str, Any]) -> tuple[int, ...] | None:
    if len(inputs) > 1 and inputs[1] is not None:
        return tuple(int(i) for i in np.asarray(inputs[1]).reshape(-1))
    return tuple(attrs["axes"]) if "axes" in attrs else None


def _onnx_node(node: Any, inputs: list[Any]) -> list[Any]:
    """Outputs of one node on affine / constant inputs (``None`` marks an absent input)."""
    op, attrs = node.op_type, _attrs(node)
    x: Any = inputs[0] if inputs else None
    if op == "Constant":
        from onnx import numpy_helper

        if "value" in attrs:
            return [numpy_helper.to_array(attrs["value"])]
        key = next(k for k in attrs if k.startswith("value_"))
        return [np.asarray(attrs[key])]
    if op in ("Identity", "Cast"):
        return [x]
    if op == "Dropout":
        training = inputs[2] if len(inputs) > 2 else None
        if training is not None and (isinstance(training, Lin) or bool(np.asarray(training))):
            raise _Refused("Dropout with training_mode=True is random")
        return [x, None]
    if op in ("Add", "Sub", "Mul", "Div"):
        a, b = inputs[0], inputs[1]
        if not isinstance(a, Lin) and not isinstance(b, Lin):
            return [_const_binary(op, np.asarray(a), np.asarray(b))]
        if op == "Add":
            return [A.add(a, b)]
        if op == "Sub":
            return [A.add(a, b, -1.0)]
        return [A.mul(a, b) if op == "Mul" else A.div(a, b)]
    if op == "Neg":
        return [A.scale(x, -1.0) if isinstance(x, Lin) else -np.asarray(x)]
    if op == "MatMul":
        return [_matmul(inputs[0], inputs[1])]
    if op == "Gemm":
        a = _transposed(inputs[0]) if attrs.get("transA", 0) else inputs[0]
        b = _transposed(inputs[1]) if attrs.get("transB", 0) else inputs[1]
        y = _matmul(a, b)
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        y = A.scale(y, alpha) if isinstance(y, Lin) else alpha * y
        if len(inputs) > 2 and inputs[2] is not None:
            c = beta * np.asarray(inputs[2], dtype=np.float64)
            y = A.add(y, c) if isinstance(y, Lin) else y + c
        return [y]
    if op == "Shape" and isinstance(x, Lin):  # (batch, q) with the batch size left symbolic
        return [np.array(x.shape, dtype=object)[attrs.get("start", 0) : attrs.get("end")]]
    if not isinstance(x, Lin) and op in (
        "Transpose",
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "Gather",
        "Slice",
    ):
        return [_const_shape_op(op, inputs, attrs)]
    if op == "Gather":
        index = np.asarray(inputs[1])
        axis = int(attrs.get("axis", 0))
        feature: Any = int(index) if index.ndim == 0 else index
        return [A.getitem(x, (slice(None), feature) if axis in (1, -1) else feature)]
    if op == "Slice":
        return [A.getitem(x, _slices(len(x.shape), inputs))]
    if op == "Transpose":
        perm = tuple(attrs.get("perm", (1, 0)))
        if perm == (0, 1):
            return [x]
        if perm != (1, 0):
            raise _Refused(f"Transpose with perm {perm}")
        return [A.transpose(x)]
    if op == "Flatten":
        axis = int(attrs.get("axis", 1))
        if axis == 1 and x.layout in ("nq", "n"):
            return [Lin(x.W, x.b, "nq")]
        raise _Refused(f"Flatten with axis={axis} of a value of shape {x.shape}")
    if op == "Reshape":
        shape = [s if s is A.BATCH else int(s) for s in np.asarray(inputs[1]).reshape(-1)]
        if not attrs.get("allowzero", 0):  # 0 copies the input's dimension
            shape = [x.shape[i] if s == 0 and i < len(x.shape) else s for i, s in enumerate(shape)]
        return [A.reshape(x, tuple(shape))]
    if op == "Squeeze":
        axes = _axes(node, inputs, attrs)
        return [A.squeeze(x, axes)]
    if op == "Unsqueeze":
        axes = _axes(node, inputs, attrs) or ()
        if len(axes) != 1:
            raise _Refused(f"Unsqueeze with axes {axes}")
        return [A.unsqueeze(x, axes[0])]
    if op == "Concat":
        return [A.cat(inputs, int(attrs["axis"]))]
    if op == "BatchNormalization":
        if attrs.get("training_mode", 0):
            raise _Refused("BatchNormalization with training_mode=1 uses batch statistics")
        scale, bias, mean, var = inputs[1:5]
        return [A.batch_norm(x, mean, var, scale, bias, float(attrs.get("epsilon", 1e-5)))]
    raise _Refused(f"{op} is not an affine operation olsnet can follow")


def _const_shape_op(op: str, inputs: list[Any], attrs: dict[str, Any]) -> np.ndarray:
    """Shape operations on constants (weights transposed or reshaped inside the graph)."""
    x = np.asarray(inputs[0])
    if op == "Transpose":
        return np.transpose(x, attrs.get("perm"))
    if op == "Reshape":
        shape = [int(s) for s in np.asarray(inputs[1]).reshape(-1)]
        if not attrs.get("allowzero", 0):
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)
    if op == "Flatten":
        axis = int(attrs.get("axis", 1))
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    if op == "Concat":
        return np.concatenate([np.asarray(v) for v in inputs], axis=int(attrs["axis"]))
    if op == "Gather":
        return np.take(x, np.asarray(inputs[1]), axis=int(attrs.get("axis", 0)))
    if op == "Slice":
        return x[_slices(x.ndim, inputs)]
    axes = (
        tuple(np.asarray(inputs[1]).reshape(-1))
        if len(inputs) > 1
        else tuple(attrs.get("axes", ()))
    )
    if op == "Squeeze":
        return np.squeeze(x, axis=axes or None)
    return np.expand_dims(x, axis=axes)


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


def _load_model(model: Any) -> Any:
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    path = os.fspath(model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"ONNX file {path!r} does not exist")
    try:
        return onnx.load(path)
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
        ``certificate`` compares it with ONNX Runtime on the probes (tolerance 1e-10 for a
        float64 graph, 1e-4 for float32).

    Raises
    ------
    NotAffineError
        Naming the node (name and op_type) that is not affine or not supported.
    """
    from onnx import numpy_helper

    proto = _load_model(model)
    graph = proto.graph
    env: dict[str, Any] = {
        init.name: numpy_helper.to_array(init).astype(np.float64)
        if np.issubdtype(numpy_helper.to_array(init).dtype, np.floating)
        else numpy_helper.to_array(init)
        for init in graph.initializer
    }
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
        if node.domain not in ("", "ai.onnx"):
            raise NotAffineError(
                f"cannot collapse: node {node.name or index!r} (op_type "
                f"{node.domain}.{node.op_type}) is outside the ONNX domain"
            )
        try:
            values = _onnx_node(node, [env[name] for name in node.input])
        except (_Refused, ValueError, IndexError, KeyError, StopIteration) as err:
            raise NotAffineError(
                f"cannot collapse: node {node.name or f'#{index}'!r} (op_type {node.op_type}) is "
                f"not affine: {err}. from_onnx follows MatMul, Gemm, Add, Sub, Mul, Div by "
                "constants, Neg, Identity, Cast, Flatten, Reshape to (N, features), Slice and "
                "Gather of features, Transpose, BatchNormalization, Dropout and Concat."
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
    props = {p.key: p.value for p in proto.metadata_props}
    names = [
        _names(props.get(f"olsnet.{key}"), size)
        for key, size in (("feature_names", p), ("target_names", out.q))
    ]
    affine = Affine(out.W, out.b, feature_names=names[0], target_names=names[1])
    cert = _certify_onnx(proto, inputs[0], affine, n_probes, seed)
    return Affine(affine.weight, affine.bias, affine.feature_names, affine.target_names, cert)


def _names(text: str | None, size: int) -> tuple[str, ...] | None:
    try:
        names = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    if isinstance(names, list) and len(names) == size and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def _certify_onnx(proto: Any, graph_input: Any, affine: Affine, n_probes: int, seed: int) -> Any:
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
