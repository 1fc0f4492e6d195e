"""``fuse``: replace every maximal affine run inside a torch module by the fewest equivalent
layers of the same kind, where that does not add work.

The module is traced with torch.fx. A *run* is a set of affine nodes (Linear, BatchNorm,
Dropout, Conv, scaling, sums of branches, LoRA adapters, ...) fed by one tensor (the run's
source: the input or a nonlinear node's output) whose only value used outside is one node's
(its exit). Each run is collapsed with the same algebra as :func:`olsnet.collapse` (float64),
then:

* feature runs (source and exit of shape (batch, features)) become one ``nn.Linear`` when
  ``p · q`` multiply-adds per sample are no more than the run's; a bottleneck of rank r
  (``p·r + r·q < p·q``) is kept factored, and the report says so;
* spatial runs (Conv → BatchNorm, RepVGG's parallel 3x3 / 1x1 / identity branches, Conv →
  Conv) become one ``nn.Conv{1,2,3}d`` whose kernel is read off the collapsed map and which is
  kept only if it reproduces the map exactly (borders and padding decide) and costs no more.

Everything else stays as it was. The fused module is checked against the original on probe
inputs (a certificate, one tolerance table with ``collapse``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..affine import Certificate
from ..errors import DimensionError, InputTypeError, NotAffineError
from . import _algebra as A
from ._algebra import Lin, _Refused
from ._torch_rules import TORCH_RULES, module_rule
from ._trace import _apply, _fetch_attr, _op_name, _run_constant, guess_n_features
from .certificate import certify

__all__ = ["FuseReport", "FusedRun", "fuse"]


@dataclass(frozen=True)
class FusedRun:
    """One affine run: its nodes, what it became, and its cost before / after.

    ``flops`` count multiply-adds per sample of the affine layers; ``params`` the parameters.
    ``action`` is "fused into Linear", "fused into Conv2d", ..., or "kept" with ``reason``.
    """

    nodes: tuple[str, ...]
    action: str
    params_before: int
    params_after: int
    flops_before: int
    flops_after: int
    reason: str = ""


@dataclass(frozen=True)
class FuseReport:
    """What :func:`fuse` did, run by run, with totals for the whole module."""

    runs: tuple[FusedRun, ...]
    params_before: int
    params_after: int
    flops_before: int = 0
    flops_after: int = 0
    certificate: Certificate | None = field(default=None, compare=False)

    def __str__(self) -> str:
        lines = [
            f"fuse: {sum(r.action != 'kept' for r in self.runs)} of {len(self.runs)} affine "
            f"run(s) fused; parameters {self.params_before:,} -> {self.params_after:,}; "
            f"multiply-adds per sample {self.flops_before:,} -> {self.flops_after:,}"
        ]
        for r in self.runs:
            what = r.action + (f" ({r.reason})" if r.reason else "")
            lines.append(
                f"  {', '.join(r.nodes)}: {what}; params {r.params_before:,} -> "
                f"{r.params_after:,}, flops {r.flops_before:,} -> {r.flops_after:,}"
            )
        if self.certificate is not None:
            lines.append(f"  {self.certificate}")
        return "\n".join(lines)


def _flops(gm: Any, node: Any, shapes: dict[Any, tuple[int, ...]]) -> int:
    """Multiply-adds per sample of one node (layers with weights; elementwise ops count q)."""
    from torch import nn

    out = shapes.get(node)
    size = math.prod(out[1:]) if out else 0
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        if isinstance(sub, nn.Linear):
            return size * sub.in_features
        if isinstance(sub, nn.modules.conv._ConvNd):
            return size * (sub.in_channels // sub.groups) * math.prod(sub.kernel_size)
        if isinstance(sub, (nn.Dropout, nn.Identity)):
            return 0
    return size


def _params(gm: Any, nodes: list[Any]) -> int:
    total = 0
    for node in nodes:
        if node.op == "call_module":
            total += sum(p.numel() for p in gm.get_submodule(node.target).parameters())
    return total


def _is_affine_op(gm: Any, node: Any) -> bool:
    if node.op == "call_module":
        return module_rule(gm.get_submodule(node.target)) is not None
    if node.op in ("call_function", "call_method"):
        return _op_name(node, False) in TORCH_RULES
    return False


def _tensor_args(node: Any) -> list[Any]:
    from torch.fx.node import Node

    found: list[Any] = []

    def visit(a: Any) -> None:
        if isinstance(a, Node):
            found.append(a)
        elif isinstance(a, (tuple, list)):
            for v in a:
                visit(v)
        elif isinstance(a, dict):
            for v in a.values():
                visit(v)

    visit(node.args)
    visit(node.kwargs)
    return found


def _runs(gm: Any, constant: set[Any], shapes: dict[Any, tuple[int, ...]]) -> list[tuple[Any, list[Any]]]:  # fmt: skip
    """Maximal runs: (source, nodes in topological order, the last one the exit)."""
    nodes = list(gm.graph.nodes)
    taken: set[Any] = set()
    runs = []
    for source in nodes:
        if source.op in ("output", "get_attr") or source in constant or source not in shapes:
            continue
        rank = len(shapes[source])
        members: list[Any] = []
        inside = {source}
        for node in nodes[nodes.index(source) + 1 :]:
            if node in taken or node in constant or not _is_affine_op(gm, node):
                continue
            if node not in shapes or len(shapes[node]) != rank:
                continue
            deps = [a for a in _tensor_args(node) if a not in constant]
            if deps and all(a in inside for a in deps):
                members.append(node)
                inside.add(node)
        # the run ends at the last member; members used outside before it split it
        while members:
            exit_node = members[-1]
            body = set(members)
            leaks = [n for n in members[:-1] if any(u not in body for u in n.users)]
            if not leaks:
                break
            members = members[: members.index(leaks[0]) + 1]
        if members:
            runs.append((source, members))
            taken.update(members)
            del exit_node
    return runs


def _collapse_run(gm: Any, source: Any, members: list[Any], shapes: dict[Any, Any],
                  constant_values: dict[Any, Any]) -> Lin:  # fmt: skip
    from torch.fx.node import map_arg

    env: dict[Any, Any] = {source: A.identity(tuple(shapes[source][1:]))}
    env.update(constant_values)
    for node in members:
        args = map_arg(node.args, env.__getitem__)
        kwargs = map_arg(node.kwargs, env.__getitem__)
        env[node] = _apply(gm, node, args, kwargs, False, None)
    out = env[members[-1]]
    if not isinstance(out, Lin) or out.layout != "nq":
        raise _Refused("the run's output is not a (batch, ...) affine value")
    return out


def _linear_layer(out: Lin, dtype: Any, device: Any) -> Any:
    import torch
    from torch import nn

    layer = nn.Linear(out.W.shape[1], out.q, dtype=dtype, device=device)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(out.W))
        layer.bias.copy_(torch.as_tensor(out.b))
    return layer


def _conv_candidates(gm: Any, source: Any, members: list[Any]) -> list[dict[str, Any]]:
    """Conv hyper-parameters that could reproduce the run: parallel branches from the source
    (RepVGG: the largest kernel, centres aligned) or one chain of convolutions."""
    from torch import nn

    convs = [
        (n, gm.get_submodule(n.target))
        for n in members
        if n.op == "call_module" and isinstance(gm.get_submodule(n.target), nn.modules.conv._ConvNd)
    ]
    if not convs or any(
        isinstance(c, nn.modules.conv._ConvTransposeNd)
        or c.padding_mode != "zeros"
        or any(d != 1 for d in c.dilation)
        or isinstance(c.padding, str)
        for _, c in convs
    ):
        return []
    nd = len(convs[0][1].kernel_size)
    groups = {c.groups for _, c in convs}
    group_options = sorted({*(groups if len(groups) == 1 else ()), 1}, reverse=True)
    first_input = [_conv_input(gm, n, members, source) for n, _ in convs]
    found = []
    if all(src is source for src in first_input):  # parallel branches
        strides = {tuple(c.stride) for _, c in convs}
        offsets = {
            tuple(c.padding[i] - (c.kernel_size[i] - 1) / 2 for i in range(nd)) for _, c in convs
        }
        if len(strides) == 1 and len(offsets) == 1:
            k = tuple(max(c.kernel_size[i] for _, c in convs) for i in range(nd))
            off = next(iter(offsets))
            pad = tuple(int(off[i] + (k[i] - 1) / 2) for i in range(nd))
            found.append({"kernel": k, "stride": next(iter(strides)), "padding": pad})
    else:  # one chain: conv_j reads conv_{j-1}'s run
        found.append(_chain_spec([(c.kernel_size, c.stride, c.padding) for _, c in convs], nd))
    return [{**f, "groups": g, "nd": nd} for f in found for g in group_options]


def _chain_spec(convs: list[tuple[Any, Any, Any]], nd: int) -> dict[str, Any]:
    """Kernel, stride and padding of convolutions (kernel, stride, padding) applied in turn."""
    kernel, stride, pad = [1] * nd, [1] * nd, [0] * nd
    for k, st, p in convs:
        for i in range(nd):
            kernel[i] += (int(k[i]) - 1) * stride[i]
            pad[i] += int(p[i]) * stride[i]
            stride[i] *= int(st[i])
    return {"kernel": tuple(kernel), "stride": tuple(stride), "padding": tuple(pad)}


def _conv_input(gm: Any, node: Any, members: list[Any], source: Any) -> Any:
    """The nearest conv (or the source) upstream of ``node``, through non-conv members."""
    from torch.fx.node import Node

    current = node.args[0]
    while isinstance(current, Node) and current is not source and current in members:
        if (
            current.op == "call_module"
            and "conv" in type(gm.get_submodule(str(current.target))).__name__.lower()
        ):
            return current
        current = current.args[0] if current.args else None
    return current


def _conv_from_map(out: Lin, in_shape: tuple[int, ...], spec: dict[str, Any]) -> tuple[Any, Any] | None:  # fmt: skip
    """(weight, bias) of the conv with hyper-parameters ``spec`` read off the map, or None."""
    nd, k, s, pad, g = spec["nd"], spec["kernel"], spec["stride"], spec["padding"], spec["groups"]
    C, S = in_shape[0], in_shape[1:]
    if len(out.fshape) != nd + 1:
        return None
    M, out_sp = out.fshape[0], out.fshape[1:]
    if C % g or M % g:
        return None
    expect = tuple((S[i] + 2 * pad[i] - k[i]) // s[i] + 1 for i in range(nd))
    if expect != tuple(out_sp):
        return None
    W = out.W.reshape(M, *out_sp, C, *S)
    weight = np.zeros((M, C // g, *k))
    for kk in np.ndindex(*k):
        pos = []
        for i in range(nd):  # an output position where offset kk[i] lands inside the input
            o = next((o for o in range(out_sp[i]) if 0 <= o * s[i] - pad[i] + kk[i] < S[i]), None)
            if o is None:
                return None
            pos.append(o)
        src = tuple(pos[i] * s[i] - pad[i] + kk[i] for i in range(nd))
        for m in range(M):
            c0 = (m // (M // g)) * (C // g)
            weight[(m, slice(None), *kk)] = W[(m, *pos, slice(c0, c0 + C // g), *src)]
    b = out.b.reshape(M, -1)
    bias = b[:, b.shape[1] // 2]  # (M,) a central position
    return weight, bias


def _make_conv(spec: dict[str, Any], weight: np.ndarray, bias: np.ndarray, dtype: Any,
               device: Any) -> Any:  # fmt: skip
    import torch
    from torch import nn

    Conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[spec["nd"] - 1]
    conv = Conv(weight.shape[1] * spec["groups"], weight.shape[0], spec["kernel"],
                stride=spec["stride"], padding=spec["padding"], groups=spec["groups"],
                dtype=dtype, device=device)  # fmt: skip
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(weight))
        if conv.bias is not None:
            conv.bias.copy_(torch.as_tensor(bias))
    return conv


def _reproduces(layer: Any, out: Lin, in_shape: tuple[int, ...], rng: np.random.Generator) -> bool:
    """Whether ``layer`` (float64 copy) computes the map on random inputs, to 1e-12 relative."""
    import torch

    X = rng.standard_normal((4, *in_shape))
    with torch.no_grad():
        got = copy.deepcopy(layer).double().cpu()(torch.as_tensor(X)).reshape(4, -1).numpy()
    want = X.reshape(4, -1) @ out.W.T + out.b
    return bool(np.abs(got - want).max() <= 1e-12 * max(np.abs(want).max(), 1e-300))


def fuse(module: Any, example_input: Any = None, *, n_probes: int = 64, seed: int = 0) -> Any:
    """Replace every maximal affine run inside a torch module by the fewest equivalent layers.

    Parameters
    ----------
    module : torch.nn.Module
        Any module torch.fx can trace (nonlinear ones included); it is not modified.
    example_input : tensor of shape (n_samples, ...), optional
        Gives the shapes (needed for convolutions; for a first Linear layer it is guessed).
    n_probes, seed : int
        Probe inputs for the certificate (standard normal, of the example's shape).

    Returns
    -------
    torch.fx.GraphModule
        Same inputs and outputs, in eval mode. ``fused.olsnet_report`` is a
        :class:`FuseReport` (each run: nodes, what it became or why it was kept, parameters
        and multiply-adds per sample before and after; the certificate).

    Raises
    ------
    NotAffineError
        The module cannot be traced by torch.fx (dynamic control flow), or the fused module
        does not reproduce the original within the certificate's tolerance.
    DimensionError
        The input shape cannot be told: pass ``example_input``.

    Notes
    -----
    Linear chains with BatchNorm, Dropout (eval), LoRA adapters ``W + s·B A`` and scalings
    become one Linear; Conv → BatchNorm and RepVGG's parallel branches become one Conv (the
    re-parameterisation of Ding et al., "RepVGG: Making VGG-style ConvNets Great Again",
    CVPR 2021); PyTorch itself folds only Conv/Linear followed by BatchNorm
    (``torch.fx.experimental.optimization.fuse``).
    """
    import torch
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    if not isinstance(module, torch.nn.Module):
        raise InputTypeError(f"fuse takes a torch.nn.Module, got {type(module).__name__}")
    original = module
    module = copy.deepcopy(module).eval()
    try:
        gm = torch.fx.symbolic_trace(module)
    except Exception as err:
        raise NotAffineError(
            f"fuse needs a module torch.fx can trace; {type(module).__name__}: {err}"
        ) from err
    dtype = next((p.dtype for p in module.parameters()), torch.float32)
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    if example_input is None:
        width = guess_n_features(module)
        if width is None:
            raise DimensionError(
                f"cannot tell the input shape of {type(module).__name__}; pass example_input "
                "with the full shape, e.g. (1, channels, height, width)"
            )
        example_input = torch.randn(2, width, dtype=dtype, device=device)
    example = torch.as_tensor(example_input).to(dtype=dtype, device=device)
    with torch.no_grad():
        ShapeProp(gm).propagate(example)
    shapes = {
        n: tuple(n.meta["tensor_meta"].shape)
        for n in gm.graph.nodes
        if isinstance(n.meta.get("tensor_meta"), torch.fx.passes.shape_prop.TensorMetadata)
    }
    constant: set[Any] = set()
    values: dict[Any, Any] = {}
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            constant.add(node)
            values[node] = _fetch_attr(gm, node.target)
        elif (
            node.op in ("call_function", "call_method", "call_module")
            and all(a in constant for a in _tensor_args(node))
            and node.op != "call_module"
        ):
            constant.add(node)
    for node in gm.graph.nodes:
        if node in constant and node.op != "get_attr":
            from torch.fx.node import map_arg

            values[node] = _run_constant(gm, node, map_arg(node.args, values.__getitem__),
                                         map_arg(node.kwargs, values.__getitem__))  # fmt: skip
    params_before = sum(p.numel() for p in gm.parameters())
    flops_before = sum(
        _flops(gm, n, shapes)
        for n in gm.graph.nodes
        if n not in constant and n.op != "placeholder" and _is_affine_op(gm, n)
    )
    rng = np.random.default_rng(seed)
    report: list[FusedRun] = []
    flops_after = flops_before
    for index, (source, members) in enumerate(_runs(gm, constant, shapes)):
        names = tuple(n.name for n in members)
        before_p, before_f = _params(gm, members), sum(_flops(gm, n, shapes) for n in members)
        try:
            out = _collapse_run(gm, source, members, shapes, values)
        except (_Refused, TypeError, ValueError, RuntimeError, IndexError, MemoryError) as err:
            report.append(FusedRun(names, "kept", before_p, before_p, before_f, before_f, str(err)))
            continue
        in_shape = tuple(shapes[source][1:])
        layer, kind, cost = None, "", 0
        if len(in_shape) == 1 and out.is_matrix:
            cost = out.q * in_shape[0]
            if len(members) == 1 and members[0].op == "call_module":
                report.append(FusedRun(names, "kept", before_p, before_p, before_f, before_f,
                                       "a single layer"))  # fmt: skip
                continue
            if cost > before_f:
                widths = [shapes[n][-1] for n in members[:-1] if n in shapes]
                r = min(widths, default=min(out.q, in_shape[0]))
                reason = f"factored is cheaper: {before_f:,} < {cost:,} multiply-adds (rank {r} bottleneck)"
                report.append(
                    FusedRun(names, "kept", before_p, before_p, before_f, before_f, reason)
                )
                continue
            layer, kind = _linear_layer(out, dtype, device), "Linear"
        elif len(in_shape) >= 2:
            for spec in _conv_candidates(gm, source, members):
                found = _conv_from_map(out, in_shape, spec)
                if found is None:
                    continue
                conv = _make_conv(spec, *found, torch.float64, "cpu")
                if not _reproduces(conv, out, in_shape, rng):
                    continue
                cost = (
                    math.prod(out.fshape)
                    * (in_shape[0] // spec["groups"])
                    * math.prod(spec["kernel"])
                )
                if cost <= before_f:
                    layer, kind = _make_conv(spec, *found, dtype, device), type(conv).__name__
                    break
        if layer is None:
            reason = "no single layer of the same kind computes it without more work"
            report.append(FusedRun(names, "kept", before_p, before_p, before_f, before_f, reason))
            continue
        name = f"olsnet_fused_{index}"
        gm.add_submodule(name, layer)
        with gm.graph.inserting_after(members[-1]):
            new = gm.graph.call_module(name, (source,))
        members[-1].replace_all_uses_with(new)
        after_p = sum(p.numel() for p in layer.parameters())
        flops_after += cost - before_f
        report.append(FusedRun(names, f"fused into {kind}", before_p, after_p, before_f, cost))
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    gm.eval()
    cert = _certify_fused(original, gm, example, n_probes, seed)
    cast(Any, gm).olsnet_report = FuseReport(
        tuple(report), params_before, sum(p.numel() for p in gm.parameters()), flops_before,
        flops_after, cert,
    )  # fmt: skip
    return gm


def _certify_fused(original: Any, fused: Any, example: Any, n_probes: int, seed: int) -> Certificate:  # fmt: skip
    import torch

    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n_probes, *example.shape[1:], generator=gen, dtype=torch.float64)
    was = original.training
    original.eval()
    try:
        with torch.no_grad():
            try:
                y0 = copy.deepcopy(original).double().cpu()(X)
                y1 = copy.deepcopy(fused).double().cpu()(X)
                # the fused weights are rounded to the module's dtype: its tolerance applies
                dtype_name = str(example.dtype).replace("torch.", "")
            except Exception:
                dt = example.dtype
                y0 = original(X.to(dtype=dt, device=example.device))
                y1 = fused(X.to(dtype=dt, device=example.device))
                dtype_name = str(dt).replace("torch.", "")
    finally:
        original.train(was)
    a = y0.detach().cpu().double().numpy().reshape(n_probes, -1)
    b = y1.detach().cpu().double().numpy().reshape(n_probes, -1)
    return certify(a, b, dtype_name=dtype_name, source=f"fuse of {type(original).__name__}")
