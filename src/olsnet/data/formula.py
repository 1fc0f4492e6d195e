"""Formulas (``"y ~ x1 + np.log(x2) + C(group)"``) through formulaic.

A formula turns a data frame into a model matrix whose columns are named as statsmodels'
formula API names them (``Intercept``, ``x1``, ``np.log(x2)``, ``C(group)[T.b]``,
``x1:x2``). olsnet fits the matrix without its ``Intercept`` column and with
``fit_intercept=True`` (the estimator's own intercept, centred R², F-test), so the result
reads exactly like ``statsmodels.formula.api.ols(formula, data).fit()``. Terms come in
formulaic's order (by degree), which may differ from patsy's; names are the same.

formulaic is imported only when a formula is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import COV_TYPES, MISSING_POLICIES, check_option
from ..errors import DataError, DimensionError, InputTypeError

__all__ = ["FormulaSpec", "design_from_formula", "from_formula", "ols", "parse_formula"]

INTERCEPT = "Intercept"
_CATEGORICAL = re.compile(r"\bC\(\s*`?([^,)`]+?)`?\s*[,)]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ParsedFormula:
    """A formula before it has seen data: the columns it reads and those it treats as levels."""

    formula: str
    variables: frozenset[str]
    categorical: frozenset[str]
    tokens: frozenset[str]

    def columns_used(self, columns: Sequence[Any]) -> list[str]:
        """The data columns the formula reads, in the data's order.

        formulaic's ``required_variables`` misses the arguments of some stateful transforms
        (``scale(w)``), so every identifier of the formula text that names a column counts.
        """
        wanted = self.variables | self.tokens
        return [str(c) for c in columns if str(c) in wanted]

    def unknown(self, columns: Sequence[Any]) -> list[str]:
        """Variables the formula needs that are not columns (nor names formulaic provides)."""
        have = {str(c) for c in columns}
        return sorted(v for v in self.variables if v not in have and not _in_namespace(v))

    def learn(self, data: Any) -> FormulaSpec:
        """The :class:`FormulaSpec` learnt on ``data`` (a pandas / polars frame or a dict)."""
        from formulaic import model_matrix

        try:
            with np.errstate(all="ignore"):  # non-finite values are reported by row and term
                mm = model_matrix(self.formula, data, na_action="ignore")
        except Exception as exc:  # formulaic raises many types; re-raise as one, with the formula
            raise _formula_error(self.formula, exc) from None
        if not hasattr(mm, "lhs"):
            raise InputTypeError(
                f"formula {self.formula!r} has no left-hand side; write the "
                "target before '~', as in 'y ~ x1 + x2'"
            )
        rhs_names = tuple(str(c) for c in mm.rhs.columns)
        return FormulaSpec(
            formula=self.formula,
            model_spec=mm.model_spec,
            target_names=tuple(str(c) for c in mm.lhs.columns),
            feature_names=tuple(c for c in rhs_names if c != INTERCEPT),
            fit_intercept=INTERCEPT in rhs_names,
        )


def _formula_error(formula: str, exc: Exception) -> InputTypeError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputTypeError(f"formula {formula!r} cannot be applied: {text}")


def parse_formula(formula: str) -> ParsedFormula:
    """Parse ``formula`` (formulaic syntax) without data."""
    from formulaic import Formula

    if not isinstance(formula, str) or "~" not in formula:
        raise InputTypeError(f"formula must be a string like 'y ~ x1 + x2'; got {formula!r}")
    try:
        parsed = Formula(formula)
    except Exception as exc:
        raise _formula_error(formula, exc) from None
    variables = frozenset(str(v) for v in parsed.required_variables)
    categorical = frozenset(m.strip() for m in _CATEGORICAL.findall(formula)) & variables
    tokens = frozenset(_IDENTIFIER.findall(formula)) | frozenset(re.findall(r"`([^`]+)`", formula))
    return ParsedFormula(formula, variables, categorical, tokens)


@dataclass(frozen=True)
class FormulaSpec:
    """A formula learnt on data: it encodes new data with the same columns and levels.

    Attributes
    ----------
    formula : str
    model_spec : formulaic.ModelSpecs
    target_names : tuple of str
        Left-hand-side columns.
    feature_names : tuple of str
        Right-hand-side columns without ``Intercept``.
    fit_intercept : bool
        Whether the formula has an intercept (``y ~ x - 1`` has none).
    """

    formula: str
    model_spec: Any
    target_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    fit_intercept: bool

    def _rhs(self, mm: Any) -> np.ndarray:
        cols = [c for c in mm.columns if c != INTERCEPT]
        return np.asarray(mm[cols].to_numpy(dtype=np.float64), dtype=np.float64)  # (n, p)

    def transform(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(X (n, p), Y (n, q))`` float64 for ``data``; non-finite values are kept."""
        try:
            with np.errstate(all="ignore"):
                mm = self.model_spec.get_model_matrix(data, na_action="ignore")
        except Exception as exc:
            raise _formula_error(self.formula, exc) from None
        Y = np.asarray(mm.lhs.to_numpy(dtype=np.float64), dtype=np.float64)  # (n, q)
        return self._rhs(mm.rhs), Y

    def design_matrix(self, data: Any) -> np.ndarray:
        """X (n, p) for new data (no target needed), for predictions."""
        try:
            with np.errstate(all="ignore"):
                mm = self.model_spec.rhs.get_model_matrix(data, na_action="ignore")
        except Exception as exc:
            raise _formula_error(self.formula, exc) from None
        return self._rhs(mm)


