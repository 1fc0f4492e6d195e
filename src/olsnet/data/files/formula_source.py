"""The formula file source: X and Y of each streamed batch from a formula (``olsnet.read(path,
formula=...)``), with categorical levels collected in a first pass over the files."""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError, DataFileError, OptionError, UnseenLevelError
from ...solve import QRState
from ...solve._pool import fold_blocks
from .._labels import label_array
from ..model_spec import ModelSpec, learn, sorted_levels
from ..source import OnBatch
from ._arrow import open_batches, where
from ._dialect import CsvDialect
from ._paths import file_kind
from .source import FileSource, _Batch

__all__ = ["FormulaFileSource", "raw_frames", "row_location"]


class FormulaFileSource(FileSource):
    """A :class:`FileSource` whose X and Y come from a formula applied to each batch.

    Categorical levels must be known before the first batch is encoded (a level first seen in
    batch 7 would otherwise change the columns). So the text columns the formula uses are read
    in a first, cheap pass that collects their levels (sorted); every batch then encodes them
    as a pandas Categorical with all levels, and the model spec learnt on the first batch fits
    every batch. A *numeric* column used as ``C(x)`` must also show all its levels: it is
    likewise scanned when the formula names it inside ``C(...)``.

    formulaic's *stateful* transforms (``center``, ``scale``, ``poly``, ``bs``, ...) learn
    their state (means, scales, knots) from the data they first see; streamed, that would be
    the first batch, not the whole data, and the fit would differ from the in-memory one. So a
    formula with such a term is refused when the data span more than one batch (an
    :class:`~olsnet.errors.OptionError` naming the term and the ways out).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        formula: str,
        weights: str | None,
        missing: str,
        batch_rows: int,
        dialect: CsvDialect | None = None,
        allow_python: bool = True,
        text_target: bool = False,
        on_batch: OnBatch | None = None,
    ) -> None:
        from ..formula import parse_formula

        self.formula = formula
        self.missing = missing
        self.batch_rows = batch_rows
        self.weights = weights
        self._open(paths, dialect)
        schema = self.arrow_schema(self.paths[0])
        self._dates = tuple(c for c in self.columns if _is_date_type(schema.field(c).type))
        parsed = parse_formula(
            formula,
            self.columns,
            exclude=(weights,) if weights else (),
            dates={c: f"{c}[{_date_unit(schema.field(c).type)}]" for c in self._dates},
        )
        unknown = parsed.unknown(self.columns)
        if unknown:
            parsed.check_columns(self.columns, where=str(self.paths[0]))
        variables = tuple(parsed.columns_used(self.columns))
        self._variables = variables
        self._check_present(self.paths[0], self.columns, (weights,) if weights else ())
        # a column named in C() / factor() is text from the first row of every file (a
        # digit-coded id that later holds "A" is still one column of levels)
        inferred = self._text_columns(schema, variables)
        self._text = tuple(c for c in variables if c in inferred or c in parsed.categorical)
        categorical = {c for c in self._text if c not in self._dates} | parsed.categorical
        self._levels = self._learn_levels(categorical, on_batch)
        frames = self._frames(self.paths[0])
        first = next(frames, None)
        if first is None:
            raise DataFileError(f"{self.paths[0]}: the file has a header but no data rows")
        spec = learn(
            formula,
            first[0].dropna(),
            weights=weights,
            text_target=text_target,
            allow_python=allow_python,
            categorical=tuple(categorical),
            known_levels=self._levels,
        )
        if spec.stateful and (len(self.paths) > 1 or next(frames, None) is not None):
            raise OptionError(
                f"formula {formula!r}: {spec.stateful[0]!r} is a stateful transform, whose "
                f"state (means, scales, knots) would be learnt from the first batch of "
                f"{batch_rows:,} rows only and give a different fit from the in-memory one. "
                "Stream with plain transforms (np.log(x), I((x - 4.5) / 3.0)), pass batch_rows "
                "at least the number of rows, or fit a DataFrame in memory with "
                "olsnet.ols(formula, data=frame)"
            )
        self.model_spec = spec
        self._y = spec.target_names
        self._x = spec.feature_names
        self.y_ndim = 1 if len(spec.target_names) == 1 else 2
        self.fit_intercept = spec.fit_intercept
        self.n_dropped = None
        self._pre_dropped = 0

    @property
    def spec(self) -> ModelSpec:
        """The model spec (an alias of ``model_spec``)."""
        return self.model_spec

    def _raw_columns(self) -> tuple[str, ...]:
        w = (self.weights,) if self.weights else ()
        return tuple(dict.fromkeys((*self._variables, *w)))

    def _numeric_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self._raw_columns() if c not in self._text)

    def _text_columns(self, schema: Any, variables: Sequence[str]) -> tuple[str, ...]:
        """Columns pyarrow infers as text (or Parquet stores as text / dictionary), and dates
        (read as text from CSV, converted per batch)."""
        import pyarrow as pa

        out = []
        for name in variables:
            t = schema.field(name).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if (
                pa.types.is_string(t)
                or pa.types.is_large_string(t)
                or pa.types.is_binary(t)
                or pa.types.is_string_view(t)
            ):
                out.append(name)
            elif name in self._dates and file_kind(self.paths[0]) == "csv":
                out.append(name)
        return tuple(out)

    def _learn_levels(
        self, categorical: Collection[str], on_batch: OnBatch | None = None
    ) -> dict[str, tuple[Any, ...]]:
        """First pass over the categorical columns: their sorted levels across every file
        (``on_batch(rows, bytes on disk)`` after each batch)."""
        cols = [c for c in self._variables if c in categorical]
        if not cols:
            return {}
        levels: dict[str, set[Any]] = {c: set() for c in cols}
        for path in self.paths:
            self._check_present(path, self.file_columns(path), self._raw_columns())
            for batch, disk in self.arrow_batches_at(path, cols, self._text):
                if on_batch is not None:
                    on_batch(batch.num_rows, disk)
                for c in cols:
                    levels[c].update(
                        v
                        for v in batch.column(c).unique().to_pylist()
                        if v is not None and not (isinstance(v, float) and math.isnan(v))
                    )
        return {c: sorted_levels(_plain_level(v) for v in lv) for c, lv in levels.items()}

    def _frames(
        self, path: Path, labels: Sequence[str] = ()
    ) -> Iterator[tuple[Any, np.ndarray, int]]:
        """(pandas DataFrame of the raw columns and ``labels``, rows, bytes on disk) per batch;
        dates as dates, labels the formula does not read as text."""
        raw = self._raw_columns()
        extra = tuple(c for c in labels if c not in raw)
        text = (*self._text, *(c for c in self._dates if file_kind(path) == "csv"), *extra)
        disks: collections.deque[int] = collections.deque()

        def batches() -> Iterator[Any]:
            for batch, disk in self.arrow_batches_at(path, (*raw, *extra), text):
                disks.append(disk)
                yield batch

        spec = getattr(self, "model_spec", None)  # set once the first batch was learnt
        levels = dict(spec.levels) if spec is not None else None
        for df, rows in frames_of(batches(), path, self._dates, levels):
            yield df, rows, disks.popleft()

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """QR state of the formula's rows: its encoded blocks, folded on threads."""
        blocks = self._blocks_reporting(on_batch)
        return fold_blocks(blocks, self.n_features, self.n_outputs, fit_intercept, n_jobs=n_jobs)

    def _row(self, path: Path, rows: np.ndarray, i: int) -> str:
        return self._where(path, int(rows[i]))

    def file_blocks(self, path: Path, labels: Sequence[str] = ()) -> Iterator[_Batch]:
        if path != self.paths[0]:
            self._check_present(path, self.file_columns(path), self._raw_columns())
        seen = 0
        step = self.model_spec.block_rows()  # a wide design is encoded in bounded pieces
        pending = 0  # bytes on disk not yet handed to a piece (they go with the first one)
        for frame, all_rows, disk in self._frames(path, labels):
            seen += len(all_rows)
            pending += disk
            for start in range(0, len(frame), step):
                df, rows = frame.iloc[start : start + step], all_rows[start : start + step]
                try:
                    enc = self.model_spec.encode(
                        df, missing=self.missing, where=functools.partial(self._row, path, rows)
                    )
                except UnseenLevelError:
                    raise
                except DataError as exc:
                    raise DataFileError(str(exc)) from None
                self._pre_dropped += enc.n_dropped
                w = _column_as_float_pd(df, self.weights)[enc.kept] if self.weights else None
                L = tuple(label_array(df[c])[enc.kept] for c in labels)
                yield _Batch(enc.X, enc.Y, w, rows[enc.kept], pending, L)
                pending = 0
        if pending:  # an empty last batch: its bytes still count, so a pass adds up
            n = np.empty(0, dtype=np.int64)
            yield _Batch(
                np.empty((0, self.n_features)),
                np.empty((0, self.n_outputs)),
                np.empty(0) if self.weights else None,
                n,
                pending,
                tuple(np.empty(0) for _ in labels),
            )
        if seen == 0:
            raise DataFileError(f"{path}: the file has a header but no data rows")


