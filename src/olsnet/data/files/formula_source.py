"""The formula file source: X and Y of each streamed batch from a formula (``olsnet.read(path,
formula=...)``), with categorical levels collected in a first pass over the files."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataFileError, OptionError
from ...solve import QRState
from ...solve._pool import fold_blocks
from ..source import OnBatch
from ._dialect import CsvDialect
from .source import FileSource, _Batch

__all__ = ["FormulaFileSource"]


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
        on_batch: OnBatch | None = None,
    ) -> None:
        from ..formula import parse_formula

        self.formula = formula
        parsed = parse_formula(formula)
        self.missing = missing
        self.batch_rows = batch_rows
        self.weights = weights
        self.y_ndim = 1
        self._open(paths, dialect)
        unknown = parsed.unknown(self.columns)
        if unknown:
            self._check_present(self.paths[0], self.columns, unknown)
        variables = tuple(parsed.columns_used(self.columns))
        self._variables = variables
        self._check_present(self.paths[0], self.columns, (weights,) if weights else ())
        self._text = self._text_columns(self.paths[0], variables)
        self._levels = self._learn_levels(parsed.categorical | set(self._text), on_batch)
        frames = self._frames(self.paths[0])
        first = next(frames, None)
        if first is None:
            raise DataFileError(f"{self.paths[0]}: the file has a header but no data rows")
        spec = parsed.learn(first[0])
        stateful = [*spec.model_spec.rhs.transform_state, *spec.model_spec.lhs.transform_state]
        if stateful and (len(self.paths) > 1 or next(frames, None) is not None):
            raise OptionError(
                f"formula {formula!r}: {stateful[0]!r} is a stateful transform, whose state "
                f"(means, scales, knots) would be learnt from the first batch of {batch_rows:,} "
                "rows only and give a different fit from the in-memory one. Stream with plain "
                "transforms (np.log(x), I((x - 4.5) / 3.0)), pass batch_rows at least the number "
                "of rows, or fit a DataFrame in memory with olsnet.ols(formula, data=frame)"
            )
        self.spec = spec
        self._y = spec.target_names
        self._x = spec.feature_names
        self.fit_intercept = spec.fit_intercept
        self.n_dropped = None
        self._pre_dropped = 0

    def _raw_columns(self) -> tuple[str, ...]:
        w = (self.weights,) if self.weights else ()
        return tuple(dict.fromkeys((*self._variables, *w)))

    def _numeric_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self._raw_columns() if c not in self._text)

    def _text_columns(self, path: Path, variables: Sequence[str]) -> tuple[str, ...]:
        """Columns pyarrow infers as text (or Parquet / SQL give as text or dictionary)."""
        import pyarrow as pa

        schema = self.arrow_schema(path)
        out = []
        for name in variables:
            t = schema.field(name).type
            if pa.types.is_dictionary(t):
                t = t.value_type
            if (
                pa.types.is_string(t)
                or pa.types.is_large_string(t)
                or pa.types.is_binary(t)
                or (pa.types.is_string_view(t))
            ):
                out.append(name)
        return tuple(out)

    def _learn_levels(
        self, categorical: Collection[str], on_batch: OnBatch | None = None
    ) -> dict[str, list[Any]]:
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
        return {c: _as_ints_if_integral(sorted(v)) for c, v in levels.items()}

    def _frames(self, path: Path) -> Iterator[tuple[Any, np.ndarray, int]]:
        """(pandas DataFrame, rows, bytes on disk) per batch, with categorical levels fixed."""
        import pandas as pd

        offset = 0
        for batch, disk in self.arrow_batches_at(path, self._raw_columns(), self._text):
            df = batch.to_pandas()
            for c, lv in self._levels.items():
                df[c] = pd.Categorical(df[c], categories=lv)
            rows = np.arange(offset, offset + batch.num_rows)
            offset += batch.num_rows
            yield df, rows, disk

    def fit_state(
        self, fit_intercept: bool, *, n_jobs: int | None = None, on_batch: OnBatch | None = None
    ) -> QRState:
        """QR state of the formula's rows: its encoded blocks, folded on threads."""
        blocks = self._blocks_reporting(on_batch)
        return fold_blocks(blocks, self.n_features, self.n_outputs, fit_intercept, n_jobs=n_jobs)

    def file_blocks(self, path: Path) -> Iterator[_Batch]:
        if path != self.paths[0]:
            self._check_present(path, self.file_columns(path), self._raw_columns())
        seen = 0
        for df, rows, disk in self._frames(path):
            seen += len(rows)
            present = df[list(self._variables)].notna().to_numpy().all(axis=1)
            if not present.all():
                if self.missing == "raise":
                    i = int(np.flatnonzero(~present)[0])
                    col = next(c for c in self._variables if df[c].isna().iloc[i])
                    raise DataFileError(
                        f"{self._where(path, int(rows[i]))}, column {col!r}: a missing value; pass "
                        "missing='drop' (CLI: --missing drop) to drop such rows, or fill them in"
                    )
                df, rows = df[present], rows[present]
                self._pre_dropped += int((~present).sum())
            X, Y = self.spec.transform(df)
            w = _column_as_float_pd(df, self.weights) if self.weights else None
            yield _Batch(X, Y, w, rows, disk)
        if seen == 0:
            raise DataFileError(f"{path}: the file has a header but no data rows")


def _as_ints_if_integral(levels: list[Any]) -> list[Any]:
    """Numeric levels read as float64 (2.0) named as the integers they are (``C(k)[T.2]``, as
    pandas' int column gives in statsmodels)."""
    if levels and all(isinstance(v, float) and v.is_integer() for v in levels):
        return [int(v) for v in levels]
    return levels


def _column_as_float_pd(df: Any, name: str) -> np.ndarray:
    return np.asarray(df[name].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
