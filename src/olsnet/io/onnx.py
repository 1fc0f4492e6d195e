"""ONNX export of olsnet models (their collapse is :func:`olsnet.collapse.from_onnx`).

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

from .._fileutil import atomic_write
from .._types import ONNX_DTYPES, ONNX_LAYERS, check_option
from ..affine import Affine
from ..collapse import from_onnx  # re-exported: collapse of ONNX graphs lives in olsnet.collapse
from ..errors import InputTypeError
from ..inference import RegressionResult

__all__ = ["from_onnx", "fuse_onnx", "interface_of", "to_onnx", "to_onnx_like"]

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
            from ..collapse import collapse

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


def interface_of(proto: Any) -> dict[str, Any]:
    """What a caller of the graph relies on: input / output names, element types, shapes
    (ints, or strings for symbolic axes) and the default-domain opset."""
    graph = proto.graph
    inits = {i.name for i in graph.initializer}
    (inp,) = [i for i in graph.input if i.name not in inits][:1] or [None]
    out = graph.output[0] if len(graph.output) else None
    if inp is None or out is None:
        raise InputTypeError("the graph has no input or no output")

    def dims(value: Any) -> list[int | str]:
        return [d.dim_param or int(d.dim_value) for d in value.type.tensor_type.shape.dim]

    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "input_name": inp.name,
        "input_type": int(inp.type.tensor_type.elem_type),
        "input_shape": dims(inp),
        "output_name": out.name,
        "output_type": int(out.type.tensor_type.elem_type),
        "output_shape": dims(out),
        "opset": opset,
    }


def to_onnx_like(
    affine: Affine,
    like: Any,
    path: str | os.PathLike[str] | None,
    *,
    dtype: str | None = None,
) -> Any:
    """The map as an ONNX graph with the interface of ``like`` (a drop-in replacement).

    Input and output keep their names, element types (unless ``dtype`` is given), shapes
    (a (N, C, H, W) input is flattened by a Reshape in front of the one Gemm; an output of
    more than two axes is reshaped back) and the default-domain opset, so an existing ONNX
    Runtime session's feed works unchanged. Checked with ``onnx.checker`` (full check).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = interface_of(like)
    elem = {"float64": TensorProto.DOUBLE, "float32": TensorProto.FLOAT}.get(
        check_option("dtype", dtype, ONNX_DTYPES) if dtype else "", spec["input_type"]
    )
    np_dtype = helper.tensor_dtype_to_np_dtype(elem)
    if elem not in (TensorProto.DOUBLE, TensorProto.FLOAT, TensorProto.FLOAT16):
        raise InputTypeError(f"the model's input has ONNX element type {elem}; use --dtype")
    out_elem = elem if dtype else spec["output_type"]
    p = affine.n_features
    nodes, inits, x = [], [], spec["input_name"]
    if len(spec["input_shape"]) != 2:
        inits.append(numpy_helper.from_array(np.array([0, p], dtype=np.int64), "olsnet_in_shape"))
        nodes.append(helper.make_node("Reshape", [x, "olsnet_in_shape"], ["olsnet_flat"]))
        x = "olsnet_flat"
    inits.append(numpy_helper.from_array(np.ascontiguousarray(affine.weight, np_dtype), "W"))
    inits.append(numpy_helper.from_array(np.ascontiguousarray(affine.bias, np_dtype), "b"))
    y = spec["output_name"]
    gemm_out = y if len(spec["output_shape"]) == 2 and out_elem == elem else "olsnet_gemm"
    nodes.append(helper.make_node("Gemm", [x, "W", "b"], [gemm_out], transB=1, name="collapsed"))
    last = gemm_out
    if len(spec["output_shape"]) != 2:
        rest = [int(d) if isinstance(d, int) and d else -1 for d in spec["output_shape"][1:]]
        shape = np.array([0, *rest], dtype=np.int64)
        inits.append(numpy_helper.from_array(shape, "olsnet_out_shape"))
        target = y if out_elem == elem else "olsnet_reshaped"
        nodes.append(helper.make_node("Reshape", [last, "olsnet_out_shape"], [target]))
        last = target
    if last != y:
        nodes.append(helper.make_node("Cast", [last], [y], to=out_elem))
    graph = helper.make_graph(
        nodes,
        "olsnet_collapsed",
        [helper.make_tensor_value_info(spec["input_name"], elem, spec["input_shape"])],
        [helper.make_tensor_value_info(y, out_elem, spec["output_shape"])],
        inits,
    )
    opset = spec["opset"] or int(onnx.defs.onnx_opset_version())
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="olsnet"
    )
    proto.ir_version = like.ir_version
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        with atomic_write(path) as fh:
            fh.write(proto.SerializeToString())
    return proto


def fuse_onnx(
    model: Any,
    out: str | os.PathLike[str] | None = None,
    *,
    n_probes: int = 64,
    seed: int = 0,
    return_report: bool = False,
) -> Any:
    """Fuse the affine runs of an ONNX graph (:func:`olsnet.collapse._fuse_onnx.fuse_onnx`),
    and write the result to ``out`` atomically when given.

    Parameters
    ----------
    model : str, path-like or onnx.ModelProto
    out : str or path-like, optional
        Where to write the fused model (a temporary file, then a rename).
    n_probes, seed : int
        Probes of the certificate (ONNX Runtime, original against fused).
    return_report : bool, default False
        Also return the :class:`~olsnet.collapse.FuseReport`.

    Returns
    -------
    onnx.ModelProto, or (ModelProto, FuseReport)
        Same input and output names, element types, shapes and opset as ``model``; passes
        ``onnx.checker.check_model(full_check=True)``.
    """
    from ..collapse._fuse_onnx import fuse_onnx as fuse_graph

    proto, report = fuse_graph(model, n_probes=n_probes, seed=seed, return_report=True)
    if out is not None:
        with atomic_write(out) as fh:
            fh.write(proto.SerializeToString())
    return (proto, report) if return_report else proto