def raw_frames(
    path: Path,
    columns: Sequence[str],
    text_columns: Sequence[str],
    date_columns: Sequence[str],
    batch_rows: int,
    *,
    dialect: CsvDialect | None = None,
    levels: Mapping[str, tuple[Any, ...]] | None = None,
    arrow_backed: Collection[str] = (),
) -> Iterator[tuple[Any, np.ndarray]]:
    """``(pandas DataFrame of the raw columns, 0-based data rows (b,))`` per batch of one file:
    numbers as float64, ``text_columns`` as text (CSV: ``NA`` and empty fields null), and
    ``date_columns`` held as CSV text parsed as dates (R's ``as.Date``; datetimes when a time
    of day is present). The rows for the encoder, for fits and for predictions alike; a
    column of ``levels`` whose values are all known levels (or null) comes as a pandas
    Categorical of exactly those levels (see :func:`frames_of`). ``dialect``: how a CSV file
    is written (resolved for this file). ``arrow_backed`` columns (a key passed through) stay
    Arrow arrays inside pandas (``pd.ArrowDtype``): no Python object per value."""
    text = (*text_columns, *(c for c in date_columns if file_kind(path) == "csv"))
    batches = open_batches(path, columns, text, batch_rows, dialect or CsvDialect())
    return frames_of(_coalesced(batches, batch_rows), path, date_columns, levels, arrow_backed)


