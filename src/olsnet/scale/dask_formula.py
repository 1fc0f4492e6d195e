"""Formulas on dask DataFrames: the same :class:`~olsnet.data.model_spec.ModelSpec` as in
memory and for files, each partition encoded where it lives.

Levels must be known before any partition is encoded (a level first seen in partition 7
would change the columns), so a first pass gathers the levels of every categorical column and
counts the rows with missing values, as the file source does. The spec is learnt on the
first partition's complete rows with those levels; a stateful transform (``center(x)``) is
refused when the data span several partitions (its state would be the first partition's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data._labels import check_label_names
from ..data.formula import parse_formula
from ..data.model_spec import ModelSpec, learn, sorted_levels
from ..errors import DataError, DimensionError, FormulaError, OptionError
from .dask import DaskSource

__all__ = ["FormulaDaskSource", "formula_source"]


class FormulaDaskSource(DaskSource):
    """A :class:`DaskSource` whose ``Z = [X Y w]`` is a formula's design, encoded per
    partition by ``model_spec``; ``n_dropped`` (rows left out for missing values or
    non-finite transforms) is known after the fit."""

    def __init__(
        self,
        Z: Any,
        spec: ModelSpec,
        weighted: bool,
        n_rows: int,
        n_zero_weight: int,
    ) -> None:
        y_ndim = 1 if len(spec.target_names) == 1 else 2
        super().__init__(Z, spec.feature_names, spec.target_names, y_ndim, weighted)
        self.model_spec = spec
        self.fit_intercept = spec.fit_intercept
        self.n_dropped: int | None = None
        self._n_rows = n_rows
        self._n_zero_weight = n_zero_weight
        self.weights_column: str | None = None  # set by the builder below, with ``frame``
        self.missing = "raise"

    def label_blocks(self, names: Any, *, on_batch: Any = None) -> Any:
        """:meth:`DaskSource.label_blocks`: any column of the raw dask DataFrame, each
        partition encoded with its labels (rows the formula leaves out leave out theirs)."""
        import dask

        names = tuple(names)
        check_label_names(names, self.frame.columns, "the dask DataFrame", DimensionError)
        used = [*self.model_spec.columns, *self.model_spec.target_columns]
        weights = self.weights_column
        raw = list(dict.fromkeys([*used, *((weights,) if weights else ()), *names]))
        pairs = (
            tuple(dask.delayed(_encode_partition, nout=2)(
                part, self.model_spec, weights, self.missing, names
            ))
            for part in self.frame[raw].to_delayed()
        )  # fmt: skip
        yield from self.labelled_partitions(pairs, names, on_batch)

    def fit_state(self, fit_intercept: bool, *args: Any, **kwargs: Any) -> Any:
        state = super().fit_state(fit_intercept, *args, **kwargs)
        self.n_dropped = self._n_rows - int(state.nobs) - self._n_zero_weight
        return state


def formula_source(
    formula: str,
    data: Any,
    *,
    weights: str | None = None,
    missing: str = "raise",
    allow_python: bool = True,
    text_target: bool = False,
) -> FormulaDaskSource:
    """A formula on a dask DataFrame as a dask-backed block source (nothing fitted yet).

    Parameters
    ----------
    formula : str
        As for :func:`olsnet.ols`.
    data : dask.dataframe.DataFrame
    weights : str, optional
        Column of analytic weights.
    missing : {"raise", "drop"}, default "raise"
    allow_python, text_target : bool
        As for :func:`olsnet.ols`.

    Returns
    -------
    FormulaDaskSource

    Raises
    ------
    FormulaError
        As :func:`olsnet.ols`.
    DataError
        A missing value with ``missing="raise"`` (the column and the count are named).
    OptionError
        A stateful transform over several partitions.
    """
    import dask
    import dask.array as da

    cols = [str(c) for c in data.columns]
    parsed = parse_formula(formula, cols, exclude=(weights,) if weights else ())
    parsed.check_columns(cols)
    if weights is not None and weights not in cols:
        raise FormulaError(f"weights={weights!r} is not a column of the dask DataFrame")
    used = parsed.columns_used(cols)
    raw = list(dict.fromkeys([*used, *((weights,) if weights else ())]))
    frame = data[raw]
    meta = frame._meta
    text = [
        c
        for c in used
        if c in parsed.categorical or not np.issubdtype(np.dtype(_numpy_dtype(meta[c])), np.number)
    ]
    # first pass: levels, rows, missing values, zero weights
    tasks: dict[str, Any] = {c: frame[c].dropna().unique() for c in text}
    tasks["_rows"] = frame.map_partitions(len).sum()
    tasks["_null"] = frame[used].isna().sum()
    if weights:
        tasks["_zero_w"] = (frame[weights] == 0).sum()
    done = dask.compute(tasks)[0]
    null = done["_null"]
    if missing == "raise" and int(null.sum()):
        col = str(null[null > 0].index[0])
        raise DataError(
            f"column {col!r} has {int(null[col])} missing value(s) in the dask DataFrame; pass "
            "missing='drop' to leave such rows out, or fill them in"
        )
    levels = {c: sorted_levels(list(done[c])) for c in text}
    first = frame.get_partition(0).compute()
    first = first[~first[used].isna().any(axis=1)]
    spec = learn(
        formula,
        first,
        weights=weights,
        text_target=text_target,
        allow_python=allow_python,
        categorical=text,
        known_levels=levels,
    )
    if spec.stateful and frame.npartitions > 1:
        raise OptionError(
            f"formula {formula!r}: {spec.stateful[0]!r} is a stateful transform, whose state "
            f"would be learnt from the first of {frame.npartitions} partitions only. Use plain "
            "transforms (np.log(x), I((x - 4.5) / 3.0)), or repartition to one partition"
        )
    width = len(spec.feature_names) + len(spec.target_names) + int(weights is not None)
    parts = [
        da.from_delayed(
            dask.delayed(_encode_partition)(part, spec, weights, missing),
            shape=(np.nan, width),
            dtype=np.float64,
        )
        for part in frame.to_delayed()
    ]
    Z = da.concatenate(parts, axis=0, allow_unknown_chunksizes=True)
    source = FormulaDaskSource(
        Z, spec, weights is not None, int(done["_rows"]), int(done.get("_zero_w", 0))
    )
    source.frame, source.weights_column, source.missing = data, weights, missing
    return source


def _numpy_dtype(s: Any) -> Any:
    try:
        return np.dtype(s.dtype)
    except TypeError:  # pandas extension dtypes (string, category, Arrow-backed)
        numpy_dtype = getattr(s.dtype, "numpy_dtype", None)
        return numpy_dtype if numpy_dtype is not None else np.dtype(object)


def _encode_partition(
    part: Any, spec: ModelSpec, weights: str | None, missing: str, labels: tuple[str, ...] = ()
) -> Any:
    """``[X Y w]`` (m, p + q [+ 1]) of one partition's rows, incomplete rows left out; with
    ``labels``: ``(that, the label columns of the same rows)``."""
    null = part[[*spec.columns, *spec.target_columns]].isna().any(axis=1).to_numpy()
    if weights:
        null |= part[weights].isna().to_numpy()
    rows = part[~null] if null.any() else part
    enc = spec.encode(rows, missing=missing if missing == "raise" else "drop")
    if labels:
        Z = _encode_partition(part, spec, weights, missing)
        return Z, rows[list(labels)][enc.kept]
    blocks = [enc.X, enc.Y]
    if weights:
        w = rows[weights].to_numpy(dtype=np.float64, na_value=np.nan)[enc.kept]
        blocks.append(w[:, None])
    return np.hstack(blocks) if blocks[0].size or blocks[1].size else np.zeros((0, sum(
        b.shape[1] for b in blocks)))  # fmt: skip
