"""Which torch operations are affine, and how each one moves ``(W, b)``.

Three tables, one per way an operation shows up in a traced graph:

* ``MODULE_RULES``: leaf ``torch.nn`` modules (``call_module`` nodes of torch.fx);
* ``TORCH_RULES``: functions and tensor methods by name (``operator.add``, ``torch.cat``,
  ``F.linear``, ``x.view``, ...), as torch.fx records them;
* ``ATEN_RULES``: ATen operators by name, with arguments bound to their schema names, as
  ``torch.export`` records them.

Each rule receives the evaluated arguments, where input-dependent values are
:class:`~olsnet.collapse._algebra.Lin` and everything else is a constant, and returns the
result. Operations in no table are not affine (or not supported) and stop the collapse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _algebra as A
from ._algebra import _Refused

Rule = Callable[..., Any]


def _identity(x: Any, *args: Any, **kwargs: Any) -> Any:
    return x


def _shape_arg(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``view(2, 3)`` and ``view((2, 3))`` both mean shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _dims2(x: A.Lin, dims: tuple[int, ...]) -> tuple[int, ...]:
    ndim = len(x.shape)
    return tuple(d % ndim for d in dims)


def _transpose(x: A.Lin, dim0: int = 0, dim1: int = 1) -> A.Lin:
    if x.layout == "n" or sorted(_dims2(x, (dim0, dim1))) != [0, 1]:
        raise _Refused(f"transposing dims {dim0}, {dim1} of a value of shape {x.shape}")
    return A.transpose(x)


def _permute(x: A.Lin, *dims: Any) -> A.Lin:
    order = _dims2(x, _shape_arg(dims))
    if order == tuple(range(len(x.shape))):
        return x
    if order == (1, 0):
        return A.transpose(x)
    raise _Refused(f"permutation {order} of a value of shape {x.shape}")


def _size(x: A.Lin, dim: int | None = None) -> Any:
    return x.shape if dim is None else x.shape[dim]


def _getattr(x: A.Lin, name: str) -> Any:
    import torch

    if name in ("T", "mT"):
        return A.transpose(x)
    if name == "shape":
        return x.shape
    if name == "ndim":
        return len(x.shape)
    if name == "dtype":
        return torch.float64
    if name == "device":
        return torch.device("cpu")
    raise _Refused(f"attribute {name!r} of an input-dependent value")


def _sum(x: A.Lin, dim: Any = None, keepdim: bool = False, *, mean: bool = False) -> A.Lin:
    """Sum (or mean) over the feature axis only: ``W`` rows add up."""
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if x.layout != "nq" or len(dims) != 1 or dims[0] not in (1, -1):
        raise _Refused(f"a reduction over dim {dim} of a value of shape {x.shape} mixes samples")
    k = 1.0 / x.q if mean else 1.0
    out = A.Lin(k * x.W.sum(axis=0, keepdims=True), k * x.b.sum(keepdims=True), "nq")
    return out if keepdim else A.squeeze(out, 1)


def _dropout(x: A.Lin, p: float = 0.5, training: bool = True, inplace: bool = False) -> A.Lin:
    if training and p > 0:
        raise _Refused(
            "dropout called with training=True is random, even in eval mode; pass "
            "training=self.training"
        )
    return x


def _cat(tensors: Any, dim: int = 0, *, axis: int | None = None) -> A.Lin:
    return A.cat(list(tensors), dim if axis is None else axis)


def _getitem(x: Any, index: Any) -> Any:
    if isinstance(x, (tuple, list)):
        return x[index]
    return A.getitem(x, index)


def _sub(x: Any, y: Any, alpha: float = 1.0) -> Any:
    return A.add(x, y, -alpha)


def _rsub(x: Any, y: Any, alpha: float = 1.0) -> Any:
    return A.add(y, x, -alpha)


def _div(x: Any, y: Any, rounding_mode: str | None = None) -> Any:
    if rounding_mode is not None:
        raise _Refused(f"division with rounding_mode={rounding_mode!r} rounds, which is not affine")
    return A.div(x, y)


def _flatten(x: A.Lin, start_dim: int = 0, end_dim: int = -1) -> A.Lin:
    return A.flatten(x, start_dim, end_dim)


# ---- convolutions, pooling, padding: run torch's own operation (float64) on W's columns ----


def _tensor(value: Any) -> Any:
    """A constant as a float64 CPU tensor (None stays None)."""
    import torch

    if value is None:
        return None
    if torch.is_tensor(value):
        return value.detach().to(device="cpu", dtype=torch.float64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def _through_torch(x: A.Lin, linear: Callable[[Any], Any], full: Callable[[Any], Any]) -> A.Lin:
    """:func:`_algebra.columnwise` with ``linear`` / ``full`` written on float64 tensors."""
    import torch

    def run(fn: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
        def on_array(T: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return fn(torch.from_numpy(np.ascontiguousarray(T))).numpy()

        return on_array

    if x.layout != "nq":
        raise _Refused(f"a convolution, pooling or padding of a value of shape {x.shape}")
    return A.columnwise(x, run(linear), run(full))


def _f_conv(nd: int, transposed: bool = False) -> Rule:
    """``F.conv{nd}d`` / ``F.conv_transpose{nd}d`` with an affine input and constant weights."""

    def rule(x: A.Lin, weight: Any, bias: Any = None, *args: Any, **kwargs: Any) -> A.Lin:
        import torch.nn.functional as F

        if isinstance(weight, A.Lin) or isinstance(bias, A.Lin):
            raise _Refused("a convolution whose weight depends on the input is not affine")
        name = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
        fn, w, b = getattr(F, name), _tensor(weight), _tensor(bias)
        return _through_torch(
            x, lambda T: fn(T, w, None, *args, **kwargs), lambda T: fn(T, w, b, *args, **kwargs)
        )

    return rule


def _linear_op(fn_name: str) -> Rule:
    """A torch.nn.functional operation that is linear in its input (average pooling)."""

    def rule(x: A.Lin, *args: Any, **kwargs: Any) -> A.Lin:
        import torch.nn.functional as F

        fn = getattr(F, fn_name)
        return _through_torch(x, lambda T: fn(T, *args, **kwargs), lambda T: fn(T, *args, **kwargs))

    return rule


def _f_pad(x: A.Lin, pad: Any, mode: str = "constant", value: float | None = None) -> A.Lin:
    """``F.pad``: constant padding adds ``value`` to the bias only; the other modes copy entries."""
    import torch.nn.functional as F

    fill = float(value or 0.0)
    if mode != "constant":
        return _through_torch(x, lambda T: F.pad(T, pad, mode), lambda T: F.pad(T, pad, mode))
    return _through_torch(
        x, lambda T: F.pad(T, pad, "constant", 0.0), lambda T: F.pad(T, pad, "constant", fill)
    )


def _f_batch_norm(
    x: A.Lin,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> A.Lin:
    if training or running_mean is None:
        raise _Refused(
            "batch normalisation with batch statistics (training=True) depends on the whole batch"
        )
    return A.batch_norm(x, running_mean, running_var, weight, bias, eps)


TORCH_RULES: dict[str, Rule] = {
    "add": A.add,
    "iadd": A.add,
    "radd": lambda x, y: A.add(y, x),
    "sub": _sub,
    "isub": _sub,
    "rsub": _rsub,
    "mul": A.mul,
    "imul": A.mul,
    "rmul": lambda x, y: A.mul(y, x),
    "truediv": A.div,
    "itruediv": A.div,
    "div": _div,
    "neg": lambda x: A.scale(x, -1.0),
    "pos": _identity,
    "positive": _identity,
    "matmul": A.matmul,
    "mm": A.matmul,
    "rmatmul": lambda x, y: A.matmul(y, x),
    "linear": A.linear,
    "t": A.transpose,
    "transpose": _transpose,
    "permute": _permute,
    "getattr": _getattr,
    "size": _size,
    "dim": lambda x: len(x.shape),
    "view": lambda x, *shape: A.reshape(x, _shape_arg(shape)),
    "reshape": lambda x, *shape: A.reshape(x, _shape_arg(shape)),
    "flatten": _flatten,
    "squeeze": A.squeeze,
    "unsqueeze": A.unsqueeze,
    "cat": _cat,
    "concat": _cat,
    "concatenate": _cat,
    "getitem": _getitem,
    "sum": _sum,
    "mean": lambda x, dim=None, keepdim=False: _sum(x, dim, keepdim, mean=True),
    "dropout": _dropout,
    "alpha_dropout": _dropout,
    "feature_alpha_dropout": _dropout,
    "dropout1d": _dropout,
    "batch_norm": _f_batch_norm,
    **{f"conv{nd}d": _f_conv(nd) for nd in (1, 2, 3)},
    **{f"conv_transpose{nd}d": _f_conv(nd, transposed=True) for nd in (1, 2, 3)},
    **{f"avg_pool{nd}d": _linear_op(f"avg_pool{nd}d") for nd in (1, 2, 3)},
    **{f"adaptive_avg_pool{nd}d": _linear_op(f"adaptive_avg_pool{nd}d") for nd in (1, 2, 3)},
    "pad": _f_pad,
    # dtype, device and memory-layout changes leave the map alone (it is computed in float64)
    "contiguous": _identity,
    "clone": _identity,
    "detach": _identity,
    "to": _identity,
    "float": _identity,
    "double": _identity,
    "type_as": _identity,
    "cpu": _identity,
}


def _module_linear(m: Any, x: A.Lin) -> A.Lin:
    return A.linear(x, m.weight, m.bias)


def _module_batch_norm(m: Any, x: A.Lin) -> A.Lin:
    if m.running_mean is None or m.running_var is None:
        raise _Refused(
            f"{type(m).__name__} without running statistics (track_running_stats=False) "
            "normalises with the statistics of each batch"
        )
    return A.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, m.eps)


def _module_flatten(m: Any, x: A.Lin) -> A.Lin:
    return _flatten(x, m.start_dim, m.end_dim)


def _module_unflatten(m: Any, x: A.Lin) -> A.Lin:
    dim = m.dim % len(x.shape)
    if dim == 0:
        raise _Refused("unflattening the batch axis")
    return A.reshape(x, (A.BATCH, *x.shape[1:dim], *m.unflattened_size, *x.shape[dim + 1 :]))


def _module_conv(m: Any, x: A.Lin) -> A.Lin:
    """Conv1d/2d/3d (every padding mode, stride, dilation, groups) through ``_conv_forward``."""
    weight, bias = _tensor(m.weight), _tensor(m.bias)
    return _through_torch(
        x, lambda T: m._conv_forward(T, weight, None), lambda T: m._conv_forward(T, weight, bias)
    )


def _module_conv_transpose(m: Any, x: A.Lin) -> A.Lin:
    import torch.nn.functional as F

    nd = len(m.kernel_size)
    fn = getattr(F, f"conv_transpose{nd}d")
    weight, bias = _tensor(m.weight), _tensor(m.bias)
    args = (m.stride, m.padding, m.output_padding, m.groups, m.dilation)
    return _through_torch(
        x, lambda T: fn(T, weight, None, *args), lambda T: fn(T, weight, bias, *args)
    )


def _module_linear_op(m: Any, x: A.Lin) -> A.Lin:
    """Pooling by averaging and non-constant padding: the module itself is linear."""
    return _through_torch(x, m, m)


def _module_constant_pad(m: Any, x: A.Lin) -> A.Lin:
    return _f_pad(x, m.padding, "constant", m.value)


def module_rule(module: Any) -> Rule | None:
    """The rule for a leaf module (``None`` when its type is not affine or not supported)."""
    from torch import nn

    dropouts = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
    averaging: tuple[type, ...] = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
    averaging += (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
    copying: tuple[type, ...] = (nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d)
    copying += (nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d)
    copying += (nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d)
    table: tuple[tuple[type | tuple[type, ...], Rule], ...] = (
        (nn.Linear, _module_linear),
        (nn.Identity, lambda m, x: x),
        ((*dropouts, nn.FeatureAlphaDropout), lambda m, x: x),
        ((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), _module_batch_norm),
        (nn.Flatten, _module_flatten),
        (nn.Unflatten, _module_unflatten),
        ((nn.Conv1d, nn.Conv2d, nn.Conv3d), _module_conv),
        ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), _module_conv_transpose),
        ((*averaging, *copying), _module_linear_op),
        (
            (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.ZeroPad1d),
            _module_constant_pad,
        ),
        ((nn.ZeroPad2d, nn.ZeroPad3d), _module_constant_pad),
    )
    for types, rule in table:
        if isinstance(module, types):
            return rule
    return None


# ---- ATen operators (torch.export graphs); arguments arrive bound to schema names ----------


def _aten_addmm(self: Any, mat1: Any, mat2: Any, beta: float = 1.0, alpha: float = 1.0) -> Any:
    return A.add(A.scale(A.matmul(mat1, mat2), alpha), np.asarray(A.as_array(self) * beta))


def _aten_bn_no_training(
    input: A.Lin,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    momentum: float,
    eps: float,
) -> tuple[Any, ...]:
    return (A.batch_norm(input, running_mean, running_var, weight, bias, eps), None, None)


def _aten_batch_norm(
    input: A.Lin,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
    **_: Any,
) -> A.Lin:
    return _f_batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _aten_slice(
    self: A.Lin, dim: int = 0, start: Any = None, end: Any = None, step: int = 1
) -> A.Lin:
    if end is not None and end >= 2**62:  # ATen writes "to the end" as INT64_MAX
        end = None
    index = [slice(None)] * len(self.shape)
    index[dim] = slice(start, end, step)
    if (
        self.layout == "nq"
        and dim in (0, -2)
        and (start in (None, 0) and end is None and step == 1)
    ):
        return self
    return A.getitem(self, tuple(index))


def _aten_select(self: A.Lin, dim: int, index: int) -> A.Lin:
    idx: list[Any] = [slice(None)] * len(self.shape)
    idx[dim] = index
    return A.getitem(self, tuple(idx))


def _aten_affine(name: str, constant: str | None = None) -> Rule:
    """An ATen operator affine in ``self`` (or ``input``): run it on the columns of W with its
    constant argument (a bias, a fill value) set to None / 0, and whole on the bias."""

    def rule(**named: Any) -> A.Lin:
        import torch

        op = getattr(torch.ops.aten, name)
        key = "input" if "input" in named else "self"
        x = named.pop(key)
        if any(isinstance(v, A.Lin) for v in named.values()):
            raise _Refused(f"aten.{name} with more than one input-dependent operand")
        named = {k: _tensor(v) if hasattr(v, "detach") else v for k, v in named.items()}
        linear = dict(named)
        if constant is not None and constant in named:
            linear[constant] = None if constant == "bias" else 0.0
        return _through_torch(x, lambda T: op(T, **linear), lambda T: op(T, **named))

    return rule


_ATEN_AFFINE = {
    **{f"conv{nd}d": "bias" for nd in (1, 2, 3)},
    **{f"conv_transpose{nd}d": "bias" for nd in (1, 2, 3)},
    "convolution": "bias",
    **{f"avg_pool{nd}d": None for nd in (1, 2, 3)},
    **{f"adaptive_avg_pool{nd}d": None for nd in (1, 2, 3)},
    **{f"_adaptive_avg_pool{nd}d": None for nd in (1, 2, 3)},
    "constant_pad_nd": "value",
    "reflection_pad1d": None,
    "reflection_pad2d": None,
    "reflection_pad3d": None,
    "replication_pad1d": None,
    "replication_pad2d": None,
    "replication_pad3d": None,
}

ATEN_RULES: dict[str, Rule] = {
    **{name: _aten_affine(name, constant) for name, constant in _ATEN_AFFINE.items()},
    "pad": lambda self, pad, mode="constant", value=None: _f_pad(self, pad, mode, value),
    "add": lambda self, other, alpha=1: A.add(self, other, alpha),
    "sub": lambda self, other, alpha=1: A.add(self, other, -alpha),
    "rsub": lambda self, other, alpha=1: A.add(other, self, -alpha),
    "mul": lambda self, other: A.mul(self, other),
    "div": lambda self, other, rounding_mode=None: _div(self, other, rounding_mode),
    "neg": lambda self: A.scale(self, -1.0),
    "linear": lambda input, weight, bias=None: A.linear(input, weight, bias),
    "addmm": _aten_addmm,
    "mm": lambda self, mat2: A.matmul(self, mat2),
    "matmul": lambda self, other: A.matmul(self, other),
    "t": lambda self: A.transpose(self),
    "numpy_T": lambda self: A.transpose(self),
    "transpose": lambda self, dim0, dim1: _transpose(self, dim0, dim1),
    "permute": lambda self, dims: _permute(self, dims),
    "cat": lambda tensors, dim=0: A.cat(list(tensors), dim),
    "slice": _aten_slice,
    "select": _aten_select,
    "squeeze": lambda self, dim=None: A.squeeze(self, dim),
    "unsqueeze": lambda self, dim: A.unsqueeze(self, dim),
    "flatten": lambda self, start_dim=0, end_dim=-1: _flatten(self, start_dim, end_dim),
    "sum": lambda self, dim=None, keepdim=False, dtype=None: _sum(self, dim, keepdim),
    "mean": lambda self, dim=None, keepdim=False, dtype=None: _sum(self, dim, keepdim, mean=True),
    "dropout": lambda input, p, train: _dropout(input, p, train),
    "batch_norm": _aten_batch_norm,
    "_native_batch_norm_legit_no_training": _aten_bn_no_training,
    "clone": lambda self, **_: self,
    "alias": lambda self: self,
    "detach": lambda self: self,
    "contiguous": lambda self, **_: self,
    "_to_copy": lambda self, **_: self,
    "to": lambda self, *a, **_: self,
    "lift_fresh_copy": lambda self: self,
}