def _as_frame(data: Any) -> Any:
    """pandas DataFrame from a pandas or polars DataFrame or a dict of columns."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if type(data).__module__.split(".")[0] == "polars" and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(
                {
                    str(k): np.asarray(v) if not hasattr(v, "to_numpy") else v.to_numpy()
                    for k, v in data.items()
                }
            )
        except ValueError as exc:
            raise DimensionError(f"the columns of data have different lengths: {exc}") from None
    raise InputTypeError(
        f"data must be a pandas or polars DataFrame or a dict of columns; got {type(data).__name__}"
    )


def _weights(weights: Any, frame: Any) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise InputTypeError(
                f"weights={weights!r} is not a column of data; its columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
        weights = frame[weights]
    w = np.asarray(
        weights.to_numpy() if hasattr(weights, "to_numpy") else weights, dtype=np.float64
    )
    if w.ndim != 1 or w.shape[0] != len(frame):
        raise DimensionError(
            f"weights must have shape ({len(frame)},) to match data; got {w.shape}"
        )
    return w


@dataclass(frozen=True)
class _FormulaData:
    X: np.ndarray  # (n, p)
    Y: np.ndarray  # (n, q)
    w: np.ndarray | None  # (n,)
    spec: FormulaSpec
    n_dropped: int


def _evaluate(formula: str, data: Any, weights: Any, missing: str) -> _FormulaData:
    """Apply the formula, enforcing the missing-value policy with row and column names."""
    check_option("missing", missing, MISSING_POLICIES)
    parsed = parse_formula(formula)
    frame = _as_frame(data)
    w = _weights(weights, frame)
    # columns the formula reads: a null there is a missing value (checked before evaluation)
    unknown = parsed.unknown(frame.columns)
    if unknown:
        raise InputTypeError(
            f"formula {formula!r} uses {unknown[0]!r}, which is not a column of "
            f"data; its columns are {', '.join(map(str, frame.columns))}"
        )
    used = parsed.columns_used(frame.columns)
    null = frame[used].isna().to_numpy() if used else np.zeros((len(frame), 0), dtype=bool)
    bad_rows = null.any(axis=1)
    if w is not None:
        bad_rows |= ~np.isfinite(w)
    n_dropped = 0
    if bad_rows.any():
        if missing == "raise":
            i = int(np.flatnonzero(bad_rows)[0])
            cols = [used[j] for j in np.flatnonzero(null[i])] or ["weights"]
            raise DataError(
                f"column {cols[0]!r} has a missing value at row {i} (label {frame.index[i]!r}); "
                f"{int(bad_rows.sum())} row(s) have missing values. Pass missing='drop' to drop "
                "them, or fill them in"
            )
        keep = ~bad_rows
        n_dropped = int(bad_rows.sum())
        frame = frame[keep]
        w = None if w is None else w[keep]
    spec = parsed.learn(frame)
    X, Y = spec.transform(frame)
    finite = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
    if not finite.all():
        if missing == "raise":
            i = int(np.flatnonzero(~finite)[0])
            names = (*spec.feature_names, *spec.target_names)
            vals = np.concatenate([X[i], Y[i]])
            j = int(np.flatnonzero(~np.isfinite(vals))[0])
            raise DataError(
                f"term {names[j]!r} is {vals[j]} at row {i} (label {frame.index[i]!r}); "
                "a transform gave a value that is not finite (log of 0 or of a negative number?). "
                "Pass missing='drop' to drop such rows, or change the formula"
            )
        n_dropped += int((~finite).sum())
        X, Y = X[finite], Y[finite]
        w = None if w is None else w[finite]
    if X.shape[0] == 0:
        raise DataError("no rows are left to fit after dropping the rows with missing values")
    return _FormulaData(X, Y, w, spec, n_dropped)


def _in_namespace(name: str) -> bool:
    """Names formulaic resolves itself (``np``, ``C``, ...), which are not data columns."""
    return name in {"np", "numpy", "C", "center", "scale", "bs", "poly", "lag", "I"}


def design_from_formula(
    formula: str, data: Any, *, weights: Any = None, missing: str = "raise"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str | tuple[str, ...], FormulaSpec]:
    """Apply a formula to data, for estimators and networks that take arrays.

    Returns
    -------
    X : ndarray of shape (n, p)
        Model matrix without the ``Intercept`` column (the estimator's intercept or the
        network's bias plays its role; ``spec.fit_intercept`` says whether the formula has one).
    y : ndarray of shape (n,) or (n, q)
        1-D for one target.
    feature_names : tuple of str
    target_name : str, or tuple of str for several targets
    spec : FormulaSpec
        Encodes new data the same way (``spec.design_matrix(new_data)``).
    """
    fd = _evaluate(formula, data, weights, missing)
    q = fd.Y.shape[1]
    y = fd.Y[:, 0] if q == 1 else fd.Y
    target = fd.spec.target_names[0] if q == 1 else fd.spec.target_names
    return fd.X, y, fd.spec.feature_names, target, fd.spec


def ols(
    formula: str,
    data: Any,
    weights: Any = None,
    *,
    missing: str = "raise",
    cov_type: str = "nonrobust",
) -> Any:
    """Fit a linear regression given as a formula, as ``statsmodels.formula.api.ols`` does.

    Parameters
    ----------
    formula : str
        formulaic / Wilkinson syntax: ``"y ~ x1 + np.log(x2) + C(group) + x1:x3"``; ``- 1``
        removes the intercept.
    data : pandas.DataFrame, polars.DataFrame or dict of 1-D arrays
    weights : str or array of shape (n,), optional
        Column name or values of the sample weights (weighted least squares, as ``wls``).
    missing : {"raise", "drop"}, default "raise"
        Missing values in a column the formula uses (or a non-finite transform): raise naming
        the column and row, or drop the row (counted in the result's ``n_dropped``).
    cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3"}, default "nonrobust"

    Returns
    -------
    RegressionResult
        ``param_names`` are the formula's column names, ``"Intercept"`` first.

    Notes
    -----
    Coefficients, standard errors and every statistic equal those of
    ``statsmodels.formula.api.ols`` (``wls`` with weights). One convention differs: a formula
    without intercept (``y ~ 0 + C(g) + x``) gets the uncentred R² and F-test, as R's ``lm``
    reports them, where statsmodels detects the constant implied by a full set of dummies.

    Examples
    --------
    >>> res = olsnet.ols("y ~ x + C(g)", {"y": [1., 2, 4, 3, 5], "x": [1., 2, 3, 4, 6],
    ...                                    "g": list("abab" "a")})      # doctest: +SKIP
    >>> res.param_names                                                  # doctest: +SKIP
    ('Intercept', 'x', 'C(g)[T.b]')
    """
    check_option("cov_type", cov_type, COV_TYPES)
    fd = _evaluate(formula, data, weights, missing)
    return _fit(fd, cov_type)


def _fit(fd: _FormulaData, cov_type: str) -> Any:
    import pandas as pd

    from ..estimator import LinearRegression

    spec = fd.spec
    X = pd.DataFrame(fd.X, columns=list(spec.feature_names))
    y: Any = (
        pd.Series(fd.Y[:, 0], name=spec.target_names[0])
        if fd.Y.shape[1] == 1
        else pd.DataFrame(fd.Y, columns=list(spec.target_names))
    )
    if X.shape[1] == 0 and not spec.fit_intercept:
        raise InputTypeError(
            f"formula {spec.formula!r} has no terms and no intercept; nothing to fit"
        )
    model = LinearRegression(fit_intercept=spec.fit_intercept, cov_type=cov_type)
    if X.shape[1] == 0:  # y ~ 1: scikit-learn's array path refuses X without columns
        from ._arrays import ArraySource, as_design

        model.fit(ArraySource(as_design(X, y, fd.w, min_features=0)))
    else:
        model.fit(X, y, sample_weight=fd.w)
    result = model.result_
    if fd.n_dropped:
        result = _with_dropped(result, fd.n_dropped)
    return result


def _with_dropped(result: Any, n_dropped: int) -> Any:
    """The result, recording rows the formula layer dropped (results are immutable; the cached
    residual pass is shared, as ``with_cov`` shares it)."""
    import dataclasses

    return dataclasses.replace(result, n_dropped=result.n_dropped + n_dropped)


def from_formula(formula: str, data: Any, hidden: Sequence[int] = (), **network_kwargs: Any) -> Any:
    """A :class:`olsnet.LinearNetwork` whose inputs are the formula's terms (not trained).

    The network takes the ``p`` columns of ``design_from_formula(formula, data)[0]`` (no
    ``Intercept`` column: the layers' biases play its role, and a formula without intercept
    gives ``bias=False``) and carries their names. Train it with ``olsnet.train(net, X, y)``
    on that X and y.
    """
    from ..nn import LinearNetwork

    _, _, names, _, spec = design_from_formula(formula, data)
    network_kwargs.setdefault("bias", spec.fit_intercept)
    return LinearNetwork.from_names(names, spec.target_names, tuple(hidden), **network_kwargs)
