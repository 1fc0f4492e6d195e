"""A formula on an in-memory frame: its complete rows, its design, and a block source that
encodes a wide design block by block (never whole in memory). Each path encodes rows with
:meth:`olsnet.data.model_spec.ModelSpec.encode`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import MISSING_POLICIES, check_option
from ..errors import DataError, DimensionError, FormulaError
from ._columns import as_frame, row_label
from ._labels import check_label_names, first_missing_label, label_array
from .formula import close_matches, parse_formula
from .model_spec import ModelSpec, learn
from .source import Source

__all__ = [
    "CompleteRows",
    "FormulaDesign",
    "FrameFormulaSource",
    "complete_rows",
    "design_from_formula",
    "formula_design",
]


@dataclass(frozen=True)
class CompleteRows:
    """The rows of a frame with no missing value in the columns a formula reads (nor in the
    weights): ``frame`` (n, ...), ``weights`` (n,) or None, and how many rows were left out."""

    frame: Any
    weights: np.ndarray | None
    weights_column: str | None
    n_dropped: int


def complete_rows(
    formula: str, data: Any, *, weights: Any = None, missing: str = "raise"
) -> CompleteRows:
    """Check ``formula`` against ``data``'s columns and leave out (or refuse) incomplete rows.

    Raises
    ------
    FormulaError
        Syntax, or a column the formula reads that ``data`` lacks (close matches named).
    DataError
        A missing value with ``missing="raise"`` (column and row named), or no row left.
    """
    check_option("missing", missing, MISSING_POLICIES)
    frame = as_frame(data)
    w = _weights(weights, frame)
    cols = [str(c) for c in frame.columns]
    wname = weights if isinstance(weights, str) else None
    parsed = parse_formula(formula, cols, exclude=(wname,) if wname else ())
    parsed.check_columns(cols)
    null = np.zeros(len(frame), dtype=bool)
    for c in parsed.columns_used(cols):
        col_null = np.asarray(frame[c].isna(), dtype=bool)
        if missing == "raise" and col_null.any():
            i = int(np.flatnonzero(col_null)[0])
            raise DataError(
                f"column {c!r} has a missing value at {row_label(frame.index, i)}; "
                f"{int(col_null.sum())} row(s) of it are missing. Pass missing='drop' to leave "
                "such rows out, or fill them in"
            )
        null |= col_null
    if w is not None:
        bad_w = ~np.isfinite(w)
        if missing == "raise" and bad_w.any():
            i = int(np.flatnonzero(bad_w)[0])
            raise DataError(f"weights are missing or not finite at {row_label(frame.index, i)}")
        null |= bad_w
    if null.all():
        raise DataError("no rows are left to fit after leaving out the rows with missing values")
    if null.any():
        frame, w = frame[~null], None if w is None else w[~null]
    return CompleteRows(frame, w, wname, int(null.sum()))


@dataclass(frozen=True)
class FormulaDesign:
    """Design rows of a formula on a frame: X (n, p), Y (n, q), weights (n,) or None."""

    X: np.ndarray
    Y: np.ndarray
    w: np.ndarray | None
    spec: ModelSpec
    n_dropped: int


def formula_design(
    formula: str,
    data: Any,
    *,
    weights: Any = None,
    missing: str = "raise",
    allow_python: bool = True,
    text_target: bool = False,
) -> FormulaDesign:
    """Learn the spec on the complete rows of ``data`` and encode them (one code path)."""
    rows = complete_rows(formula, data, weights=weights, missing=missing)
    spec = learn(
        formula,
        rows.frame,
        weights=rows.weights_column,
        text_target=text_target,
        allow_python=allow_python,
    )
    enc = spec.encode(rows.frame, missing=missing)
    if enc.X.shape[0] == 0:
        raise DataError("no rows are left to fit after leaving out the rows with missing values")
    w = None if rows.weights is None else rows.weights[enc.kept]
    return FormulaDesign(enc.X, enc.Y, w, spec, rows.n_dropped + enc.n_dropped)


class FrameFormulaSource(Source):
    """A block source over a frame's complete rows: each block of ``block_rows`` raw rows
    (default: ``spec.block_rows()``, a bounded number of bytes) is encoded by the spec when
    read, so a wide design never exists whole in memory."""

    def __init__(
        self,
        spec: ModelSpec,
        frame: Any,
        weights: np.ndarray | None,
        *,
        missing: str = "raise",
        block_rows: int | None = None,
    ) -> None:
        self.model_spec = spec
        self.frame = frame
        self.weights = weights
        self.missing = missing
        self.block_rows = block_rows or spec.block_rows()
        self.feature_names = spec.feature_names
        self.target_names = spec.target_names
        self.y_ndim = 1 if self.n_outputs == 1 else 2
        self.fit_intercept = spec.fit_intercept
        self.weighted = weights is not None
        self.n_dropped = 0

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """``(X (b, p), Y (b, q), w (b,) or None)`` per block of rows."""
        dropped = 0
        for start in range(0, len(self.frame), self.block_rows):
            rows = self.frame.iloc[start : start + self.block_rows]
            enc = self.model_spec.encode(rows, missing=self.missing)
            dropped += enc.n_dropped
            w = self.weights
            yield enc.X, enc.Y, None if w is None else w[start : start + len(rows)][enc.kept]
        self.n_dropped = dropped

    def label_blocks(self, names: Any, *, on_batch: Any = None) -> Iterator[Any]:
        """:meth:`Source.label_blocks` for any column of the frame (not only the formula's).

        Raises
        ------
        DimensionError
            A name that is not a column of the frame (close matches named).
        DataError
            A missing label in a row of the fit (the row named).
        """
        names = tuple(names)
        check_label_names(names, self.frame.columns, "the DataFrame", DimensionError)
        for start in range(0, len(self.frame), self.block_rows):
            rows = self.frame.iloc[start : start + self.block_rows]
            if on_batch is not None:
                on_batch(len(rows), 0)
            enc = self.model_spec.encode(rows, missing=self.missing)
            w = self.weights
            labels = tuple(label_array(rows[c])[enc.kept] for c in names)
            for name, v in zip(names, labels, strict=True):
                i = first_missing_label(v)
                if i is not None:
                    at = row_label(rows.index, int(np.flatnonzero(enc.kept)[i]))
                    raise DataError(
                        f"groups column {name!r} has a missing label at {at}; every row of the "
                        "fit needs a cluster (drop those rows or fill them in)"
                    )
            X, Y = enc.X, enc.Y
            yield X, Y, None if w is None else w[start : start + len(rows)][enc.kept], labels


def _weights(weights: Any, frame: Any) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise FormulaError(
                f"weights={weights!r} is not a column of data"
                f"{close_matches(weights, list(frame.columns))}; its columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
        weights = frame[weights]
    w = np.asarray(
        weights.to_numpy(dtype=np.float64, na_value=np.nan)
        if hasattr(weights, "to_numpy")
        else weights,
        dtype=np.float64,
    )
    if w.ndim != 1 or w.shape[0] != len(frame):
        raise DimensionError(
            f"weights must have shape ({len(frame)},) to match data; got {w.shape}"
        )
    return w


def design_from_formula(
    formula: str, data: Any, *, weights: Any = None, missing: str = "raise"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str | tuple[str, ...], ModelSpec]:
    """Apply a formula to data, for estimators and networks that take arrays.

    Returns
    -------
    X : ndarray of shape (n, p)
        Model matrix without the ``Intercept`` column (``spec.fit_intercept`` says whether the
        formula has one).
    y : ndarray of shape (n,) or (n, q)
        1-D for one target.
    feature_names : tuple of str
    target_name : str, or tuple of str for several targets
    spec : ModelSpec
        Encodes raw new data the same way (``spec.design_matrix(new_data)``).
    """
    fd = formula_design(formula, data, weights=weights, missing=missing)
    q = fd.Y.shape[1]
    y = fd.Y[:, 0] if q == 1 else fd.Y
    target = fd.spec.target_names[0] if q == 1 else fd.spec.target_names
    return fd.X, y, fd.spec.feature_names, target, fd.spec
