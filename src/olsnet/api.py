"""The entry points that combine data, formulas and estimators: ``olsnet.ols`` and
``olsnet.from_formula``.

This layer sits above the estimators and networks (as pyfixest's ``estimation/api`` and
linearmodels' ``formula`` modules do): ``olsnet.data`` turns a formula and raw rows into a
:class:`~olsnet.data.model_spec.ModelSpec` and design rows, the estimator fits them, and the
spec travels with the result so that ``result.predict(raw_frame)`` encodes new rows the same
way.

**A formula is code.** formulaic evaluates each Python factor (``np.log(x)``) with ``eval``:
``ols("y ~ x + np.savetxt('f', x)", df)`` writes a file. Pass ``allow_python=False`` to allow
only the documented transforms (NumPy elementwise math, formulaic's stateful transforms,
``C`` / ``factor``, ``I`` arithmetic) for formulas you did not write; the CLI always does,
unless given ``--allow-python``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._types import COV_TYPES, MISSING_POLICIES, check_option
from .data import ArraySource, as_design
from .data._label_frame import FrameLabels
from .data.formula import close_matches
from .data.formula_frame import FrameFormulaSource, complete_rows, formula_design
from .data.model_spec import ModelSpec, learn
from .errors import (
    DataError,
    DataFileError,
    DimensionError,
    FormulaError,
    InputTypeError,
    OptionError,
    UnseenLevelError,
)
from .estimator import LinearRegression

if TYPE_CHECKING:
    from .inference import RegressionResult

__all__ = ["PredictionBlock", "from_formula", "model_spec_of", "ols", "predict_files"]

#: above this many design bytes an in-memory formula fit encodes and folds row blocks
#: (a 1,000-level factor on 10^6 rows would be an 8 GB dense design)
IN_MEMORY_DESIGN_BYTES = 256 * 2**20
BLOCK_ROWS = 65536  # rows encoded at a time on that path
#: rows read at a time by predict_files (few, large batches: the formula layer costs per call)
PREDICT_BATCH_ROWS = 262144


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def ols(
    formula: str,
    data: Any,
    weights: Any = None,
    *,
    missing: str = "raise",
    cov_type: str = "nonrobust",
    allow_python: bool = True,
    text_target: bool = False,
) -> RegressionResult:
    """Fit a linear regression given as a formula, as ``statsmodels.formula.api.ols`` and R's
    ``lm`` do.

    Parameters
    ----------
    formula : str
        R / formulaic syntax: ``"y ~ x1 + np.log(x2) + C(group) + x1:x3"``; ``- 1`` removes
        the intercept. R's idioms mean what they mean in R: ``factor(g)`` is ``C(g)``,
        ``I(x^2)`` is a power, ``Sepal.Length`` (bare or backtick-quoted) is a column, ``.``
        is every column not otherwise in the formula, ``y1 + y2 ~ ...`` fits two targets.
    data : pandas.DataFrame, polars.DataFrame, pyarrow.Table, dask.dataframe or dict of
        1-D arrays
        Raw columns. Dates are numeric time (days since 1970-01-01; datetimes in seconds),
        the unit in the term name (``day[days]``); inside ``C()`` a date is a category.
    weights : str or array of shape (n,), optional
        Column name or values of analytic sample weights (weighted least squares).
    missing : {"raise", "drop"}, default "raise"
        A missing value (NaN, None, ``pd.NA``, ``NaT``, null) in any column the formula reads,
        whatever its type, or a transform that is not finite: raise naming the column and row,
        or drop the row (counted in ``result.n_dropped`` and the summary).
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3"}, default "nonrobust"
    allow_python : bool, default True
        Formulas are Python code. False allows only the documented transforms and raises
        :class:`~olsnet.errors.FormulaError` naming any other call (the CLI's default).
    text_target : bool, default False
        Allow a text column as the target (one indicator output per level); else refused.

    Returns
    -------
    RegressionResult
        ``param_names`` are the formula's column names, ``"Intercept"`` first;
        ``result.model_spec`` encodes raw new data: ``result.predict(new_frame)``,
        ``result.get_prediction(new_frame)``.

    Raises
    ------
    FormulaError
        Syntax error (the formula quoted, the position shown), unknown column (close matches
        named), a refused call, a text target, a date inside a transform that makes no sense.
    DataError
        A missing value with ``missing="raise"``; no rows left.
    OptionError
        An unknown ``missing`` or ``cov_type``.

    Notes
    -----
    Coefficients, standard errors and every statistic equal those of R's ``lm`` and
    ``statsmodels.formula.api.ols`` (``wls`` with weights). One convention differs from
    statsmodels: a formula without intercept (``y ~ 0 + C(g) + x``) gets the uncentred R² and
    F-test, as R's ``lm`` reports them.

    Examples
    --------
    >>> res = olsnet.ols("y ~ x + C(g)", {"y": [1., 2, 4, 3, 5], "x": [1., 2, 3, 4, 6],
    ...                                    "g": list("abab" "a")})      # doctest: +SKIP
    >>> res.param_names                                                  # doctest: +SKIP
    ('Intercept', 'x', 'C(g)[T.b]')
    """
    check_option("cov_type", cov_type, COV_TYPES)
    if _is_dask(data):
        return _ols_dask(formula, data, weights, missing, cov_type, allow_python, text_target)
    rows = complete_rows(formula, data, weights=weights, missing=missing)
    spec = learn(
        formula,
        rows.frame,
        weights=rows.weights_column,
        text_target=text_target,
        allow_python=allow_python,
        sample_rows=BLOCK_ROWS,
    )
    if not spec.feature_names and not spec.fit_intercept:
        raise FormulaError(f"formula {formula!r} has no terms and no intercept; nothing to fit")
    model = LinearRegression(fit_intercept=spec.fit_intercept, cov_type=cov_type)
    n = len(rows.frame)
    if 8 * n * (len(spec.feature_names) + len(spec.target_names) + 1) <= IN_MEMORY_DESIGN_BYTES:
        enc = spec.encode(rows.frame, missing=missing)
        if enc.X.shape[0] == 0:
            raise DataError(
                "no rows are left to fit after leaving out the rows with missing values"
            )
        w = None if rows.weights is None else rows.weights[enc.kept]
        if enc.X.shape[1] == 0:  # y ~ 1: scikit-learn's array path refuses X without columns
            design = as_design(enc.X, _target_of(enc.Y, spec), w, min_features=0)
            model.fit(ArraySource(design))
        else:
            X = _frame_of(enc.X, spec.feature_names)
            model.fit(X, _target_of(enc.Y, spec), sample_weight=w)
        dropped = enc.n_dropped
        # the frame's other columns stay readable: with_cov("cluster", groups="firm")
        framed = FrameLabels(model.result_.source, rows.frame[enc.kept])
        result = dataclasses.replace(model.result_, source=framed)
    else:  # a wide design: encoded block by block and folded, never whole in memory
        source = FrameFormulaSource(spec, rows.frame, rows.weights, missing=missing)
        model.fit(source)
        dropped = source.n_dropped or 0
        result = model.result_
    return with_spec(result, spec, rows.n_dropped + dropped)


def _frame_of(X: np.ndarray, names: tuple[str, ...]) -> Any:
    import pandas as pd

    return pd.DataFrame(X, columns=list(names), copy=False)


def _target_of(Y: np.ndarray, spec: ModelSpec) -> Any:
    import pandas as pd

    if Y.shape[1] == 1:
        return pd.Series(Y[:, 0], name=spec.target_names[0])
    return pd.DataFrame(Y, columns=list(spec.target_names))


def _ols_dask(
    formula: str,
    data: Any,
    weights: Any,
    missing: str,
    cov_type: str,
    allow_python: bool,
    text_target: bool,
) -> Any:
    """A formula on a dask DataFrame: levels gathered in a first pass, then each partition
    encoded with the same spec and folded in a dask tree reduction."""
    from .scale.dask_formula import formula_source

    if weights is not None and not isinstance(weights, str):
        raise FormulaError("with a dask DataFrame, weights must be the name of a column")
    source = formula_source(
        formula,
        data,
        weights=weights,
        missing=missing,
        allow_python=allow_python,
        text_target=text_target,
    )
    model = LinearRegression(fit_intercept=source.model_spec.fit_intercept, cov_type=cov_type)
    return model.fit(source).result_


def with_spec(result: Any, spec: ModelSpec, n_dropped: int = 0) -> Any:
    """The result carrying the model spec and the rows the formula layer dropped (results are
    immutable; the cached residual pass is shared, as ``with_cov`` shares it)."""
    return dataclasses.replace(result, model_spec=spec, n_dropped=result.n_dropped + n_dropped)


def from_formula(formula: str, data: Any, hidden: Sequence[int] = (), **network_kwargs: Any) -> Any:
    """A :class:`olsnet.LinearNetwork` whose inputs are the formula's terms (not trained).

    The network takes the ``p`` columns of ``spec.design_matrix(data)`` (no ``Intercept``
    column: the layers' biases play its role, and a formula without intercept gives
    ``bias=False``) and carries their names. Train it with ``olsnet.train(net, X, y)`` on the
    X and y of ``olsnet.data.model_spec.design_from_formula(formula, data)``.

    Raises
    ------
    FormulaError
        As :func:`ols`.
    """
    from .nn import LinearNetwork

    spec = formula_design(formula, data).spec
    network_kwargs.setdefault("bias", spec.fit_intercept)
    return LinearNetwork.from_names(
        spec.feature_names, spec.target_names, tuple(hidden), **network_kwargs
    )


@dataclass(frozen=True)
class PredictionBlock:
    """Predictions of one batch of input rows (R's ``na.exclude``: one row per input row).

    ``predictions (b, q)`` is NaN where a row could not be predicted (a missing value);
    ``ids (b,)`` holds the ``id`` column's values (an array ``pyarrow.array`` and
    ``numpy.asarray`` take), or None; ``n_missing`` counts the NaN rows.
    """

    predictions: np.ndarray
    ids: Any
    n_missing: int


def model_spec_of(model: Any) -> ModelSpec | None:
    """The formula spec a fitted model or result carries, or None."""
    spec = getattr(model, "model_spec_", None)
    if spec is None:
        spec = getattr(getattr(model, "result_", model), "model_spec", None)
    return spec if isinstance(spec, ModelSpec) else None


def predict_files(
    weight: np.ndarray,
    bias: np.ndarray,
    path_or_glob: Any,
    *,
    spec: ModelSpec | None = None,
    feature_names: Sequence[str] = (),
    missing: str = "drop",
    id_column: str | None = None,
    batch_rows: int = PREDICT_BATCH_ROWS,
    **csv_options: Any,
) -> Iterator[PredictionBlock]:
    """Stream predictions ``X W^T + b`` over CSV / Parquet / Excel files of *raw* rows.

    Parameters
    ----------
    weight : ndarray of shape (q, p)
    bias : ndarray of shape (q,)
    path_or_glob : str, path or list
        Files as for :func:`olsnet.read`.
    spec : ModelSpec, optional
        A formula model's spec: rows are encoded from the raw columns it reads (levels,
        dates, transforms as in training). Without it the ``feature_names`` columns are X.
    feature_names : sequence of str
        X's columns for a model without a spec.
    missing : {"drop", "raise"}, default "drop"
        "drop": a row with a missing value predicts NaN and is counted (R's ``na.exclude``:
        one prediction per input row); "raise": stop naming the file, line and column.
    id_column : str, optional
        A column passed through beside the predictions (read as text from CSV).
    batch_rows : int, default 262144
        Rows read at a time (a wide design is encoded in pieces of at most 32 MB).
    **csv_options
        How the files are written: :func:`olsnet.read`'s ``sep``, ``decimal``, ``encoding``,
        ``na_values``, ``quotechar``, ``skip_rows``, ``comment``, ``sheet`` (the options a fit
        reads with; ``sep`` and a decimal comma are sniffed per CSV file when not given).

    Yields
    ------
    PredictionBlock

    Raises
    ------
    DataFileError
        A missing column, unreadable rows, a missing value with ``missing="raise"``.
    DimensionError
        ``weight`` / ``bias`` whose shapes do not fit the feature columns.
    UnseenLevelError
        A level the model never saw (column, level, file and line named).
    OptionError, InputTypeError
        A reading option that is not allowed (as :func:`olsnet.read`), or unknown; an
        ``id_column`` that is not a column name.
    """
    from .data.files import csv_dialect, expand_paths, file_columns, file_kind, raw_frames
    from .data.files._arrow import check_columns

    check_option("missing", missing, MISSING_POLICIES)
    allowed = tuple(inspect.signature(csv_dialect).parameters)
    unknown = sorted(set(csv_options) - set(allowed))
    if unknown:
        raise InputTypeError(
            f"predict_files() got an unknown reading option {unknown[0]!r}; the options are "
            f"{', '.join(allowed)}"
        )
    dialect = csv_dialect(**csv_options)
    if id_column is not None and (not isinstance(id_column, str) or not id_column):
        raise OptionError(f"id_column (--id) must name a column of the data; got {id_column!r}")
    if spec is not None:
        columns = spec.columns
        levels = dict(spec.levels)
        dates = tuple(c for c, _ in spec.dates)
    else:
        columns, levels, dates = tuple(feature_names), {}, ()
    text = (*levels, *((id_column,) if id_column and id_column not in columns else ()))
    wanted = tuple(dict.fromkeys((*columns, *((id_column,) if id_column else ()))))
    W = np.atleast_2d(np.asarray(weight, dtype=np.float64))  # (q, p)
    b = np.atleast_1d(np.asarray(bias, dtype=np.float64))  # (q,)
    p = len(spec.feature_names) if spec is not None else len(columns)
    if W.shape[1] != p or b.shape != (W.shape[0],):
        raise DimensionError(
            f"weight has shape {W.shape} and bias {b.shape}; the model's {p} feature(s) "
            f"need weight (q, {p}) and bias (q,)"
        )
    step = spec.block_rows() if spec is not None else batch_rows  # bounded design pieces
    for path in expand_paths(path_or_glob):
        d = dialect.resolve(path)[0] if file_kind(path) == "csv" else dialect
        have = file_columns(path, d)
        absent = [c for c in wanted if c not in have]
        if absent:
            if file_kind(path) == "csv" and len(have) == 1:
                check_columns(path, have, wanted, d)  # the header as read; the separator
            raise DataFileError(
                f"{path}: column {absent[0]!r} is not in the file"
                f"{close_matches(absent[0], have)}; the model reads {', '.join(columns)}"
            )
        frames = raw_frames(path, wanted, text, dates, batch_rows, dialect=d, levels=levels,
                            arrow_backed=() if id_column is None or id_column in columns else (id_column,))  # fmt: skip
        for batch, batch_rows_at in frames:
            for start in range(0, len(batch), step):
                df = batch.iloc[start : start + step] if len(batch) > step else batch
                rows = batch_rows_at[start : start + step]
                locate = functools.partial(_locate, path, rows, d)
                X, kept = _predictors(df, spec, columns, missing, locate)
                P = np.full((kept.size, W.shape[0]), np.nan)
                P[kept] = X @ W.T + b
                ids = _ids(df[id_column], id_column in columns) if id_column else None
                yield PredictionBlock(P, ids, int(kept.size - np.count_nonzero(kept)))


def _predictors(
    df: Any,
    spec: ModelSpec | None,
    columns: Sequence[str],
    missing: str,
    locate: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """``(X (m, p), kept (b,))`` of one batch of raw rows: the spec's design rows, or the
    named numeric columns."""
    if spec is not None:
        try:
            enc = spec.encode(df, targets=False, missing=missing, where=locate)
        except UnseenLevelError:
            raise
        except DataError as exc:
            raise DataFileError(str(exc)) from None
        return enc.X, enc.kept
    cols = []
    for c in columns:
        try:
            cols.append(df[c].to_numpy(dtype=np.float64, na_value=np.nan))
        except (TypeError, ValueError):
            raise DataFileError(
                f"{locate(0).split(',')[0]}: column {c!r} holds text where the model reads numbers"
            ) from None
    X = np.column_stack(cols).reshape(len(df), len(columns)) if cols else np.zeros((len(df), 0))
    kept = np.asarray(np.isfinite(X).all(axis=1), dtype=bool)
    if missing == "raise" and not kept.all():
        i = int(np.flatnonzero(~kept)[0])
        j = int(np.flatnonzero(~np.isfinite(X[i]))[0])
        raise DataFileError(
            f"{locate(i)}, column {columns[j]!r}: a missing value; pass "
            "--missing drop to predict NaN for such rows"
        )
    return X[kept], kept


def _ids(s: Any, read_by_formula: bool) -> Any:
    """The key column's values: an Arrow-backed pandas array when it was read only as a key
    (``pyarrow.array`` takes it without a copy), else a NumPy array."""
    return s.to_numpy() if read_by_formula else s.array


def _locate(path: Any, rows: np.ndarray, dialect: Any, i: int) -> str:
    from .data.files import row_location

    return row_location(path, int(rows[i]), dialect)
