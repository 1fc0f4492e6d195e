"""Trace a torch module (torch.fx, else torch.export) and evaluate its graph on affine values."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import traceback
from collections.abc import Iterator
from typing import Any

from ..errors import NotAffineError
from . import _algebra as A
from ._algebra import Lin, _Refused
from ._local import Region
from ._local import function_rule as local_function_rule
from ._local import module_rule as local_module_rule
from ._torch_rules import ATEN_RULES, TORCH_RULES, module_rule

SUPPORTED = (
    "Linear / F.linear, Conv1d/2d/3d and ConvTranspose (any stride, padding mode, dilation, "
    "groups), BatchNorm1d/2d/3d (eval), AvgPool / AdaptiveAvgPool, padding, Dropout (eval), "
    "Identity, Flatten / Unflatten, + and - of affine branches, * and / by constants, @ with "
    "constant matrices, torch.cat along a feature axis, feature slices, transposes, "
    "view/reshape that keep the batch axis"
)

# modules of these packages, and tensor methods, are the only callables matched by name
_TRUSTED_MODULES = ("torch", "_operator", "operator", "builtins")


# layers whose input has channel / spatial axes: their input shape cannot be read off them
_SHAPED: tuple[str, ...] = ("BatchNorm2d", "BatchNorm3d", "AvgPool", "AdaptiveAvgPool", "MaxPool")
_SHAPED += ("Pad", "ConstantPad", "ZeroPad", "ReflectionPad", "ReplicationPad", "CircularPad")


def guess_n_features(module: Any) -> int | None:
    """The input width read off the first layer that declares one (None if none does)."""
    for sub in module.modules():
        if hasattr(sub, "in_channels") or type(sub).__name__.startswith(_SHAPED):
            return None  # a convolution, pooling or padding: the full shape is needed
        for attr in ("in_features", "num_features", "n_features"):
            value = getattr(sub, attr, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


def n_features_from_graph(gm: Any) -> int | None:
    """The input width read off the first operation applied to the input, if it tells."""
    placeholder = next((n for n in gm.graph.nodes if n.op == "placeholder"), None)
    for user in placeholder.users if placeholder is not None else ():
        if user.op == "call_module":
            sub = gm.get_submodule(user.target)
            width = getattr(sub, "in_features", None) or getattr(sub, "num_features", None)
            if isinstance(width, int):
                return width
        if user.op == "call_function" and getattr(user.target, "__name__", "") == "linear":
            weight = user.args[1] if len(user.args) > 1 else user.kwargs.get("weight")
            if getattr(weight, "op", None) == "get_attr":
                return int(_fetch_attr(gm, weight.target).shape[1])
    return None


def trace(module: Any, make_example: Any) -> tuple[Any, str, Any]:
    """Return (graph module, tracer name, example used or None).

    torch.fx needs no input; torch.export, the fallback for code fx cannot follow (branches
    on shapes, for instance), runs ``make_example()``. Raise NotAffineError when both fail.
    """
    import torch
    import torch.fx

    try:
        return torch.fx.symbolic_trace(module), "torch.fx", None
    except Exception as fx_error:
        example = make_example()
        try:
            with _quiet_torch():
                exported = torch.export.export(module, (example,), strict=False)
            return exported.module(), "torch.export", example
        except Exception as export_error:
            raise _untraceable(module, fx_error, export_error) from export_error


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """Keep torch.export's log lines and graph dumps off the user's terminal (olsnet never
    prints); what it found is reported in the error raised instead."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _untraceable(module: Any, fx_error: Exception, export_error: Exception) -> NotAffineError:
    name = type(module).__name__
    text = f"{fx_error} {export_error}"
    where = _user_frame(module, fx_error)
    if "control flow" in text or "data-dependent" in text or "data dependent" in text:
        return NotAffineError(
            f"cannot collapse {name}: its forward pass has data-dependent control flow (an `if` or "
            f"loop that reads input values){where}, so it is not one affine map. torch.fx said: "
            f"{fx_error}. Fix: write the forward pass without branching on the input."
        )
    return NotAffineError(
        f"cannot collapse {name}: neither torch.fx nor torch.export can trace it{where}. "
        f"torch.fx: {fx_error}; torch.export: {str(export_error).splitlines()[0]}"
    )


def _user_frame(module: Any, error: Exception) -> str:
    """' at file:line in module path' for the last frame of user code in the traceback."""
    import torch

    torch_dir = os.path.dirname(torch.__file__)
    olsnet_dir = os.path.dirname(os.path.dirname(__file__))
    last = None
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((torch_dir, olsnet_dir)):
            last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    frame = traceback.extract_tb(last, limit=1)[0]
    code = last.tb_frame.f_code
    first_arg = code.co_varnames[0] if code.co_argcount else "self"
    owner = last.tb_frame.f_locals.get(first_arg)
    path = next((p or "(top level)" for p, m in module.named_modules() if m is owner), None)
    in_module = f" in module {path!r} ({type(owner).__name__})" if path else ""
    return f" at {frame.filename}:{frame.lineno}{in_module}: `{frame.line}`"


