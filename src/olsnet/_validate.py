"""Validation below every layer: user inputs (NumPy arrays, pandas / polars frames, lists) into a
checked design, and the finite / weight checks the solver and the sources share.

Only duck typing here: pandas and polars are never imported by this module unless the user
already passed one of their objects (then they are in ``sys.modules`` anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ._types import MISSING_POLICIES, check_option
from .errors import DataError, DimensionError, InputTypeError

__all__ = [
    "FORMULA_HINT",
    "Design",
    "as_design",
    "as_matrix",
    "check_finite",
    "check_weights",
    "column_label",
    "iter_row_blocks",
]

FORMULA_HINT = (
    "use a formula (olsnet.ols('y ~ x + C(group)', data)) to encode text or categorical columns"
)


@dataclass(frozen=True)
class Design:
    """A checked regression design.

    X : (n, p) float64, Y : (n, q) float64, weights : (n,) float64 or None.
    ``y_ndim`` remembers whether y came 1-D, so results can be shaped as scikit-learn shapes them.
    ``n_dropped`` counts rows dropped for missing values under ``missing="drop"``.
    """

    X: np.ndarray
    Y: np.ndarray
    weights: np.ndarray | None
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    y_ndim: int
    n_dropped: int = 0
    names_from_frame: bool = False

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.Y.shape[1])


def column_label(names: tuple[str, ...] | None, j: int) -> str:
    """'x3' (index 2) style label for error messages."""
    if names and j < len(names):
        return f"{names[j]!r} (index {j})"
    return f"index {j}"


def _frame_columns(obj: Any) -> tuple[str, ...] | None:
    cols = getattr(obj, "columns", None)
    if cols is None or not hasattr(obj, "shape") or isinstance(obj, np.ndarray):
        return None
    return tuple(str(c) for c in list(cols))


def _frame_to_float(obj: Any, what: str, names: tuple[str, ...]) -> np.ndarray:
    """Convert a pandas / polars DataFrame to float64, refusing text and categorical columns."""
    module = type(obj).__module__.split(".")[0]
    if module == "polars":
        import polars as pl

        for name, dtype in obj.schema.items():
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise InputTypeError(
                    f"{what} column {name!r} has dtype {dtype}, which is not numeric; {FORMULA_HINT}"
                )
        return np.asarray(obj.to_numpy(), dtype=np.float64)
    if module == "pandas":
        import pandas as pd

        for name, dtype in zip(names, obj.dtypes, strict=True):
            if not (
                pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
            ) or isinstance(dtype, pd.CategoricalDtype):
                raise InputTypeError(
                    f"{what} column {name!r} has dtype {dtype}, which is not numeric; {FORMULA_HINT}"
                )
        return np.asarray(obj.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return _to_float(np.asarray(obj), what, names)


def _to_float(arr: np.ndarray, what: str, names: tuple[str, ...] | None) -> np.ndarray:
    if arr.dtype == object:
        # object arrays are accepted only when every entry is a real number
        flat = arr.reshape(arr.shape[0], -1) if arr.ndim else arr.reshape(1, 1)
        for (i, j), v in np.ndenumerate(flat):
            if not isinstance(v, (int, float, np.integer, np.floating, np.bool_, bool)):
                raise InputTypeError(
                    f"{what} is an object array holding {type(v).__name__} {v!r} at row {i}, column "
                    f"{column_label(names, j)}; float() argument must be a string or a real number. "
                    f"Pass numeric arrays, or {FORMULA_HINT}"
                )
        return arr.astype(np.float64)
    if arr.dtype.kind == "c":
        raise DataError(f"{what}: Complex data not supported; only real numbers are accepted")
    if arr.dtype.kind in "US":
        raise InputTypeError(f"{what} holds text (dtype {arr.dtype}); {FORMULA_HINT}")
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(f"{what} has dtype {arr.dtype}; only real numbers are accepted")
    return np.asarray(arr, dtype=np.float64)


def as_matrix(
    X: Any, what: str = "X", names: tuple[str, ...] | None = None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """(n, p) float64 array (no copy when X already is one) and the frame's column names, if any."""
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse
        raise InputTypeError(
            f"{what} is a sparse matrix; sparse input is not supported, pass a dense array "
            "(X.toarray())"
        )
    if hasattr(X, "__array_namespace__") and type(X).__module__.startswith("torch"):
        X = X.detach().cpu().numpy()
    frame_names = _frame_columns(X)
    if frame_names is not None:
        arr = _frame_to_float(X, what, frame_names)
    else:
        if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):  # Series
            X = X.to_numpy()
        arr = _to_float(np.asarray(X), what, names)
    if arr.ndim == 1:
        raise DimensionError(
            f"{what} must be 2-D (n_samples, n_features); got a 1-D array of shape {arr.shape}. "
            "Reshape your data either using X.reshape(-1, 1) if it has a single feature or "
            "X.reshape(1, -1) if it contains a single sample."
        )
    if arr.ndim != 2:
        raise DimensionError(
            f"{what} must be 2-D (n_samples, n_features); got {arr.ndim}-D shape {arr.shape}"
        )
    return arr, frame_names


