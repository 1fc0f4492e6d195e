"""Raw columns as a formula reads them: frames from any source, column kinds (text, dates,
numbers), categorical levels in R's order, dates as numeric time, and the unseen-level check.
Private to :mod:`olsnet.data` (the model spec and the formula sources use it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import DataError, DimensionError, FormulaError, UnseenLevelError

DATE_UNITS = {"days": "days since 1970-01-01", "seconds": "seconds since 1970-01-01 UTC"}


def as_frame(data: Any) -> Any:
    """pandas DataFrame from a pandas / polars DataFrame, an Arrow table or a dict of columns."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    mod = type(data).__module__.split(".")[0]
    if mod in ("polars", "pyarrow") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(
                {str(k): v if hasattr(v, "to_numpy") else np.asarray(v) for k, v in data.items()}
            )
        except ValueError as exc:
            raise DimensionError(f"the columns of data have different lengths: {exc}") from None
    raise FormulaError(
        "data must be a pandas or polars DataFrame, an Arrow table or a dict of columns; "
        f"got {type(data).__name__}"
    )


def is_text(s: Any, is_date: bool) -> bool:
    import pandas as pd

    if is_date:
        return False
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return True
    return not pd.api.types.is_numeric_dtype(dtype)


def date_unit(s: Any) -> str | None:
    """ "days" for a date column, "seconds" for a datetime column, else None."""
    import pandas as pd

    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):  # before the datetime64 test, which date32 passes
        import pyarrow as pa

        t = dtype.pyarrow_dtype
        if pa.types.is_date(t):
            return "days"
        return "seconds" if pa.types.is_timestamp(t) else None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "seconds"
    if pd.api.types.is_object_dtype(dtype):
        first = s.dropna()
        first = first.iloc[0] if len(first) else None
        if isinstance(first, dt.datetime):
            return "seconds"
        if isinstance(first, dt.date):
            return "days"
    return None


def date_term(column: str, unit: str) -> str:
    return f"{column}[{unit}]"


def numeric_time(s: Any, unit: str, column: str) -> np.ndarray:
    """Days (dates) or seconds (datetimes, UTC) since 1970-01-01 as float64."""
    import pandas as pd

    raw = s.astype(object) if isinstance(s.dtype, pd.ArrowDtype) else s
    try:
        t = pd.to_datetime(raw, utc=True) if unit == "seconds" else pd.to_datetime(raw)
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_localize(None)
        ns = t.to_numpy(dtype="datetime64[ns]").view("int64").astype(np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"column {column!r} is read as a date but holds {exc}") from None
    ns[np.asarray(s.isna(), dtype=bool)] = np.nan
    return ns / (86400e9 if unit == "days" else 1e9)


def as_float(s: Any, column: str) -> np.ndarray:
    try:
        return np.asarray(s.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"column {column!r} holds text where the model reads numbers; write C({column}) "
            "in the formula to read it as categories"
        ) from None


def learn_levels(s: Any) -> tuple[Any, ...]:
    import pandas as pd

    if isinstance(s.dtype, pd.CategoricalDtype):
        vals = [plain(v) for v in s.cat.categories]
        if not isinstance(s.dtype.categories.dtype, pd.CategoricalDtype):
            return tuple(vals)
    return sorted_levels(plain(v) for v in pd.unique(s.dropna()))


def sorted_levels(values: Any) -> tuple[Any, ...]:
    """Distinct levels in R's order (sorted). Numbers read as float (2.0) or as text ("2",
    from a file column named in ``C()``) are the integers they are, so a file and the frame
    pandas reads from it give the same levels and names (``C(k)[T.2]``)."""
    values = list(dict.fromkeys(values))
    if values and all(isinstance(v, str) for v in values):
        as_int = [_int_text(v) for v in values]
        if all(i is not None for i in as_int):
            values = as_int
    if values and all(isinstance(v, float) and v.is_integer() for v in values):
        values = [int(v) for v in values]
    try:
        return tuple(sorted(values))
    except TypeError:
        return tuple(sorted(values, key=str))


