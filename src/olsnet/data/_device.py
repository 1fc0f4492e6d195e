"""Device arrays as regression inputs: torch tensors (CPU or CUDA) and CuPy arrays, kept where
they are.

``X`` decides the namespace and the device (through ``array-api-compat``, as scikit-learn's
array-API support does). ``y`` and ``sample_weight`` may come from anywhere (NumPy, lists,
pandas, another device): they are moved to X's device, which is cheap next to X itself. Every
check of :func:`olsnet.data.as_design` is made, with the same messages; the NaN scan runs on the
device and copies only its verdict. Inputs narrower than float64 are converted (float16 and
bfloat16 with a :class:`~olsnet.errors.PrecisionWarning`); a device without float64 is refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import MISSING_POLICIES, check_option
from .._validate import _as_targets, check_weights, nonfinite_error
from ..errors import DataError, DeviceError, DimensionError, InputTypeError, PrecisionWarning
from ..solve import ALIAS_TOL, LstsqSolution
from ..solve._device import device_lstsq, device_state, to_host
from ..solve._state import QRState
from .source import OnBatch, Source

__all__ = [
    "DeviceDesign",
    "DeviceSource",
    "as_device_design",
    "check_finite_device",
    "device_predict",
    "first_nonfinite",
    "is_device_array",
]

_DEVICE_MODULES = ("torch", "cupy")


def is_device_array(obj: Any) -> bool:
    """Whether ``obj`` is a torch tensor (any device) or a CuPy array (no import of either)."""
    return (
        type(obj).__module__.split(".")[0] in _DEVICE_MODULES
        and hasattr(obj, "shape")
        and hasattr(obj, "dtype")
    )


@dataclass(frozen=True)
class DeviceDesign:
    """Checked device inputs: X (n, p), Y (n, q), weights (n,) or None, float64, one device."""

    xp: Any
    X: Any
    Y: Any
    weights: Any | None
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    y_ndim: int
    n_dropped: int = 0

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.Y.shape[1])


def float64_supported(xp: Any, device: Any) -> bool:
    """Whether the device can hold float64 arrays (Apple's MPS, for one, cannot)."""
    try:
        xp.zeros((1,), dtype=xp.float64, device=device)
    except (TypeError, RuntimeError, ValueError):
        return False
    return True


def _as_float64(xp: Any, A: Any, what: str) -> Any:
    """A as float64 on its own device (no copy when it already is)."""
    if hasattr(A, "detach"):  # torch: no autograd graph through the solver
        A = A.detach()
    dt = A.dtype
    if dt == xp.float64:
        return A
    if xp.isdtype(dt, "complex floating"):
        raise DataError(f"{what}: Complex data not supported; only real numbers are accepted")
    if not xp.isdtype(dt, ("real floating", "integral", "bool")):
        raise InputTypeError(f"{what} has dtype {dt}; only real numbers are accepted")
    dev = A.device
    if not float64_supported(xp, dev):
        raise DeviceError(
            f"{what} is on device {dev}, which has no float64 arithmetic; olsnet's exact solver "
            f"computes in float64. Move the data to the CPU (X.cpu()) or to a CUDA device"
        )
    if xp.isdtype(dt, "real floating") and xp.finfo(dt).bits < 32:
        warnings.warn(
            f"{what} is {dt}: the fit is computed in float64 from the {xp.finfo(dt).bits}-bit "
            "values, which keep only about 3 significant digits of the original data",
            PrecisionWarning,
            stacklevel=4,
        )
    return xp.astype(A, xp.float64)


def _to_device(xp: Any, a: Any, device: Any, what: str) -> Any:
    """A device array or anything array-like as a float64 array of ``xp`` on ``device``."""
    if is_device_array(a):
        from array_api_compat import array_namespace, to_device

        if array_namespace(a) is xp:
            return _as_float64(xp, to_device(a, device), what)
        a = to_host(a)  # another library's array: through the host
    return xp.asarray(np.asarray(a, dtype=np.float64), device=device)


def first_nonfinite(xp: Any, A: Any) -> tuple[int, int, int, bool] | None:
    """(row, column, rows holding any, is NaN) of the first column's first NaN or inf in A
    (n, m), or None; a column-sum screen first (one pass), the exact search only when it fails."""
    if A.shape[0] == 0 or bool(xp.all(xp.isfinite(xp.sum(A, axis=0)))):
        return None
    bad = ~xp.isfinite(A)
    cols = np.flatnonzero(to_host(xp.any(bad, axis=0)))
    if cols.size == 0:
        return None  # the sum overflowed, the values are finite
    j = int(cols[0])
    i = int(to_host(xp.argmax(xp.astype(bad[:, j], xp.int32))))
    nrows = int(to_host(xp.sum(xp.astype(xp.any(bad, axis=1), xp.int64))))
    return i, j, nrows, bool(to_host(xp.isnan(A[i, j])))


def check_finite_device(xp: Any, A: Any, what: str, names: tuple[str, ...] | None) -> None:
    """As :func:`olsnet.data.check_finite` on a device array: the same error, naming the first
    column holding NaN or inf and its first such row."""
    found = first_nonfinite(xp, A)
    if found is not None:
        raise nonfinite_error(what, names, *found)


def as_device_design(
    X: Any, y: Any, sample_weight: Any = None, *, missing: str = "raise"
) -> DeviceDesign:
    """Check a regression's inputs when X is a device array; nothing of X leaves its device.

    Raises
    ------
    InputTypeError
        X of a non-numeric dtype.
    DimensionError
        X not 2-D, y not 1-D or 2-D, or lengths that differ.
    DataError
        Empty data, complex values, NaN or inf (naming the column and first row), bad weights.
    DeviceError
        X on a device without float64 arithmetic.
    """
    from array_api_compat import array_namespace

    check_option("missing", missing, MISSING_POLICIES)
    xp = array_namespace(X)
    if X.ndim != 2:
        raise DimensionError(
            f"X must be 2-D (n_samples, n_features); got {X.ndim}-D shape {tuple(X.shape)}"
            + (". Reshape it with X.reshape(-1, 1) for a single feature" if X.ndim == 1 else "")
        )
    Xd = _as_float64(xp, X, "X")
    dev = Xd.device
    if is_device_array(y):
        Y = _to_device(xp, y, dev, "y")
        names: tuple[str, ...] = ("y",)
        y_ndim = Y.ndim
        if Y.ndim == 1:
            Y = Y[:, None]
        elif Y.ndim == 2:
            names = ("y",) if Y.shape[1] == 1 else tuple(f"y{j}" for j in range(Y.shape[1]))
        else:
            raise DimensionError(
                f"y must be 1-D (n_samples,) or 2-D (n_samples, n_outputs); got shape "
                f"{tuple(Y.shape)}"
            )
    else:
        Yh, names, y_ndim = _as_targets(y)
        Y = xp.asarray(Yh, device=dev)
    n, p = Xd.shape
    if Y.shape[0] != n:
        raise DimensionError(
            f"X and y have different numbers of rows: X has {n} samples, y has {Y.shape[0]}"
        )
    if n == 0:
        raise DataError(
            f"X is empty: 0 sample(s) (shape={tuple(Xd.shape)}) while a minimum of 1 is required."
        )
    if p == 0:
        raise DataError(
            f"X has 0 feature(s) (shape={tuple(Xd.shape)}) while a minimum of 1 is required."
        )
    if Y.shape[1] == 0:
        raise DataError("y has 0 columns; at least one target is required")
    w = None
    if sample_weight is not None:
        wh = check_weights(
            to_host(sample_weight) if is_device_array(sample_weight) else sample_weight, n
        )
        w = xp.asarray(wh, device=dev)
    fnames = tuple(f"x{j + 1}" for j in range(p))
    n_dropped = 0
    if missing == "drop":
        keep = xp.all(xp.isfinite(Xd), axis=1) & xp.all(xp.isfinite(Y), axis=1)
        n_keep = int(to_host(xp.sum(xp.astype(keep, xp.int64))))
        if n_keep < n:
            if n_keep == 0:
                raise DataError("every row has a NaN or inf in X or y; nothing is left to fit")
            n_dropped = n - n_keep
            Xd, Y = Xd[keep, ...], Y[keep, ...]
            w = None if w is None else w[keep]
    else:
        check_finite_device(xp, Xd, "X", fnames)
        check_finite_device(xp, Y, "y", names)
    return DeviceDesign(xp, Xd, Y, w, fnames, names, y_ndim, n_dropped)


@dataclass(frozen=True)
class DeviceSource(Source):
    """The rows of a :class:`DeviceDesign` as a :class:`~olsnet.data.Source`: ``solve`` and
    ``fit_state`` run on the rows' device (:mod:`olsnet.solve._device`); ``blocks()`` (and so
    the residual pass of HC covariances and influence) copies one block at a time to the host,
    so host memory stays bounded."""

    device_design: DeviceDesign
    block_rows: int = 65536

    names_from_frame = False

    @property
    def y_ndim(self) -> int:  # type: ignore[override]
        return self.device_design.y_ndim

    @property
    def weighted(self) -> bool:  # type: ignore[override]
        return self.device_design.weights is not None

    @property
    def n_dropped(self) -> int:  # type: ignore[override]
        return self.device_design.n_dropped

    @property
    def feature_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.device_design.feature_names

    @property
    def target_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.device_design.target_names

    def solve(
        self,
        fit_intercept: bool,
        *,
        policy: str = "auto",
        tol: float = ALIAS_TOL,
        n_jobs: int | None = None,
        on_batch: OnBatch | None = None,
    ) -> LstsqSolution:
        """The fit on the device, with the accuracy policy of the NumPy path (``n_jobs`` is not
        used: the device runs its own threads); ``on_batch`` is called once, at the end."""
        d = self.device_design
        sol = device_lstsq(d.X, d.Y, d.weights, fit_intercept, d.feature_names, policy, tol)
        self._report(on_batch)
        return sol

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """The QR state of the rows, computed on their device (see :meth:`solve`)."""
        d = self.device_design
        state = device_state(d.X, d.Y, d.weights, fit_intercept)
        self._report(on_batch)
        return state

    def _report(self, on_batch: OnBatch | None) -> None:
        d = self.device_design
        if on_batch is not None:
            on_batch(d.n_samples, 8 * d.n_samples * (d.n_features + d.n_outputs))

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        d = self.device_design
        for start in range(0, d.n_samples, self.block_rows):
            sl = slice(start, min(start + self.block_rows, d.n_samples))
            w = None if d.weights is None else to_host(d.weights[sl])
            yield to_host(d.X[sl, ...]), to_host(d.Y[sl, ...]), w


def device_predict(X: Any, coef: np.ndarray, intercept: np.ndarray, n_features: int) -> Any:
    """``X coefᵀ + intercept`` on X's device, float64; coef (p,) or (q, p), intercept () or (q,).

    Raises
    ------
    DimensionError
        X not 2-D or with another number of features than the fit.
    DataError
        NaN or inf in X (naming the column and row; found only when a prediction is not finite).
    """
    from array_api_compat import array_namespace

    xp = array_namespace(X)
    if X.ndim != 2:
        raise DimensionError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)}")
    if X.shape[1] != n_features:
        raise DimensionError(
            f"X has {X.shape[1]} features, but LinearRegression is expecting {n_features} "
            "features as input."
        )
    Xd = _as_float64(xp, X, "X")
    dev = Xd.device
    C = xp.asarray(np.ascontiguousarray(coef.T), dtype=xp.float64, device=dev)
    out = Xd @ C + xp.asarray(intercept, dtype=xp.float64, device=dev)
    if not bool(xp.all(xp.isfinite(out))):
        found = first_nonfinite(xp, Xd)
        if found is not None:
            i, j = found[:2]
            raise DataError(f"X has NaN or inf at row {i}, column {j}; predictions need finite X")
    return out