_F64 = np.dtype(np.float64)


@lru_cache(maxsize=256)
def _feature_names(p: int) -> tuple[str, ...]:
    """The default names of ``p`` columns of X: x1..xp."""
    return tuple(f"x{j + 1}" for j in range(p))


@lru_cache(maxsize=256)
def _target_names(q: int) -> tuple[str, ...]:
    """The default names of ``q`` columns of a 2-D y: y0..y(q-1), or y for one."""
    return tuple(f"y{j}" for j in range(q)) if q > 1 else ("y",)


def _as_targets(y: Any) -> tuple[np.ndarray, tuple[str, ...], int]:
    names = _frame_columns(y)
    if names is not None:
        Y = _frame_to_float(y, "y", names)
        return Y, names, 2
    series_name = getattr(y, "name", None) if not isinstance(y, np.ndarray) else None
    if hasattr(y, "to_numpy") and not isinstance(y, np.ndarray):
        y = y.to_numpy()
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    arr = _to_float(np.asarray(y), "y", None)
    if arr.ndim == 1:
        return arr[:, None], (str(series_name) if series_name is not None else "y",), 1
    if arr.ndim == 2:
        return arr, _target_names(arr.shape[1]), 2
    raise DimensionError(
        f"y must be 1-D (n_samples,) or 2-D (n_samples, n_outputs); got shape {arr.shape}"
    )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_finite(arr: np.ndarray, what: str, names: tuple[str, ...] | None) -> None:
    """Raise a DataError naming the first column and row holding NaN or inf."""
    # sums are a cheap screen (a non-finite sum means a NaN or inf somewhere, or an overflow,
    # which the exact check below tells apart): one contiguous sum for a single column, column
    # sums by BLAS (ones @ arr) for several
    if arr.size == 0:
        return
    if arr.ndim == 1 or arr.shape[1] == 1:
        if np.isfinite(np.sum(arr)):
            return
    elif np.isfinite(arr.sum(axis=0)).all():  # a reduction, not BLAS: no BLAS threads woken
        return
    bad = ~np.isfinite(arr)
    if not bad.any():
        return  # the sum overflowed, the values are finite
    cols = np.flatnonzero(bad.any(axis=0))
    j = int(cols[0])
    i = _first_bad(bad[:, j])
    nrows = int(bad.any(axis=1).sum())
    raise nonfinite_error(what, names, i, j, nrows, bool(np.isnan(arr[i, j])))


def nonfinite_error(
    what: str, names: tuple[str, ...] | None, row: int, col: int, nrows: int, is_nan: bool
) -> DataError:
    """The error for NaN or inf at (row, col), the first such column's first such row."""
    kind = "NaN" if is_nan else "inf"
    return DataError(
        f"{what} column {column_label(names, col)} has {kind} at row {row}; {nrows} row(s) of "
        f"{what} hold NaN or inf. Pass missing='drop' to drop such rows, or clean the data"
    )


