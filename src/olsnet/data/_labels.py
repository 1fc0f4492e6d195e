"""Label columns read alongside the rows of a fit: cluster ids for ``with_cov("cluster",
groups="firm")``, streamed block by block with the rows they belong to (``Source.label_blocks``).

A label is anything that names a group (text, integers, floats); a missing one (None, NaN, an
Arrow null) is an error naming the row, since every row of the fit needs a cluster.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["CodedLabels", "check_label_names", "first_missing_label", "label_array"]


def check_label_names(
    names: Sequence[str], columns: Sequence[str], where: str, error: type[Exception] = DataError
) -> None:
    """Raise ``error`` naming the first of ``names`` not among ``columns`` (close matches shown).

    ``where`` names the data (``"the file data.csv"``, ``"the DataFrame"``).
    """
    have = [str(c) for c in columns]
    for name in names:
        if name not in have:
            near = difflib.get_close_matches(str(name), have, n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in near)}?)" if near else ""
            raise error(
                f"groups={name!r} is not a column of {where}{hint}; its columns are "
                f"{', '.join(have)} (or pass the labels as an array, one per row of the fit)"
            )


class CodedLabels:
    """(b,) labels as integer ``codes`` into ``levels`` (code -1: missing): an Arrow text column
    dictionary-encoded per batch, so a block's labels cost 8 bytes a row and its distinct
    values, not one Python string a row. Indexing by a mask or slice gives CodedLabels;
    ``np.asarray`` gives the labels themselves (object, None where missing)."""

    def __init__(self, codes: np.ndarray, levels: np.ndarray) -> None:
        self.codes = codes
        self.levels = levels

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, key: Any) -> CodedLabels:
        return CodedLabels(self.codes[key], self.levels)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.codes.shape[0], dtype=object)
        ok = self.codes >= 0
        out[ok] = self.levels[self.codes[ok]]
        out[~ok] = None
        return out if dtype is None else out.astype(dtype)


def label_array(column: Any) -> np.ndarray | CodedLabels:
    """(b,) labels of an Arrow array / chunked array, a pandas Series or an array.

    Arrow: integers without nulls as integers, other numbers as float64 (missing: NaN), text
    and everything else as :class:`CodedLabels` (read from Arrow's buffers: ``to_numpy``
    would import pandas). pandas: its NumPy values.
    """
    if hasattr(column, "null_count") and hasattr(column, "type"):  # Arrow
        return _arrow_labels(column)
    to_numpy = getattr(column, "to_numpy", None)
    if callable(to_numpy):  # pandas
        return np.asarray(to_numpy())
    return np.asarray(column)


def _arrow_labels(col: Any) -> np.ndarray | CodedLabels:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t) and not col.null_count:
        dtype = np.dtype(t.to_pandas_dtype())
        return np.frombuffer(col.buffers()[1], dtype, len(col), col.offset * dtype.itemsize).copy()
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return _values(pc.cast(col, pa.float64()), np.dtype(np.float64), np.nan)
    encoded = col if pa.types.is_dictionary(t) else pc.dictionary_encode(col)
    codes = _values(pc.cast(encoded.indices, pa.int64()), np.dtype(np.int64), -1)
    values = encoded.dictionary.to_pylist()
    levels = np.empty(len(values), dtype=object)
    levels[:] = values  # element by element: no value is unpacked into a second axis
    return CodedLabels(codes, levels)


def _values(arr: Any, dtype: np.dtype, fill: Any) -> np.ndarray:
    """(n,) copy of a primitive Arrow array's values, nulls set to ``fill``."""
    validity, data = arr.buffers()[:2]
    n, off = len(arr), arr.offset
    out = np.frombuffer(data, dtype=dtype, count=off + n)[off:].copy()
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        out[bits[off : off + n] == 0] = fill
    return out


def _missing(labels: np.ndarray | CodedLabels) -> np.ndarray:
    if isinstance(labels, CodedLabels):
        return labels.codes < 0
    if labels.dtype.kind in "fc":
        return np.isnan(labels)
    if labels.dtype.kind == "M":
        return np.isnat(labels)
    if labels.dtype == object:
        return np.fromiter(
            (
                v is None
                or (isinstance(v, float) and v != v)
                or type(v).__name__ in ("NAType", "NaTType")  # pandas' missing values
                for v in labels
            ),
            dtype=bool,
            count=labels.shape[0],
        )
    return np.zeros(labels.shape[0], dtype=bool)


def first_missing_label(labels: np.ndarray | CodedLabels) -> int | None:
    """Index of the first missing label of ``labels`` (b,), or None."""
    missing = _missing(labels)
    return int(np.flatnonzero(missing)[0]) if missing.any() else None