def _coalesced(batches: Iterator[Any], rows: int) -> Iterator[Any]:
    """Arrow record batches joined to at least ``rows`` rows each (the last may be shorter):
    a CSV reader hands out one batch per block of bytes, and the formula layer costs per
    call, not per row."""
    import pyarrow as pa

    held: list[Any] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield held[0] if len(held) == 1 else pa.concat_batches(held)
            held, count = [], 0
    if held:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)


def frames_of(
    batches: Iterator[Any],
    path: Path,
    date_columns: Sequence[str],
    levels: Mapping[str, tuple[Any, ...]] | None = None,
    arrow_backed: Collection[str] = (),
) -> Iterator[tuple[Any, np.ndarray]]:
    """``(pandas DataFrame, 0-based data rows (b,))`` of Arrow record batches of one file;
    CSV text of ``date_columns`` parsed as dates.

    A column of ``levels`` is encoded from its Arrow array directly (a hash lookup of the
    values, or of a dictionary array's dictionary, among the stored levels: no Python string
    per row) into a pandas Categorical of exactly those levels, which the model spec takes
    as its level codes. A batch holding a value that is not exactly a stored level keeps the
    raw column, so the spec's general rule decides it (``"+2"`` as the level 2, or the unseen
    level named with its row)."""
    import pandas as pd

    levels = levels or {}
    offset = 0
    for batch in batches:
        coded = {}
        for c in batch.schema.names:
            if c in levels and c not in date_columns:
                codes = arrow_level_codes(batch.column(c), levels[c])
                if codes is not None:
                    coded[c] = pd.Categorical.from_codes(
                        codes, dtype=pd.CategoricalDtype(pd.Index(list(levels[c]), dtype=object))
                    )
            elif c in arrow_backed and c not in levels and c not in date_columns:
                coded[c] = pd.arrays.ArrowExtensionArray(batch.column(c))
        rest = batch.drop_columns(list(coded)) if coded else batch
        df = rest.to_pandas()
        for c, cat in coded.items():
            df[c] = cat
        for c in date_columns:
            if c in df.columns and pd.api.types.is_string_dtype(df[c].dtype):  # CSV text
                parsed = pd.to_datetime(df[c], errors="coerce")
                df[c] = parsed.dt.date.astype(object).where(parsed.notna(), None) if (
                    _all_dates(parsed)) else parsed  # fmt: skip
        rows = np.arange(offset, offset + batch.num_rows)
        offset += batch.num_rows
        yield df, rows