def check_weights(w: Any, n: int) -> np.ndarray:
    """Weights as (n,) float64: finite, non-negative, not all zero."""
    if hasattr(w, "to_numpy") and not isinstance(w, np.ndarray):
        w = w.to_numpy()
    wa = _to_float(np.asarray(w), "sample_weight", None)
    if wa.ndim == 0:
        wa = np.full(n, float(wa))
    if wa.ndim != 1 or wa.shape[0] != n:
        raise DimensionError(f"sample_weight must have shape ({n},) to match X; got {wa.shape}")
    if not np.isfinite(wa).all():
        i = _first_bad(~np.isfinite(wa))
        raise DataError(f"sample_weight has {wa[i]} at row {i}; weights must be finite and >= 0")
    if (wa < 0).any():
        i = _first_bad(wa < 0)
        raise DataError(
            f"sample_weight has the negative value {wa[i]} at row {i}; weights must be >= 0"
        )
    if not (wa > 0).any():
        raise DataError(
            "sample_weight is zero for every row; at least one row needs a positive weight"
        )
    return wa


def as_design(
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    missing: str = "raise",
    check_finite_X: bool = True,
    min_features: int = 1,
    check_finite_y: bool = True,
) -> Design:
    """Check and convert a regression's inputs.

    ``min_features=0`` admits X with no columns (the intercept-only model, R's ``y ~ 1``);
    the scikit-learn estimator keeps scikit-learn's minimum of 1.

    ``check_finite_X=False`` leaves the NaN/inf scan of X to the caller, which must then call
    :func:`check_finite` itself (the solver's normal-equations pass does it for free: a NaN or
    inf anywhere in X makes the Gram matrix non-finite). ``check_finite_y=False`` likewise leaves
    the scan of y to the caller (:meth:`olsnet.data.ArraySource.solve` does it before it solves).

    Raises
    ------
    InputTypeError
        Text, categorical or object columns, or unsupported containers.
    DimensionError
        Arrays that are not 2-D (X) / 1-D or 2-D (y), or lengths that differ.
    DataError
        Empty data, NaN or inf (naming the column and first row), bad weights.
    """
    check_option("missing", missing, MISSING_POLICIES)
    if (
        type(X) is np.ndarray
        and type(y) is np.ndarray
        and X.dtype == _F64
        and y.dtype == _F64
        and X.ndim == 2
        and 1 <= y.ndim <= 2
    ):  # float64 arrays as they are (what as_matrix and _as_targets make of them, directly)
        Xa, fnames = X, None
        tnames: tuple[str, ...]
        if y.ndim == 1:
            Y, tnames, y_ndim = y[:, None], ("y",), 1
        else:
            Y, tnames, y_ndim = y, _target_names(y.shape[1]), 2
    else:
        Xa, fnames = as_matrix(X, "X")
        Y, tnames, y_ndim = _as_targets(y)
    n, p = Xa.shape
    if Y.shape[0] != n:
        raise DimensionError(
            f"X and y have different numbers of rows: X has {n} samples, y has {Y.shape[0]}"
        )
    if n == 0:
        raise DataError(
            f"X is empty: 0 sample(s) (shape={Xa.shape}) while a minimum of 1 is required."
        )
    if p < min_features:
        raise DataError(
            f"X has {p} feature(s) (shape={Xa.shape}) while a minimum of {min_features} is "
            "required. (For the intercept-only model use olsnet.ols('y ~ 1', data) or fit "
            "LinearRegression (fit_intercept=True) on X with 0 columns.)"
        )
    if Y.shape[1] == 0:
        raise DataError("y has 0 columns; at least one target is required")
    w = None if sample_weight is None else check_weights(sample_weight, n)
    names = fnames if fnames is not None else _feature_names(p)
    n_dropped = 0
    if missing == "drop":
        keep = np.isfinite(Xa).all(axis=1) & np.isfinite(Y).all(axis=1)
        if not keep.all():
            n_dropped = int(n - keep.sum())
            if n_dropped == n:
                raise DataError("every row has a NaN or inf in X or y; nothing is left to fit")
            Xa, Y = Xa[keep], Y[keep]
            w = None if w is None else w[keep]
    else:
        if check_finite_X:
            check_finite(Xa, "X", names)
        if check_finite_y:
            check_finite(Y, "y", tnames)
    return Design(Xa, Y, w, names, tnames, y_ndim, n_dropped, fnames is not None)


def iter_row_blocks(n: int, block_rows: int) -> Iterator[slice]:
    """Slices covering range(n) in consecutive blocks of at most ``block_rows`` rows."""
    for start in range(0, n, block_rows):
        yield slice(start, min(start + block_rows, n))
