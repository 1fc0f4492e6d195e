"""Values that are affine in the model input, and the rules that carry them through operations.

A traced graph is evaluated on :class:`Lin` values instead of tensors. A ``Lin`` stands for
the tensor ``x @ W.T + b`` computed from the model input ``x`` of shape (batch, p), laid out as

* ``"nq"``: shape (batch, q), the usual (samples, features) layout;
* ``"qn"``: shape (q, batch), its transpose (``W @ x.T`` forms);
* ``"n"``:  shape (batch,), a single output whose feature axis was squeezed (q == 1).

Everything else in the graph (parameters, buffers, Python numbers, shapes) is a constant.
Each rule below is the operation's forward arithmetic applied to ``(W, b)``; all of it runs in
float64 NumPy, whatever the model's dtype, so the collapsed map is the exact product of the
model's factors rounded once per step. A rule that meets a non-affine combination raises
:class:`_Refused`, which the caller turns into a ``NotAffineError`` naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Layout = Literal["nq", "qn", "n"]


class _Refused(Exception):
    """An operation that cannot be carried through affinely; the text says why."""


class _BatchSize:
    """Stands for the (unknown) batch size wherever a shape is read from a traced value."""

    def __repr__(self) -> str:
        return "<batch>"


BATCH = _BatchSize()


@dataclass(frozen=True)
class Lin:
    """The tensor ``x @ W.T + b`` in layout ``layout`` (see the module docstring)."""

    W: np.ndarray  # (q, p)
    b: np.ndarray  # (q,)
    layout: Layout = "nq"

    @property
    def q(self) -> int:
        return int(self.W.shape[0])

    @property
    def shape(self) -> tuple[Any, ...]:
        return {"nq": (BATCH, self.q), "qn": (self.q, BATCH), "n": (BATCH,)}[self.layout]

    def _with(self, W: np.ndarray, b: np.ndarray, layout: Layout | None = None) -> Lin:
        return Lin(W, b, layout or self.layout)


def identity(p: int) -> Lin:
    """The model input itself: ``W = I``, ``b = 0``."""
    return Lin(np.eye(p), np.zeros(p), "nq")


def as_array(value: Any) -> np.ndarray:
    """A constant (tensor, array or number) as a float64 array."""
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu().double().numpy()
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise _Refused(f"a constant of type {type(value).__name__} cannot enter an affine map")
    return arr.astype(np.float64)


def _feature_vector(x: Lin, c: np.ndarray) -> np.ndarray:
    """Broadcast a constant against ``x`` and return it along the feature axis, shape (1,) or (q,).

    A constant that would vary along the batch axis (or add axes) is refused: the collapsed map
    would then depend on the batch size.
    """
    shape = c.shape
    if x.layout == "nq" and c.ndim <= 2 and (c.ndim < 2 or shape[0] == 1):
        vec = c.reshape(-1) if c.ndim else c.reshape(1)
    elif x.layout == "qn" and (
        c.ndim == 0 or (c.ndim == 1 and shape[0] == 1) or (c.ndim == 2 and shape[1] == 1)
    ):
        vec = c.reshape(-1)
    elif x.layout == "n" and c.size == 1 and c.ndim <= 1:
        vec = c.reshape(1)
    else:
        raise _Refused(
            f"a constant of shape {shape} does not broadcast along the feature axis of a "
            f"value of shape {x.shape} (only per-feature constants are affine maps)"
        )
    if vec.size not in (1, x.q):
        raise _Refused(f"a constant of shape {shape} does not broadcast with shape {x.shape}")
    return vec


def _broadcast_pair(a: Lin, b: Lin) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if a.layout != b.layout:
        raise _Refused(
            f"values of shapes {a.shape} and {b.shape} do not combine feature by feature"
        )
    q = max(a.q, b.q)
    if {a.q, b.q} - {1, q}:
        raise _Refused(f"values with {a.q} and {b.q} features do not broadcast")
    p = a.W.shape[1]
    return (
        np.broadcast_to(a.W, (q, p)),
        np.broadcast_to(a.b, (q,)),
        np.broadcast_to(b.W, (q, p)),
        np.broadcast_to(b.b, (q,)),
    )


def add(x: Any, y: Any, alpha: float = 1.0) -> Any:
    """``x + alpha * y`` where either side may be affine or constant."""
    if isinstance(x, Lin) and isinstance(y, Lin):
        W1, b1, W2, b2 = _broadcast_pair(x, y)
        return x._with(W1 + alpha * W2, b1 + alpha * b2)
    if isinstance(x, Lin):
        c = _feature_vector(x, as_array(y))
        W = np.broadcast_to(x.W, (max(x.q, c.size), x.W.shape[1]))
        return x._with(W.copy(), x.b + alpha * c)
    if isinstance(y, Lin):
        return add(scale(y, alpha), x)
    raise _Refused("neither operand depends on the input")


def scale(x: Lin, c: Any) -> Lin:
    """``x * c`` for a constant ``c`` (number or per-feature vector)."""
    vec = _feature_vector(x, as_array(c))
    return x._with(vec[:, None] * x.W, vec * x.b)


def mul(x: Any, y: Any) -> Any:
    if isinstance(x, Lin) and isinstance(y, Lin):
        raise _Refused(
            "the product of two input-dependent values (such as x * x) is quadratic, not affine"
        )
    return scale(x, y) if isinstance(x, Lin) else scale(y, x)


def div(x: Any, y: Any) -> Lin:
    if isinstance(y, Lin):
        raise _Refused("division by an input-dependent value is not affine")
    return scale(x, 1.0 / as_array(y))


def transpose(x: Lin) -> Lin:
    """``x.T`` (swaps ``"nq"`` and ``"qn"``; a 1-D value is its own transpose)."""
    flip: dict[str, Layout] = {"nq": "qn", "qn": "nq", "n": "n"}
    return x._with(x.W, x.b, flip[x.layout])


def matmul(x: Any, y: Any) -> Lin:
    """``x @ y`` with one affine operand and one constant matrix or vector."""
    if isinstance(x, Lin) and isinstance(y, Lin):
        raise _Refused("the product of two input-dependent values is not affine")
    if isinstance(x, Lin):
        M = as_array(y)
        if x.layout == "nq" and M.ndim in (1, 2) and M.shape[0] == x.q:
            if M.ndim == 1:  # (n, q) @ (q,) -> (n,)
                return x._with(M[None, :] @ x.W, M[None, :] @ x.b, "n")
            return x._with(M.T @ x.W, M.T @ x.b)  # (n, q) @ (q, r) -> (n, r)
        raise _Refused(
            f"cannot multiply a value of shape {x.shape} by a constant of shape {M.shape}"
        )
    M = as_array(x)
    if y.layout == "qn" and M.ndim in (1, 2) and M.shape[-1] == y.q:
        if M.ndim == 1:  # (q,) @ (q, n) -> (n,)
            return y._with(M[None, :] @ y.W, M[None, :] @ y.b, "n")
        return y._with(M @ y.W, M @ y.b)  # (r, q) @ (q, n) -> (r, n)
    raise _Refused(f"cannot multiply a constant of shape {M.shape} by a value of shape {y.shape}")


def linear(x: Lin, weight: Any, bias: Any = None) -> Lin:
    """``F.linear``: ``x @ weight.T + bias``."""
    if isinstance(weight, Lin) or isinstance(bias, Lin):
        raise _Refused("a linear layer whose weight depends on the input is not affine")
    W = as_array(weight)
    if x.layout == "n" or W.ndim != 2 or W.shape[1] != x.q:
        raise _Refused(
            f"a linear layer with weight {W.shape} cannot take a value of shape {x.shape}"
        )
    out = matmul(x, W.T)
    return out if bias is None else add(out, bias)


def batch_norm(x: Lin, mean: Any, var: Any, weight: Any, bias: Any, eps: float) -> Lin:
    """Batch normalisation with fixed statistics: ``(x - mean) / sqrt(var + eps) * weight + bias``."""
    if x.layout != "nq":
        raise _Refused(f"batch normalisation of a value of shape {x.shape} is not supported")
    inv = 1.0 / np.sqrt(as_array(var) + eps)  # (q,)
    g = inv * (as_array(weight) if weight is not None else 1.0)
    out = scale(add(x, -as_array(mean)), g)
    return out if bias is None else add(out, bias)


def cat(values: list[Any], dim: int) -> Lin:
    """Concatenation of affine values along their feature axis."""
    if not all(isinstance(v, Lin) for v in values):
        raise _Refused("concatenating a constant with input-dependent values varies with the batch")
    layout = values[0].layout
    feature_axis = {"nq": (1, -1), "qn": (0, -2)}.get(layout, ())
    if any(v.layout != layout for v in values) or dim not in feature_axis:
        shapes = ", ".join(str(v.shape) for v in values)
        raise _Refused(
            f"concatenation along dim {dim} of shapes {shapes} is not along the feature axis"
        )
    return Lin(np.concatenate([v.W for v in values]), np.concatenate([v.b for v in values]), layout)


def _feature_index(x: Lin, index: Any) -> Lin:
    """Select features: an int drops the axis, a slice / list / array keeps it."""
    if isinstance(index, (int, np.integer)):
        i = int(index)
        return Lin(x.W[i : i + 1], x.b[i : i + 1], "n")
    if isinstance(index, slice):
        idx: Any = np.arange(x.q)[index]
    else:
        idx = as_array(index).astype(np.int64)
        if idx.ndim != 1:
            raise _Refused(f"feature index of shape {idx.shape} is not supported")
    return x._with(x.W[idx], x.b[idx])


def _is_full(s: Any) -> bool:
    """Whether an index keeps a whole axis (``:``, ``0:``, ``::1``)."""
    return isinstance(s, slice) and s.start in (None, 0) and s.stop is None and s.step in (None, 1)


def getitem(x: Lin, index: Any) -> Lin:
    """``x[index]`` for indices that select features and keep the whole batch."""
    idx = index if isinstance(index, tuple) else (index,)
    full = slice(None)
    idx = tuple(full if _is_full(s) else s for s in idx)
    if x.layout == "nq":
        if len(idx) == 2 and (idx[0] == full or idx[0] is Ellipsis):
            return _feature_index(x, idx[1])
        if len(idx) == 1 and idx[0] == full:
            return x
    elif x.layout == "qn":
        if len(idx) in (1, 2) and (len(idx) == 1 or idx[1] == full):
            out = _feature_index(x, idx[0])
            return out if out.layout == "n" else out._with(out.W, out.b, "qn")
    elif idx in ((full,), (Ellipsis,)):
        return x
    raise _Refused(
        f"indexing a value of shape {x.shape} with {index!r} does not keep the batch whole"
    )


def reshape(x: Lin, shape: tuple[Any, ...], batch_size: int | None = None) -> Lin:
    """Reshapes that restate (batch, features) or add / drop a unit feature axis.

    ``batch_size`` is the concrete batch size a graph was exported with (torch.export and
    ONNX graphs write it into shapes); it is read as the batch axis.
    """
    shape = tuple(shape)
    if shape and batch_size is not None and shape[0] == batch_size:
        shape = (BATCH, *shape[1:])
    batch_like = (BATCH, -1)
    if x.layout != "qn" and len(shape) == 2 and shape[0] in batch_like and shape[1] in (-1, x.q):
        return x._with(x.W, x.b, "nq")
    if x.layout != "qn" and len(shape) == 1 and shape[0] in batch_like and x.q == 1:
        return x._with(x.W, x.b, "n")
    raise _Refused(f"reshaping a value of shape {x.shape} to {shape} mixes batch and features")


def flatten(x: Lin, start_dim: int = 0) -> Lin:
    if x.layout == "nq" and start_dim in (1, -1):
        return x
    if start_dim == 0 and (x.layout == "n" or x.q == 1):
        return x._with(x.W, x.b, "n")
    raise _Refused(
        f"flattening a value of shape {x.shape} from dim {start_dim} mixes batch and features"
    )


def squeeze(x: Lin, dim: Any = None) -> Lin:
    if x.q == 1 and x.layout == "nq" and dim in (None, 1, -1, (1,), (-1,)):
        return x._with(x.W, x.b, "n")
    if x.q == 1 and x.layout == "qn" and dim in (None, 0, -2, (0,), (-2,)):
        return x._with(x.W, x.b, "n")
    if x.layout == "n" or (x.q > 1 and dim is not None):
        return x
    raise _Refused(f"squeezing dim {dim} of a value of shape {x.shape} is not supported")


def unsqueeze(x: Lin, dim: int) -> Lin:
    if x.layout == "n" and dim in (1, -1):
        return x._with(x.W, x.b, "nq")
    if x.layout == "n" and dim in (0, -2):
        return x._with(x.W, x.b, "qn")
    raise _Refused(f"adding an axis at dim {dim} to a value of shape {x.shape} is not supported")