def arrow_level_codes(arr: Any, levels: tuple[Any, ...]) -> np.ndarray | None:
    """(b,) int64 codes of an Arrow array among ``levels`` (-1 for a null), by Arrow's hash
    lookup (``pyarrow.compute.index_in``); a dictionary array through its dictionary.

    Text arrays are matched against text levels, integer arrays against integer levels, and
    text arrays against integer levels written plainly (``"2"``, as a CSV column read in
    ``C()`` holds them).
    Returns None for other kinds, and when a present value is not exactly one of the levels:
    the caller then takes the general path, which decides such values and names an unseen
    level with its row.
    """
    import pyarrow as pa

    if pa.types.is_dictionary(arr.type):
        inner = _lookup(arr.dictionary, levels)
        if inner is None:
            return None
        idx = np.asarray(arr.indices.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        codes = inner[idx] if len(inner) else np.full(len(arr), -1, np.int64)
    else:
        found = _lookup(arr, levels)
        if found is None:
            return None
        codes = found
    if arr.null_count:
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if (codes[valid] < 0).any():
            return None
        codes[~valid] = -1
    elif (codes < 0).any():
        return None
    return codes


def _lookup(arr: Any, levels: tuple[Any, ...]) -> np.ndarray | None:
    """Codes of a plain Arrow array among ``levels``, -1 where null or not found; None when
    the array's kind is not the levels' kind."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if levels and all(type(v) is str for v in levels) and _is_arrow_text(t):
        value_set = pa.array(list(levels), pa.string())
    elif levels and all(type(v) is int for v in levels) and pa.types.is_integer(t):
        value_set = pa.array(list(levels), pa.int64())
    elif levels and all(type(v) is int for v in levels) and _is_arrow_text(t):
        value_set = pa.array([str(v) for v in levels], pa.string())  # C(k) of a CSV: "2" is 2
    else:
        return None
    try:
        found = pc.index_in(arr, value_set=value_set.cast(t))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None  # a level the column's type cannot hold (int64 level in an int8 column)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)


def _is_arrow_text(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def row_location(path: Path, row: int, dialect: CsvDialect | None = None) -> str:
    """'file, line N' (CSV, the header is line 1, after ``dialect.skip_rows`` lines) or
    'file, row N' (Parquet) of data row ``row`` (0-based)."""
    return where(path, row, dialect or CsvDialect())


def _is_date_type(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _date_unit(t: Any) -> str:
    import pyarrow as pa

    return "days" if pa.types.is_date(t) else "seconds"


def _all_dates(parsed: Any) -> bool:
    """Whether parsed datetimes are all at midnight (a date column, as R's ``Date``)."""
    valid = parsed.dropna()
    return bool(len(valid)) and bool((valid == valid.dt.normalize()).all())


def _plain_level(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _column_as_float_pd(df: Any, name: str) -> np.ndarray:
    return np.asarray(df[name].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