def _contains_lin(value: Any) -> bool:
    if isinstance(value, Lin):
        return True
    if isinstance(value, (tuple, list)):
        return any(_contains_lin(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_lin(v) for v in value.values())
    if isinstance(value, slice):
        return _contains_lin((value.start, value.stop, value.step))
    return False


def _op_and_path(gm: Any, node: Any, aten: bool) -> tuple[str, str]:
    if node.op == "call_module":
        return f"module {type(gm.get_submodule(node.target)).__name__}", str(node.target)
    name = _op_name(node, aten)
    op = (
        f"aten.{name}"
        if aten
        else (f"method .{name}()" if node.op == "call_method" else f"function {name}")
    )
    stack = node.meta.get("nn_module_stack") or {}
    path = str(list(stack.values())[-1][0]) if stack else ""
    return op, path or "(top level)"


def _op_name(node: Any, aten: bool) -> str:
    target = node.target
    if aten:
        return (
            str(target.overloadpacket.__name__).rstrip("_")
            if hasattr(target, "overloadpacket")
            else getattr(target, "__name__", str(target))
        )
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    return name.strip("_")


def _fetch_attr(gm: Any, target: str) -> Any:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _run_constant(gm: Any, node: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a node none of whose inputs depend on the model input (parameter arithmetic)."""
    import torch

    with torch.no_grad():
        if node.op == "call_module":
            return gm.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        return node.target(*args, **kwargs)


def _bind_schema(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """ATen arguments by their schema names, defaults filled in."""
    schema = target._schema
    positional = [a for a in schema.arguments if not a.kwarg_only]
    named = {a.name: v for a, v in zip(positional, args, strict=False)}
    named.update(kwargs)
    for a in schema.arguments:
        if a.name not in named and a.has_default_value():
            named[a.name] = a.default_value
    return named


def _apply(
    gm: Any,
    node: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    aten: bool,
    batch_size: int | None,
    region: Region | None = None,
) -> Any:
    if node.op == "call_module":
        sub = gm.get_submodule(node.target)
        local_rule = None if region is None else local_module_rule(region, sub, str(node.target))
        if local_rule is not None:
            return local_rule(sub, *args, **kwargs)
        rule = module_rule(sub)
        if rule is None:
            raise _Refused(f"{type(sub).__name__} is not an affine layer olsnet can follow")
        return rule(sub, *args, **kwargs)
    name = _op_name(node, aten)
    if aten:
        named = _bind_schema(node.target, args, kwargs)
        if name in ("view", "reshape", "_unsafe_view"):
            return A.reshape(named["self"], tuple(named.get("size") or named["shape"]), batch_size)
        aten_rule = ATEN_RULES.get(name)
        if aten_rule is None:
            raise _Refused(f"aten.{name} is not an affine operation olsnet can follow")
        return aten_rule(**named)
    module_name = getattr(node.target, "__module__", None) or ""
    trusted = node.op == "call_method" or module_name.split(".")[0] in _TRUSTED_MODULES
    if region is not None and trusted:
        local = local_function_rule(region, name, f"{name} (node {node.name!r})")
        if local is not None:
            return local(*args, **kwargs)
    rule = TORCH_RULES.get(name) if trusted else None
    if rule is None:
        raise _Refused(f"{name} is not an affine operation olsnet can follow")
    return rule(*args, **kwargs)


def evaluate(
    gm: Any,
    input_shape: int | tuple[int, ...],
    tracer: str,
    batch_size: int | None = None,
    region: Region | None = None,
) -> Lin:
    """Evaluate the traced graph on affine values; the single input ``x`` has shape
    (batch, *input_shape) (an int: (batch, input_shape)). With ``region``, piecewise-linear
    operations take the piece active at ``region.x`` (see ``_local``)."""
    from torch.fx.node import map_arg

    aten = tracer == "torch.export"
    env: dict[Any, Any] = {}
    n_inputs = 0
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if n_inputs == 0:
                env[node] = A.identity(input_shape)
            elif node.args:  # an argument with a default value
                env[node] = node.args[0]
            else:
                raise NotAffineError(
                    f"cannot collapse: forward takes a second input {node.name!r}; collapse maps "
                    "one input tensor of shape (batch, features)"
                )
            n_inputs += 1
            continue
        if node.op == "get_attr":
            env[node] = _fetch_attr(gm, node.target)
            continue
        if node.op == "output":
            out = map_arg(node.args[0], env.__getitem__)
            while isinstance(out, (tuple, list)) and len(out) == 1:
                out = out[0]
            return out
        if node.op == "call_module" and node.target == "_guards_fn":  # torch.export shape guards
            env[node] = None
            continue
        args = map_arg(node.args, env.__getitem__)
        kwargs = map_arg(node.kwargs, env.__getitem__)
        try:
            if _contains_lin(args) or _contains_lin(kwargs):
                env[node] = _apply(gm, node, args, kwargs, aten, batch_size, region)
            else:
                env[node] = _run_constant(gm, node, args, kwargs)
        except (_Refused, TypeError, ValueError, RuntimeError, IndexError) as err:
            if isinstance(err, NotAffineError):
                raise
            op, path = _op_and_path(gm, node, aten)
            raise NotAffineError(
                f"cannot collapse: node {node.name!r} ({op}) in module {path!r} is not affine: "
                f"{err}. olsnet follows {SUPPORTED}. Fix: remove or replace this operation, or "
                "collapse only the affine part of the model."
            ) from err
    raise NotAffineError("cannot collapse: the traced graph has no output")