def _int_text(v: str) -> int | None:
    t = v.strip()
    if t[:1] in "+-":
        t = t[1:]
    return int(v) if t.isdigit() and (t == "0" or not t.startswith("0")) else None


def plain(v: Any) -> Any:
    """A level as a plain JSON-able Python value (str, int, float, bool; dates as ISO text)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if hasattr(v, "isoformat"):  # pandas Timestamp
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def level_values(s: Any, levels: tuple[Any, ...]) -> Any:
    """The column's values comparable with the stored levels (text levels compare as text)."""
    import pandas as pd

    if levels and all(isinstance(v, str) for v in levels):
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            return s.map(lambda v: v if v is None or v != v else _plain_text(v))
        if s.dtype == object or pd.api.types.is_datetime64_any_dtype(s.dtype):
            return s.map(lambda v: v if v is None or v != v else plain(v)).astype(object)
    if levels and all(isinstance(v, int) and not isinstance(v, bool) for v in levels):
        if pd.api.types.is_float_dtype(s.dtype):
            return s.map(lambda v: int(v) if v == v and float(v).is_integer() else v)
        if not pd.api.types.is_numeric_dtype(s.dtype):  # text "2" from a file: the level 2
            return s.map(
                lambda v: _int_text(v) if isinstance(v, str) and _int_text(v) is not None else v
            )
    return s


def _plain_text(v: Any) -> str:
    v = plain(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def level_codes(s: Any, levels: tuple[Any, ...]) -> np.ndarray:
    """(n,) int codes of ``s`` among ``levels``: -1 for a missing value or an unseen level.

    A Categorical of exactly ``levels`` (as the file sources encode from Arrow) gives its own
    codes; text against text levels goes through Arrow's hash lookup
    (``pyarrow.compute.index_in``, no Python objects per row); other kinds through pandas'
    index lookup (``Index.get_indexer``) of the values made comparable with the levels.
    """
    import pandas as pd

    if isinstance(s.dtype, pd.CategoricalDtype) and _same_levels(s.cat.categories, levels):
        return np.asarray(s.cat.codes, dtype=np.int64)  # encoded from Arrow already
    if levels and all(isinstance(v, str) for v in levels) and _is_text_dtype(s.dtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            arr = pa.array(s, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # objects that are not all text
            arr = None
        if arr is not None:
            codes = pc.index_in(arr, value_set=pa.array(list(levels), pa.large_string()))
            return np.asarray(codes.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    values = pd.Index(np.asarray(level_values(s, levels), dtype=object), dtype=object)
    return np.asarray(pd.Index(list(levels), dtype=object).get_indexer(values), dtype=np.int64)


def _same_levels(categories: Any, levels: tuple[Any, ...]) -> bool:
    """Whether a Categorical's categories are exactly ``levels`` (values and types)."""
    return len(categories) == len(levels) and all(
        type(a) is type(b) and a == b for a, b in zip(categories, levels, strict=True)
    )


def _is_text_dtype(dtype: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)


def check_levels(
    s: Any,
    codes: np.ndarray,
    null: np.ndarray,
    levels: tuple[Any, ...],
    column: str,
    name_row: Callable[[int], str],
) -> None:
    """Raise :class:`UnseenLevelError` at the first present value whose code is -1."""
    unseen = (codes < 0) & ~null
    if unseen.any():
        i = int(np.flatnonzero(unseen)[0])
        level = plain(s.iloc[i])
        shown = ", ".join(repr(v) for v in levels[:10]) + (", ..." if len(levels) > 10 else "")
        raise UnseenLevelError(
            f"column {column!r} has the level {level!r} at {name_row(i)}, which the model never "
            f"saw in training (R: factor {column} has new level {level}); "
            f"{int(unseen.sum())} row(s) have unseen levels. Known levels: {shown}"
        )


def row_label(index: Any, i: int) -> str:
    label = index[i]
    return f"row {i}" if label == i else f"row {i} (label {label!r})"
