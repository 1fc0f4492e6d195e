"""The one model behind every olsnet object: an affine map ``y = W x + b``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DimensionError, InputTypeError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["Affine", "Certificate"]


@dataclass(frozen=True)
class Certificate:
    """How closely a collapsed map reproduces the model it came from, on probe inputs.

    ``max_abs_diff`` and ``max_rel_diff`` are the largest absolute and relative differences
    between the model's outputs and the map's outputs; ``max_rel_diff`` divides by the largest
    absolute model output (so it is defined when single outputs are zero).

    For a local map (``collapse(net, at=x)``), ``radius`` is the Euclidean radius around x
    inside which the map is exact (0 when x lies on a region boundary, named in ``boundary``;
    inf when the network is affine); the probes are drawn inside that ball.
    """

    max_abs_diff: float
    max_rel_diff: float
    n_probes: int
    tolerance: float
    source: str = ""
    radius: float | None = None
    boundary: str = ""

    @property
    def passed(self) -> bool:
        return self.max_rel_diff <= self.tolerance

    def __str__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        local = "" if self.radius is None else f"; exact within radius {self.radius:.3g}"
        if self.boundary:
            local += f" (x lies on a region boundary: {self.boundary})"
        return (
            f"certificate {status}: max |diff| {self.max_abs_diff:.3g}, max rel diff "
            f"{self.max_rel_diff:.3g} on {self.n_probes} probes (tolerance {self.tolerance:.1g})"
            f"{local}"
        )


@dataclass(frozen=True, eq=False)
class Affine:
    """An affine map ``y = x @ weight.T + bias``.

    Parameters
    ----------
    weight : ndarray of shape (n_outputs, n_features)
    bias : ndarray of shape (n_outputs,)
    feature_names, target_names : sequence of str, optional
    certificate : Certificate, optional
        Set by ``collapse``: how closely the map reproduces the model it was collapsed from.
    input_shape : tuple of int, optional
        The shape of one input (without the batch axis) of the model the map was collapsed
        from, e.g. (channels, height, width) for a convolutional network; the map acts on
        that input flattened in C order (``n_features = prod(input_shape)``). ``predict``
        accepts inputs of shape (n_samples, *input_shape) too. None for plain feature vectors.

    Examples
    --------
    >>> import numpy as np
    >>> a = Affine(np.array([[2.0, -1.0]]), np.array([0.5]))
    >>> a.predict(np.array([[1.0, 1.0]]))
    array([1.5])
    """

    weight: np.ndarray
    bias: np.ndarray
    feature_names: tuple[str, ...] | None = None
    target_names: tuple[str, ...] | None = None
    certificate: Certificate | None = field(default=None, compare=False)
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        w = np.asarray(self.weight)
        if w.dtype == object or not np.issubdtype(w.dtype, np.number):
            raise InputTypeError(f"Affine weight must be numeric, got dtype {w.dtype}")
        if w.ndim == 1:
            w = w[None, :]
        if w.ndim != 2:
            raise DimensionError(
                f"Affine weight must be 2-D (n_outputs, n_features), got {w.shape}"
            )
        w = np.array(w, dtype=np.result_type(w.dtype, np.float32), copy=True)
        b = np.array(np.asarray(self.bias, dtype=w.dtype), copy=True).reshape(-1)
        if b.size == 1 and w.shape[0] != 1:
            b = np.full(w.shape[0], b[0], dtype=w.dtype)
        if b.shape != (w.shape[0],):
            raise DimensionError(
                f"Affine bias must have shape ({w.shape[0]},) to match weight {w.shape}, got {b.shape}"
            )
        w.setflags(write=False)
        b.setflags(write=False)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        for attr, size in (("feature_names", w.shape[1]), ("target_names", w.shape[0])):
            names = getattr(self, attr)
            if names is not None:
                names = tuple(str(n) for n in names)
                if len(names) != size:
                    raise DimensionError(f"Affine {attr} has {len(names)} names for {size} columns")
                object.__setattr__(self, attr, names)
        if self.input_shape is not None:
            shape = tuple(int(d) for d in self.input_shape)
            if int(np.prod(shape, dtype=np.int64)) != w.shape[1] or min(shape, default=0) < 1:
                raise DimensionError(
                    f"Affine input_shape {shape} does not hold its {w.shape[1]} features"
                )
            object.__setattr__(self, "input_shape", shape)

    @property
    def n_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.weight.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.weight.dtype

    def predict(self, X: Any) -> np.ndarray:
        """Return ``X @ weight.T + bias``: shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        Xa = np.asarray(X, dtype=self.weight.dtype)
        if self.input_shape is not None and Xa.shape[1:] == self.input_shape:
            Xa = Xa.reshape(len(Xa), -1)  # (n, *input_shape) -> (n, p), C order
        if Xa.ndim == 1:
            Xa = Xa[None, :] if self.n_features > 1 or Xa.size == 1 else Xa[:, None]
        if Xa.ndim != 2 or Xa.shape[1] != self.n_features:
            raise DimensionError(
                f"X has {Xa.shape[-1] if Xa.ndim else 0} features; this map takes {self.n_features}"
            )
        out = Xa @ self.weight.T + self.bias  # (n, q)
        return out[:, 0] if self.n_outputs == 1 else out

    def then(self, other: Affine) -> Affine:
        """The composition ``other(self(x))``."""
        if other.n_features != self.n_outputs:
            raise DimensionError(
                f"cannot compose: this map gives {self.n_outputs} outputs, the next takes "
                f"{other.n_features} features"
            )
        return Affine(
            other.weight @ self.weight,
            other.weight @ self.bias + other.bias,
            feature_names=self.feature_names,
            target_names=other.target_names,
            input_shape=self.input_shape,
        )

    def allclose(self, other: Affine, *, rtol: float = 1e-12, atol: float = 0.0) -> bool:
        """Whether both maps agree entrywise (weight and bias) within the tolerances."""
        return (
            self.weight.shape == other.weight.shape
            and np.allclose(self.weight, other.weight, rtol=rtol, atol=atol)
            and np.allclose(self.bias, other.bias, rtol=rtol, atol=atol)
        )

    def to_torch(self, dtype: torch.dtype | None = None) -> torch.nn.Linear:
        """One ``torch.nn.Linear`` computing this map (float64 unless ``dtype`` is given)."""
        import torch

        dt = dtype or (torch.float32 if self.weight.dtype == np.float32 else torch.float64)
        layer = torch.nn.Linear(self.n_features, self.n_outputs, bias=True, dtype=dt)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(np.array(self.weight), dtype=dt))
            layer.bias.copy_(torch.as_tensor(np.array(self.bias), dtype=dt))
        return layer

    def with_names(
        self, feature_names: Sequence[str] | None = None, target_names: Sequence[str] | None = None
    ) -> Affine:
        return Affine(
            self.weight,
            self.bias,
            feature_names=tuple(feature_names) if feature_names is not None else self.feature_names,
            target_names=tuple(target_names) if target_names is not None else self.target_names,
            certificate=self.certificate,
            input_shape=self.input_shape,
        )

    def __repr__(self) -> str:
        cert = f", {self.certificate}" if self.certificate is not None else ""
        return f"Affine(n_features={self.n_features}, n_outputs={self.n_outputs}, dtype={self.dtype}{cert})"
