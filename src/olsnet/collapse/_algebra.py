"""Values that are affine in the model input, and the rules that carry them through operations.

A traced graph is evaluated on :class:`Lin` values instead of tensors. A ``Lin`` stands for
the tensor ``x @ W.T + b`` computed from the model input ``x`` of shape (batch, p), laid out as

* ``"nq"``: shape (batch, *fshape), the usual (samples, features) layout; ``fshape`` is
  (q,) for a vector of features and, e.g., (channels, height, width) for an image, stored in
  C order (``q = prod(fshape)``; ``W`` row ``i`` is the flat feature ``i``);
* ``"qn"``: shape (q, batch), its transpose (``W @ x.T`` forms);
* ``"n"``:  shape (batch,), a single output whose feature axis was squeezed (q == 1).

The model input may itself have a feature shape (an image): ``p`` is then the number of its
entries, taken in C order, and the map acts on the flattened input.

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

from ..errors import ResourceLimitError

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
    fshape_: tuple[int, ...] | None = None  # feature shape of an "nq" value; None: (q,)

    @property
    def q(self) -> int:
        return int(self.W.shape[0])

    @property
    def fshape(self) -> tuple[int, ...]:
        """The feature shape: (q,) unless an "nq" value carries channels / spatial axes."""
        if self.layout == "n":
            return ()
        return self.fshape_ if self.fshape_ is not None and self.layout == "nq" else (self.q,)

    @property
    def shape(self) -> tuple[Any, ...]:
        return {"nq": (BATCH, *self.fshape), "qn": (self.q, BATCH), "n": (BATCH,)}[self.layout]

    @property
    def is_matrix(self) -> bool:
        """Whether the value is (batch, q) / (q, batch) / (batch,): no extra feature axes."""
        return len(self.fshape) <= 1

    def _with(self, W: np.ndarray, b: np.ndarray, layout: Layout | None = None) -> Lin:
        return Lin(W, b, layout or self.layout, self.fshape_ if layout in (None, "nq") else None)

    def with_fshape(self, W: np.ndarray, b: np.ndarray, fshape: tuple[int, ...]) -> Lin:
        """An "nq" value of feature shape ``fshape`` (plain (batch, q) when it has one axis)."""
        fshape = tuple(int(d) for d in fshape)
        return Lin(W, b, "nq", fshape if len(fshape) != 1 else None)


# The dense (n, n) map of an input of n features is refused above this many bytes (n = 23,170
# float64 features; a 224 x 224 x 3 image would need 169 GiB): a clear error, not an allocation.
DENSE_MAP_MAX_BYTES = 4 * 2**30


def identity(p: int | tuple[int, ...]) -> Lin:
    """The model input itself: ``W = I``, ``b = 0``; ``p`` its width or its feature shape.

    Raises ResourceLimitError when the (n, n) map would exceed ``DENSE_MAP_MAX_BYTES``.
    """
    fshape = (p,) if isinstance(p, (int, np.integer)) else tuple(p)
    n = 1
    for d in fshape:  # Python integers: no wrap-around
        n *= int(d)
    if 8 * n * n > DENSE_MAP_MAX_BYTES:
        raise ResourceLimitError(
            f"an input of shape {fshape} ({n:,} features) would need a dense affine map of "
            f"{8 * n * n / 2**30:,.1f} GiB, over the {DENSE_MAP_MAX_BYTES / 2**30:g} GiB budget "
            "(olsnet.collapse._algebra.DENSE_MAP_MAX_BYTES). For olsnet.fuse, convolutions are the "
            "same at every spatial size: pass a small example_input (for example 8 x 8 pixels)"
        )
    return Lin(np.eye(n), np.zeros(n), "nq", fshape if len(fshape) != 1 else None)


def columnwise(x: Lin, linear: Any, full: Any) -> Lin:
    """Apply an affine tensor operation ``f = linear + constant`` to ``x`` (shape (batch, *fshape)).

    ``linear(T)`` maps an array (k, *fshape) to (k, *out) linearly; ``full(T)`` is the whole
    operation (bias, constant fill). Then ``f(W x + b) = linear(W) x + full(b)``, evaluated with
    the p columns of ``W`` as a batch of k = p inputs.
    """
    if x.layout != "nq":
        raise _Refused(f"this operation takes (batch, channels, ...) values, not {x.shape}")
    p = x.W.shape[1]
    cols = np.ascontiguousarray(x.W.T).reshape(p, *x.fshape)  # (p, *fshape)
    Wout = np.asarray(linear(cols), dtype=np.float64)  # (p, *out)
    bout = np.asarray(full(x.b.reshape(1, *x.fshape)), dtype=np.float64)  # (1, *out)
    out_shape = Wout.shape[1:]
    return x.with_fshape(Wout.reshape(p, -1).T.copy(), bout.reshape(-1), out_shape)


def channel_vector(x: Lin, c: np.ndarray) -> np.ndarray:
    """A per-channel constant (C,) of a (batch, C, ...) value, spread over its flat features."""
    fshape = x.fshape
    if len(fshape) < 2:
        return c
    return np.broadcast_to(c.reshape(-1, *([1] * (len(fshape) - 1))), fshape).reshape(-1)


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
    if x.layout == "nq" and not x.is_matrix:
        nd = len(x.fshape)
        if c.ndim > nd + 1 or (c.ndim == nd + 1 and shape[0] != 1):
            raise _Refused(
                f"a constant of shape {shape} does not broadcast along the feature axes of a "
                f"value of shape {x.shape} (only per-feature constants are affine maps)"
            )
        try:
            tail = c.reshape(shape[1:]) if c.ndim == nd + 1 else c
            return np.broadcast_to(tail, x.fshape).reshape(-1)
        except ValueError as err:
            raise _Refused(
                f"a constant of shape {shape} does not broadcast with {x.shape}"
            ) from err
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
    if a.layout != b.layout or ((not a.is_matrix or not b.is_matrix) and a.fshape != b.fshape):
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
    if not x.is_matrix and x.layout == "nq" and W.ndim == 2 and W.shape[1] == x.fshape[-1]:
        return _last_axis_linear(x, W, None if bias is None else as_array(bias))
    if x.layout == "n" or W.ndim != 2 or W.shape[1] != x.q:
        raise _Refused(
            f"a linear layer with weight {W.shape} cannot take a value of shape {x.shape}"
        )
    out = matmul(x, W.T)
    return out if bias is None else add(out, bias)


def _last_axis_linear(x: Lin, W: np.ndarray, bias: np.ndarray | None) -> Lin:
    """``F.linear`` on the last axis of a (batch, ..., k) value."""
    k, p = x.fshape[-1], x.W.shape[1]
    Wx = x.W.reshape(-1, k, p)  # (m, k, p)
    bx = x.b.reshape(-1, k)  # (m, k)
    Wout = np.einsum("jk,mkp->mjp", W, Wx)  # (m, j, p)
    bout = bx @ W.T + (0.0 if bias is None else bias)  # (m, j)
    return x.with_fshape(Wout.reshape(-1, p), bout.reshape(-1), (*x.fshape[:-1], W.shape[0]))


def batch_norm(x: Lin, mean: Any, var: Any, weight: Any, bias: Any, eps: float) -> Lin:
    """Batch normalisation with fixed statistics: ``(x - mean) / sqrt(var + eps) * weight + bias``,
    per feature of a (batch, C) value or per channel of a (batch, C, ...) value."""
    if x.layout != "nq":
        raise _Refused(f"batch normalisation of a value of shape {x.shape} is not supported")
    inv = 1.0 / np.sqrt(as_array(var) + eps)  # (C,)
    g = inv * (as_array(weight) if weight is not None else 1.0)  # (C,)
    shift = -as_array(mean) * g + (as_array(bias) if bias is not None else 0.0)  # (C,)
    if x.fshape and g.size not in (1, x.fshape[0]):
        raise _Refused(f"batch normalisation over {g.size} channels of a value of shape {x.shape}")
    gv, sv = channel_vector(x, np.broadcast_to(g, x.fshape[:1])), None
    sv = channel_vector(x, np.broadcast_to(shift, x.fshape[:1]))
    return x._with(gv[:, None] * x.W, gv * x.b + sv)


def cat(values: list[Any], dim: int) -> Lin:
    """Concatenation of affine values along a feature axis."""
    if not all(isinstance(v, Lin) for v in values):
        raise _Refused("concatenating a constant with input-dependent values varies with the batch")
    layout = values[0].layout
    if layout == "nq" and not all(v.is_matrix for v in values):
        nd = len(values[0].fshape)
        axis = dim % (nd + 1) - 1 if dim >= -(nd + 1) else -1
        if axis < 0 or any(len(v.fshape) != nd for v in values):
            shapes = ", ".join(str(v.shape) for v in values)
            raise _Refused(
                f"concatenation along dim {dim} of shapes {shapes} is not a feature axis"
            )
        p = values[0].W.shape[1]
        Ws = [v.W.reshape(*v.fshape, p) for v in values]
        bs = [v.b.reshape(v.fshape) for v in values]
        try:
            W, b = np.concatenate(Ws, axis=axis), np.concatenate(bs, axis=axis)
        except ValueError as err:
            raise _Refused(f"concatenation along dim {dim}: {err}") from err
        return values[0].with_fshape(W.reshape(-1, p), b.reshape(-1), b.shape)
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


def _select_features(x: Lin, index: tuple[Any, ...]) -> Lin:
    """``x[:, *index]`` for a (batch, *fshape) value: the rows of W its entries pick."""
    try:
        flat = np.arange(x.q).reshape(x.fshape)[index]
    except (IndexError, TypeError) as err:
        raise _Refused(f"indexing a value of shape {x.shape} with {index!r}: {err}") from err
    if flat.ndim == 0:
        return Lin(x.W[[int(flat)]], x.b[[int(flat)]], "n")
    rows = flat.reshape(-1)
    return x.with_fshape(x.W[rows], x.b[rows], flat.shape)


def getitem(x: Lin, index: Any) -> Lin:
    """``x[index]`` for indices that select features and keep the whole batch."""
    idx = index if isinstance(index, tuple) else (index,)
    full = slice(None)
    idx = tuple(full if _is_full(s) else s for s in idx)
    if x.layout == "nq" and not x.is_matrix:
        if idx and (idx[0] == full or idx[0] is Ellipsis) and None not in idx:
            rest = idx[1:] if idx[0] == full else (Ellipsis, *idx[1:])
            return _select_features(x, rest) if rest else x
    elif x.layout == "nq":
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
    """Reshapes that keep the batch axis first and whole: (batch, *features) in C order.

    ``batch_size`` is the concrete batch size a graph was exported with (torch.export and
    ONNX graphs write it into shapes); it is read as the batch axis.
    """
    shape = tuple(shape)
    if shape and batch_size is not None and shape[0] == batch_size:
        shape = (BATCH, *shape[1:])
    if x.layout == "qn" or not shape or shape[0] not in (BATCH, -1):
        raise _Refused(f"reshaping a value of shape {x.shape} to {shape} mixes batch and features")
    rest = [int(d) for d in shape[1:] if d is not BATCH]
    if len(rest) != len(shape) - 1:
        raise _Refused(f"reshaping a value of shape {x.shape} to {shape} mixes batch and features")
    if rest.count(-1) > 1:
        raise _Refused(f"reshape to {shape}: more than one -1")
    known = int(np.prod([d for d in rest if d != -1], dtype=np.int64))
    if -1 in rest:
        if shape[0] == -1 or known == 0 or x.q % known:
            raise _Refused(f"reshaping a value of shape {x.shape} to {shape}")
        rest[rest.index(-1)] = x.q // known
    elif shape[0] == -1 and known != x.q:
        raise _Refused(f"reshaping a value of shape {x.shape} to {shape} mixes batch and features")
    if int(np.prod(rest, dtype=np.int64)) != x.q:
        raise _Refused(f"reshaping a value of shape {x.shape} to {shape} changes its size")
    if not rest:
        return x._with(x.W, x.b, "n")
    return x.with_fshape(x.W, x.b, tuple(rest))


def flatten(x: Lin, start_dim: int = 0, end_dim: int = -1) -> Lin:
    """``torch.flatten`` of the axes start_dim..end_dim of a (batch, *fshape) value."""
    ndim = len(x.shape)
    start, end = start_dim % ndim if ndim else 0, end_dim % ndim if ndim else 0
    if x.layout == "nq" and start >= 1:
        f = x.fshape
        merged = int(np.prod(f[start - 1 : end], dtype=np.int64))
        return x.with_fshape(x.W, x.b, (*f[: start - 1], merged, *f[end:]))
    if start_dim == 0 and (x.layout == "n" or x.q == 1):
        return x._with(x.W, x.b, "n")
    raise _Refused(
        f"flattening a value of shape {x.shape} from dim {start_dim} mixes batch and features"
    )


def squeeze(x: Lin, dim: Any = None) -> Lin:
    if x.layout == "nq" and not x.is_matrix:
        dims = (dim,) if isinstance(dim, int) else dim
        f = x.fshape
        drop = (
            {i for i, d in enumerate(f) if d == 1}
            if dims is None
            else {d % (len(f) + 1) - 1 for d in dims}
        )
        if -1 in drop:
            raise _Refused(f"squeezing the batch axis of a value of shape {x.shape}")
        kept = tuple(d for i, d in enumerate(f) if i not in drop or d != 1)
        return x.with_fshape(x.W, x.b, kept) if kept else x._with(x.W, x.b, "n")
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
    if x.layout == "nq" and dim not in (0, -len(x.shape) - 1):
        f = list(x.fshape)
        axis = dim - 1 if dim > 0 else len(f) + 1 + dim
        f.insert(axis, 1)
        return x.with_fshape(x.W, x.b, tuple(f))
    raise _Refused(f"adding an axis at dim {dim} to a value of shape {x.shape} is not supported")
