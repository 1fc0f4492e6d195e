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

__all__ = ["check_label_names", "first_missing_label", "label_array"]


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


def label_array(column: Any) -> np.ndarray:
    """(b,) NumPy labels of an Arrow array / chunked array, a pandas Series or an array.

    Arrow dictionaries are decoded; text becomes an object array (missing: None), numbers keep
    their dtype (missing: NaN).
    """
    decode = getattr(column, "dictionary_decode", None)
    if callable(decode) and hasattr(column, "dictionary"):
        column = decode()
    to_numpy = getattr(column, "to_numpy", None)
    if callable(to_numpy) and hasattr(column, "null_count"):  # Arrow
        return np.asarray(to_numpy(zero_copy_only=False))
    if callable(to_numpy):  # pandas
        return np.asarray(to_numpy())
    return np.asarray(column)


def _missing(labels: np.ndarray) -> np.ndarray:
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


def first_missing_label(labels: np.ndarray) -> int | None:
    """Index of the first missing label of ``labels`` (b,), or None."""
    missing = _missing(labels)
    return int(np.flatnonzero(missing)[0]) if missing.any() else None
