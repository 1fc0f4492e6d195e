"""``fuse_onnx``: the same fusion as :func:`olsnet.fuse` on an ONNX graph.

Runs of affine nodes (MatMul, Gemm, Add, Sub, Mul, Div by constants, Neg, Identity, Dropout,
BatchNormalization, Conv) fed by one tensor are collapsed with the ONNX rules of
:func:`olsnet.from_onnx` and replaced by one Gemm (feature runs) or one Conv (spatial runs:
Conv → BatchNormalization, parallel branches summed, Conv → Conv where exactly equal), when
that adds no work. Every other node is left alone; the graph's inputs, outputs (names,
element types, shapes), opset and the exit tensor names are kept, so an ONNX Runtime session
built on the result takes the original feed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NotAffineError
from . import _algebra as A
from . import _conv
from ._algebra import Lin, _Refused
from ._fuse import FusedRun, FuseReport, _chain_spec
from ._onnx import ONNX_RULES, _as_float32, _attrs, _spatial, load_model
from ._onnx_limits import MAX_BYTES
from .certificate import certify

__all__ = ["fuse_onnx"]

_AFFINE = {"MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Neg", "Identity", "Dropout",
           "BatchNormalization", "Conv"}  # fmt: skip


def _node_flops(node: Any, shapes: dict[str, tuple[int, ...]], consts: dict[str, Any]) -> int:
    out = shapes.get(node.output[0])
    size = math.prod(out[1:]) if out else 0
    if node.op_type in ("MatMul", "Gemm"):
        w = next((consts[i] for i in node.input[1:2] if i in consts), None)
        return size * (int(np.shape(w)[0]) if w is not None and np.ndim(w) == 2 else 1)
    if node.op_type == "Conv":
        w = consts.get(node.input[1])
        return size * (math.prod(np.shape(w)[1:]) if w is not None else 1)
    return 0 if node.op_type in ("Identity", "Dropout") else size


def _params(nodes: list[Any], consts: dict[str, Any]) -> int:
    names = {i for n in nodes for i in n.input if i in consts}
    return sum(int(np.size(consts[i])) for i in names)


def fuse_onnx(
    model: Any,
    *,
    n_probes: int = 64,
    seed: int = 0,
    max_bytes: int = MAX_BYTES,
    return_report: bool = False,
) -> Any:
    """Fuse every maximal affine run of an ONNX graph into one Gemm or Conv node.

    Parameters
    ----------
    model : str, path-like or onnx.ModelProto
    n_probes, seed : int
        Probe inputs for the certificate (ONNX Runtime, original against fused).
    max_bytes : int, default 2**28
        Memory budget of the collapse (see :func:`olsnet.from_onnx`).
    return_report : bool, default False
        Also return the :class:`FuseReport`.

    Returns
    -------
    onnx.ModelProto, or (ModelProto, FuseReport)
        Checked with ``onnx.checker.check_model(full_check=True)``; same inputs, outputs,
        element types, shapes and opset as ``model``.

    Raises
    ------
    NotAffineError
        The fused graph does not reproduce the original on the probes.
    FormatError, ResourceLimitError
        As for :func:`olsnet.from_onnx`.
    """
    import onnx
    from onnx import helper, numpy_helper

    original = load_model(model, max_bytes)
    proto = onnx.ModelProto()
    proto.CopyFrom(original)
    graph = proto.graph
    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes: dict[str, tuple[int, ...]] = {}
    types: dict[str, int] = {}
    for v in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = tuple(int(d.dim_value) if d.dim_value else -1 for d in dims)
        types[v.name] = v.type.tensor_type.elem_type
    consts: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # constants, and Identity of constants (how exporters pass buffers)
        if node.op_type == "Constant" and "value" in _attrs(node):
            consts[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
        elif node.op_type == "Identity" and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
    nodes = list(graph.node)
    consumers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    producer = {o: n for n in nodes for o in n.output}
    sources = [i.name for i in graph.input if i.name not in consts]
    sources += [
        o for n in nodes if n.op_type not in _AFFINE and n.op_type != "Constant" for o in n.output
    ]
    rng = np.random.default_rng(seed)
    taken: set[int] = set()
    runs: list[FusedRun] = []
    replace: dict[
        int, tuple[list[Any], Any, list[Any]]
    ] = {}  # exit index -> (members, node, inits)
    for source in sources:
        if (
            source not in shapes
            or any(d < 0 for d in shapes[source][1:])
            or len(shapes[source]) < 2
        ):
            continue
        rank = len(shapes[source])
        inside, members = {source}, []
        for node in nodes[nodes.index(producer[source]) + 1 if source in producer else 0 :]:
            if id(node) in taken or node.op_type not in _AFFINE:
                continue
            if len(shapes.get(node.output[0], ())) != rank:
                continue
            deps = [i for i in node.input if i and i not in consts]
            if deps and all(d in inside for d in deps):
                members.append(node)
                inside.update(node.output[:1])
        while members:
            body = {o for m in members for o in m.output[:1]}
            leaks = [m for m in members[:-1]
                     if m.output[0] in outputs or any(c not in members for c in consumers.get(m.output[0], []))]  # fmt: skip
            if not leaks:
                break
            members = members[: members.index(leaks[0]) + 1]
            del body
        if len(members) < 2:
            continue
        taken.update(id(m) for m in members)
        label = tuple(m.name or m.op_type for m in members)
        before_p, before_f = (
            _params(members, consts),
            sum(_node_flops(m, shapes, consts) for m in members),
        )
        in_shape = shapes[source][1:]
        try:
            env: dict[str, Any] = {
                k: np.asarray(v, dtype=np.float64)
                if np.issubdtype(np.asarray(v).dtype, np.floating)
                else v
                for k, v in consts.items()
            }
            env[source] = A.identity(in_shape)
            env[""] = None
            for m in members:
                values = ONNX_RULES[m.op_type]([env[i] for i in m.input], _attrs(m))
                env.update(zip(m.output, values, strict=False))
            out = env[members[-1].output[0]]
            if not isinstance(out, Lin) or out.layout != "nq":
                raise _Refused("not a (batch, ...) value")
        except (_Refused, ValueError, KeyError, IndexError, TypeError) as err:
            runs.append(FusedRun(label, "kept", before_p, before_p, before_f, before_f, str(err)))
            continue
        elem = types.get(source, 1)
        dtype = helper.tensor_dtype_to_np_dtype(elem)
        exit_name = members[-1].output[0]
        prefix = f"olsnet_fused_{len(runs)}"
        new_node, inits, cost, kind = None, [], 0, ""
        if rank == 2:
            cost = out.q * in_shape[0]
            if cost <= before_f:
                inits = [numpy_helper.from_array(out.W.astype(dtype), f"{prefix}_W"),
                         numpy_helper.from_array(out.b.astype(dtype), f"{prefix}_b")]  # fmt: skip
                new_node = helper.make_node("Gemm", [source, f"{prefix}_W", f"{prefix}_b"],
                                            [exit_name], name=prefix, transB=1)  # fmt: skip
                kind = "Gemm"
        else:
            for spec in _conv_specs(members, consts, in_shape):
                found = _conv_from_map_onnx(out, in_shape, spec)
                if found is None:
                    continue
                weight, bias = found
                X = rng.standard_normal((3, *in_shape))
                pads = list(spec["padding"]) * 2
                got = _conv.conv(
                    X, weight, bias, spec["stride"], pads, [1] * spec["nd"], spec["groups"]
                )
                want = X.reshape(3, -1) @ out.W.T + out.b
                if np.abs(got.reshape(3, -1) - want).max() > 1e-12 * max(
                    np.abs(want).max(), 1e-300
                ):
                    continue
                cost = (
                    math.prod(out.fshape)
                    * (in_shape[0] // spec["groups"])
                    * math.prod(spec["kernel"])
                )
                if cost > before_f:
                    continue
                inits = [numpy_helper.from_array(weight.astype(dtype), f"{prefix}_W"),
                         numpy_helper.from_array(bias.astype(dtype), f"{prefix}_b")]  # fmt: skip
                new_node = helper.make_node(
                    "Conv", [source, f"{prefix}_W", f"{prefix}_b"], [exit_name], name=prefix,
                    kernel_shape=list(spec["kernel"]), strides=list(spec["stride"]), pads=pads,
                    group=spec["groups"],
                )  # fmt: skip
                kind = "Conv"
                break
        if new_node is None:
            runs.append(FusedRun(label, "kept", before_p, before_p, before_f, before_f,
                                 "no single node of the same kind computes it without more work"))  # fmt: skip
            continue
        replace[id(members[-1])] = (members, new_node, inits)
        after_p = (
            int(out.W.size + out.b.size)
            if kind == "Gemm"
            else int(sum(np.size(numpy_helper.to_array(i)) for i in inits))
        )
        runs.append(FusedRun(label, f"fused into {kind}", before_p, after_p, before_f, cost))
    removed = {id(m) for members, _, _ in replace.values() for m in members}
    new_nodes = []
    for node in nodes:
        if id(node) in replace:
            new_nodes.append(replace[id(node)][1])
        elif id(node) not in removed:
            new_nodes.append(node)
    while True:  # drop nodes nothing reads any more (exporters' Identity / Constant of buffers)
        read = {i for n in new_nodes for i in n.input} | outputs
        alive = [n for n in new_nodes if any(o in read for o in n.output)]
        if len(alive) == len(new_nodes):
            break
        new_nodes = alive
    del graph.node[:]
    graph.node.extend(new_nodes)
    for _, _, inits in replace.values():
        graph.initializer.extend(inits)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    produced = {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    keep_info = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(keep_info)
    onnx.checker.check_model(proto, full_check=True)
    cert = _certify(original, proto, n_probes, seed)
    report = FuseReport(
        tuple(runs),
        sum(int(np.size(v)) for k, v in consts.items() if any(k == i.name for i in original.graph.initializer)),
        sum(int(np.size(numpy_helper.to_array(i))) for i in graph.initializer),
        sum(r.flops_before for r in runs),
        sum(r.flops_after for r in runs),
        cert,
    )  # fmt: skip
    return (proto, report) if return_report else proto


def _conv_specs(members: list[Any], consts: dict[str, Any], in_shape: tuple[int, ...]) -> list[dict[str, Any]]:  # fmt: skip
    """Candidate Conv hyper-parameters (as for torch): parallel branches or one chain."""
    convs = [m for m in members if m.op_type == "Conv"]
    if not convs:
        return []
    nd = len(in_shape) - 1
    attrs = []
    for c in convs:
        a = _attrs(c)
        k = tuple(int(v) for v in np.shape(consts[c.input[1]])[2:])
        if any(d != 1 for d in a.get("dilations", [1] * nd)):
            return []
        if len(k) != nd:
            return []
        try:
            strides, pads, _ = _spatial(A.identity((1, *in_shape[1:])), a, k)
        except _Refused:
            return []
        if any(pads[i] != pads[i + nd] for i in range(nd)):
            return []
        attrs.append((k, tuple(strides), tuple(pads[:nd]), int(a.get("group", 1)), c))
    groups = {a[3] for a in attrs}
    options = sorted({*(groups if len(groups) == 1 else ()), 1}, reverse=True)
    parallel = all(a[4].input[0] == convs[0].input[0] for a in attrs) and not any(
        a[4].input[0] in {o for c in convs for o in c.output} for a in attrs
    )
    found = []
    if parallel:
        offsets = {tuple(a[2][i] - (a[0][i] - 1) / 2 for i in range(nd)) for a in attrs}
        all_strides = {a[1] for a in attrs}
        if len(offsets) == 1 and len(all_strides) == 1:
            kernel = tuple(max(a[0][i] for a in attrs) for i in range(nd))
            off = next(iter(offsets))
            pad = tuple(int(off[i] + (kernel[i] - 1) / 2) for i in range(nd))
            found.append({"kernel": kernel, "stride": next(iter(all_strides)), "padding": pad})
    else:
        found.append(_chain_spec([(a[0], a[1], a[2]) for a in attrs], nd))
    return [{**f, "groups": g, "nd": nd} for f in found for g in options]


def _conv_from_map_onnx(out: Lin, in_shape: tuple[int, ...], spec: dict[str, Any]) -> Any:
    from ._fuse import _conv_from_map

    return _conv_from_map(out, in_shape, spec)


def _certify(original: Any, fused: Any, n_probes: int, seed: int) -> Any:
    import onnxruntime as ort
    from onnx import TensorProto

    inp = next(
        i
        for i in original.graph.input
        if i.name not in {t.name for t in original.graph.initializer}
    )
    elem = inp.type.tensor_type.elem_type
    dims = [d.dim_value or n_probes for d in inp.type.tensor_type.shape.dim]
    if elem not in (TensorProto.FLOAT, TensorProto.DOUBLE):
        raise NotAffineError(f"fuse_onnx checks float32 and float64 graphs; input type {elem}")
    dtype = np.float64 if elem == TensorProto.DOUBLE else np.float32
    X = np.random.default_rng(seed).standard_normal(dims)

    def run(proto: Any) -> np.ndarray:
        try:
            s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
            feed = X.astype(dtype)
        except Exception:  # no float64 kernel (Conv): both checked in float32
            s = ort.InferenceSession(
                _as_float32(proto).SerializeToString(), providers=["CPUExecutionProvider"]
            )
            feed = X.astype(np.float32)
        return np.asarray(s.run(None, {inp.name: feed})[0], dtype=np.float64).reshape(dims[0], -1)

    y0, y1 = run(original), run(fused)
    name = "float64" if dtype == np.float64 else "float32"
    return certify(y0, y1, dtype_name=name, source="fuse_onnx (ONNX Runtime)")
