"""The model spec: a formula learnt on data, as one small immutable object with a JSON form.

:class:`ModelSpec` holds everything needed to turn raw rows into design rows again: the
formula (as written and as evaluated), the columns it reads, the levels of every categorical
column (in order; the first is the reference of treatment contrasts), the date columns and
their units, and the state of formulaic's stateful transforms (means, scales, knots). One
method, :meth:`ModelSpec.encode`, encodes rows for the in-memory fit, for each streamed batch
of a file or dask partition, and for predictions on raw new data; missing values, unseen
levels and dates are decided there, once, the R way:

* a null in any column the formula reads (NaN, None, ``pd.NA``, ``NaT``, Arrow nulls; in
  files also ``NA`` and empty fields) is a missing value, whatever the column's type: it is
  raised (``missing="raise"``, naming the column and row) or the row is dropped and counted
  (``"drop"``); a transform that is not finite (``log(0)``) is treated the same way;
* a level never seen in training raises :class:`~olsnet.errors.UnseenLevelError` naming the
  column, the level and the first row (R: ``factor g has new level q``);
* a date is numeric time as in R's ``lm`` on ``Date`` / ``POSIXct``: days since 1970-01-01
  for dates, seconds since 1970-01-01 UTC for datetimes, the unit in the term name
  (``day[days]``, ``t[seconds]``); inside ``C()`` / ``factor()`` a date is a category.

The JSON form (:meth:`ModelSpec.to_json` / :meth:`ModelSpec.from_json`) is plain data; reading
it checks every field, evaluates nothing but the allowed transforms, and checks that the
formula gives exactly the stored term names.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._types import MISSING_POLICIES, check_option
from ..errors import DataError, FormatError, FormulaError
from ._columns import (
    DATE_UNITS,
    as_float,
    as_frame,
    check_levels,
    date_term,
    date_unit,
    is_text,
    learn_levels,
    level_codes,
    numeric_time,
    row_label,
    sorted_levels,
)
from .formula import (
    AST_LOCK,
    INTERCEPT,
    ParsedFormula,
    check_transforms,
    close_matches,
    parse_formula,
)

__all__ = ["SPEC_FORMAT", "EncodedRows", "ModelSpec", "as_frame", "learn", "sorted_levels"]

#: bytes of design rows encoded at once: a 1,000-level factor is encoded 4,000 rows at a time
#: (formulaic builds each block dense; 32 MB keeps it in cache-friendly, bounded pieces)
DESIGN_BLOCK_BYTES = 32 * 2**20
SPEC_FORMAT = "olsnet-model-spec"
SPEC_VERSION = 1
_CONTEXT = {"sqrt": np.sqrt, "abs": np.abs}  # R spellings formulaic lacks; nothing from the caller
#: calls inside which a date column (numeric time) makes sense: differences and rescaling
_DATE_CALLS = ("I", "center", "scale", "standardize", "poly", "bs", "cr", "cs", "cc")


@dataclass(frozen=True)
class EncodedRows:
    """Design rows of some raw rows: ``X (m, p)``, ``Y (m, q)`` (``(m, 0)`` without targets),
    and ``kept (n,)``, which of the ``n`` raw rows they are (the others had missing values)."""

    X: np.ndarray
    Y: np.ndarray
    kept: np.ndarray

    @property
    def n_dropped(self) -> int:
        return int(self.kept.size - np.count_nonzero(self.kept))


@dataclass(frozen=True)
class ModelSpec:
    """A formula learnt on data: encodes raw rows (frames, dicts, file batches) the same way.

    Build it with :func:`learn` (or get it as ``result.model_spec``); it is immutable, and
    :meth:`to_json` / :meth:`from_json` store and read it without pickle.

    Attributes
    ----------
    formula : str
        As the user wrote it.
    expanded : str
        The formulaic text evaluated (R idioms resolved; see ``expand_formula``).
    target_names, feature_names : tuple of str
        Left-hand-side columns and right-hand-side columns (without ``Intercept``).
    fit_intercept : bool
        Whether the formula has an intercept (``y ~ x - 1`` has none).
    columns : tuple of str
        Raw data columns the features read; ``target_columns`` those only the targets read.
    levels : tuple of (str, tuple)
        Each categorical column and its levels in order (``dict(spec.levels)``).
    dates : tuple of (str, str)
        Each date column read as numeric time and its unit (``"days"`` or ``"seconds"``).
    transform_state : str
        formulaic's stateful-transform state as JSON text (``{"lhs": {...}, "rhs": {...}}``).
    """

    formula: str
    expanded: str
    target_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    fit_intercept: bool
    columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    levels: tuple[tuple[str, tuple[Any, ...]], ...]
    dates: tuple[tuple[str, str], ...]
    transform_state: str
    _formulaic: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # -- encoding ------------------------------------------------------------------------------
    @property
    def stateful(self) -> tuple[str, ...]:
        """Terms whose transform learnt a state from the data (``center(x)``, ``bs(x)``)."""
        state = json.loads(self.transform_state)
        return tuple(dict.fromkeys((*state["lhs"], *state["rhs"])))

    def _side(self, side: str) -> Any:
        """formulaic's ModelSpec of one side, rebuilt from the stored text and state."""
        spec = self._formulaic.get(side)
        if spec is None:
            from formulaic import Formula
            from formulaic import ModelSpec as FormulaicSpec

            parsed = Formula(self.expanded)
            state = _from_jsonable(json.loads(self.transform_state)[side])
            spec = FormulaicSpec(formula=getattr(parsed, side), transform_state=state)
            self._formulaic[side] = spec  # a cache of derived data: the spec stays immutable
        return spec

    def encode(
        self,
        data: Any,
        *,
        targets: bool = True,
        missing: str = "raise",
        where: Callable[[int], str] | None = None,
    ) -> EncodedRows:
        """Design rows of raw ``data`` (pandas / polars frame, dict of columns, Arrow table).

        Parameters
        ----------
        data : DataFrame or dict of 1-D arrays
            Raw columns (those of :attr:`columns`, and of :attr:`target_columns` when
            ``targets``); other columns are ignored.
        targets : bool, default True
            Encode the left-hand side too (``False`` for predictions: ``Y`` is (m, 0)).
        missing : {"raise", "drop", "keep"}, default "raise"
            A row with a missing value, or a transform that is not finite: raise naming the
            column and the row, or leave the row out (``kept`` says which rows remain).
        where : callable, optional
            ``where(i) -> str`` names raw row ``i`` in messages (files give file and line).

        Returns
        -------
        EncodedRows

        Raises
        ------
        FormulaError
            A column the formula reads is absent (close matches named).
        UnseenLevelError
            A level not seen in training (column, level, first row).
        DataError
            A missing value or non-finite transform with ``missing="raise"``.
        """
        check_option("missing", missing, MISSING_POLICIES)
        frame = as_frame(data)
        needed = [*self.columns, *(self.target_columns if targets else ())]
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise FormulaError(
                f"formula {self.formula!r} uses {absent[0]!r}, which is not a column of the "
                f"data{close_matches(absent[0], list(frame.columns))}; its columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
        name_row = where or (lambda i: row_label(frame.index, i))
        n = len(frame)
        null = np.zeros(n, dtype=bool)
        levels = dict(self.levels)
        codes: dict[str, np.ndarray] = {}  # each categorical column's level codes, found once
        for c in needed:
            col_null = np.asarray(frame[c].isna(), dtype=bool)
            if missing == "raise" and col_null.any():
                i = int(np.flatnonzero(col_null)[0])
                raise DataError(
                    f"column {c!r} has a missing value at {name_row(i)}; "
                    f"{int(col_null.sum())} row(s) of it are missing. Pass missing='drop' "
                    "(CLI: --missing drop) to leave such rows out, or fill them in"
                )
            null |= col_null
            if c in levels:
                codes[c] = level_codes(frame[c], levels[c])
                check_levels(frame[c], codes[c], col_null, levels[c], c, name_row)
        kept = ~null
        every = kept.all()
        rows = frame if every else frame[kept]
        prepared = self._prepare(
            rows, targets, {c: v if every else v[kept] for c, v in codes.items()}
        )
        X = self._matrix("rhs", prepared)
        Y = self._matrix("lhs", prepared) if targets else np.zeros((X.shape[0], 0))
        finite = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
        if not finite.all():
            raw = np.flatnonzero(kept)
            if missing == "raise":
                i = int(np.flatnonzero(~finite)[0])
                names = (*self.feature_names, *self.target_names[: Y.shape[1]])
                vals = np.concatenate([X[i], Y[i]])
                j = int(np.flatnonzero(~np.isfinite(vals))[0])
                raise DataError(
                    f"term {names[j]!r} is {vals[j]} at {name_row(int(raw[i]))}; a transform "
                    "gave a value that is not finite (log of 0 or of a negative number?). Pass "
                    "missing='drop' to leave such rows out, or change the formula"
                )
            kept[raw[~finite]] = False
            X, Y = X[finite], Y[finite]
        return EncodedRows(X, Y, kept)

    def _prepare(
        self, rows: Any, targets: bool, codes: Mapping[str, np.ndarray] | None = None
    ) -> Any:
        """The raw columns as formulaic reads them: categoricals with the learnt levels (from
        their ``codes`` when known), dates as numeric time, numbers (nullable, Arrow-backed)
        as float64."""
        import pandas as pd

        levels, dates = dict(self.levels), dict(self.dates)
        codes = codes or {}
        out: dict[str, Any] = {}
        for c in (*self.columns, *(self.target_columns if targets else ())):
            s = rows[c]
            if c in levels:
                code = codes[c] if c in codes else level_codes(s, levels[c])
                out[c] = pd.Categorical.from_codes(code, categories=list(levels[c]))
            elif c not in dates:
                out[c] = as_float(s, c)
            if c in dates:
                out[date_term(c, dates[c])] = numeric_time(s, dates[c], c)
        return pd.DataFrame(out, index=pd.RangeIndex(len(rows)))

    def _matrix(self, side: str, prepared: Any) -> np.ndarray:
        import pandas as pd

        spec = self._side(side)
        if len(prepared) == 0:
            return np.zeros((0, len(self.feature_names if side == "rhs" else self.target_names)))
        try:
            with AST_LOCK, np.errstate(all="ignore"):  # non-finite values: by row and term
                mm = spec.get_model_matrix(prepared, context=_CONTEXT, na_action="ignore")
        except Exception as exc:  # formulaic raises many types; one, naming the formula
            raise _evaluation_error(self.formula, exc) from None
        names = [str(c) for c in mm.columns if c != INTERCEPT]
        want = self.feature_names if side == "rhs" else self.target_names
        if tuple(names) != want:
            raise DataError(
                f"formula {self.formula!r} gave the columns {names} on these data, but the "
                f"model has {list(want)}"
            )
        cols = mm[names] if isinstance(mm, pd.DataFrame) else mm
        return np.asarray(cols.to_numpy(dtype=np.float64), dtype=np.float64).reshape(
            len(prepared), len(names)
        )

    def block_rows(self, max_bytes: int = DESIGN_BLOCK_BYTES) -> int:
        """Rows whose design (p + q + 1 float64 columns) fits in ``max_bytes`` (at least 256)."""
        width = len(self.feature_names) + len(self.target_names) + 1
        return max(256, max_bytes // (8 * width))

    def design_matrix(self, data: Any, *, missing: str = "raise") -> np.ndarray:
        """X (n, p) of raw new data (no target needed), for predictions."""
        return self.encode(data, targets=False, missing=missing).X

    def transform(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(X (n, p), Y (n, q))`` of raw data whose rows are all complete."""
        rows = self.encode(data)
        return rows.X, rows.Y

    # -- JSON --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The spec as plain JSON data (strings, numbers, lists, objects)."""
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "formula": self.formula,
            "expanded": self.expanded,
            "target_names": list(self.target_names),
            "feature_names": list(self.feature_names),
            "fit_intercept": self.fit_intercept,
            "columns": list(self.columns),
            "target_columns": list(self.target_columns),
            "levels": [[c, _levels_json(v)] for c, v in self.levels],
            "dates": [list(d) for d in self.dates],
            "transform_state": json.loads(self.transform_state),
        }

    @classmethod
    def from_json(cls, obj: Any, *, allow_python: bool = False) -> ModelSpec:
        """Read :meth:`to_json`'s form, checking every field.

        The formula may call only the allowed transforms unless ``allow_python`` (a model file
        never runs code on its own), and it must give exactly the stored term names.

        Raises
        ------
        FormatError
            Naming the field that is missing, of the wrong type, or inconsistent.
        """
        try:
            return _spec_from_json(obj, allow_python)
        except FormatError:
            raise
        except (FormulaError, DataError) as exc:
            raise FormatError(f"model spec: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise FormatError(f"model spec is malformed ({type(exc).__name__}: {exc})") from None

    def check_consistent(self, feature_names: Sequence[str], target_names: Sequence[str]) -> None:
        """Raise FormatError unless the spec's names are exactly these (a model's own)."""
        if tuple(feature_names) != self.feature_names or tuple(target_names) != self.target_names:
            raise FormatError(
                f"model spec of formula {self.formula!r} gives features "
                f"{list(self.feature_names)} and targets {list(self.target_names)}, but the "
                f"coefficients are for {list(feature_names)} and {list(target_names)}"
            )


# ---- learning -------------------------------------------------------------------------------


def learn(
    formula: str | ParsedFormula,
    data: Any,
    *,
    weights: str | None = None,
    text_target: bool = False,
    allow_python: bool = True,
    categorical: Sequence[str] = (),
    sample_rows: int | None = None,
    known_levels: Mapping[str, Sequence[Any]] | None = None,
) -> ModelSpec:
    """The :class:`ModelSpec` of ``formula`` learnt on complete raw rows ``data``.

    Levels are the sorted distinct values of each categorical column (a pandas Categorical
    keeps its own order), learnt from ``data``; stateful transforms learn their state there.

    Parameters
    ----------
    formula : str
    data : DataFrame or dict of columns
        Rows without missing values in the columns the formula reads.
    weights : str, optional
        The weights column (never part of ``.``).
    text_target : bool, default False
        Allow a text column on the left of ``~`` (one indicator output per level); otherwise
        refused naming the column. Writing ``C(col) ~ ...`` asks for it too.
    allow_python : bool, default True
        False: only the documented transforms (see ``check_transforms``).
    categorical : sequence of str
        Further columns to treat as categories (a file's text columns).
    known_levels : mapping of str to sequence, optional
        Levels gathered beforehand (a first pass over files or dask partitions), used as they
        are instead of the levels in ``data``.
    sample_rows : int, optional
        Evaluate the formula on the first ``sample_rows`` rows only to learn the term names
        (levels always come from every row; a stateful transform is learnt on every row).

    Raises
    ------
    FormulaError
        Syntax, unknown columns, refused calls, text targets, dates inside transforms that
        make no sense of them.
    """
    frame = as_frame(data)
    text = formula.formula if isinstance(formula, ParsedFormula) else formula
    cols = [str(c) for c in frame.columns]
    dates = {c: u for c in cols if (u := date_unit(frame[c])) is not None}
    terms = {c: date_term(c, u) for c, u in dates.items()}
    parsed = parse_formula(text, cols, exclude=(weights,) if weights else (), dates=terms)
    parsed.check_columns(cols)
    if not allow_python:
        check_transforms(text, parsed)
    used = parsed.columns_used(cols)
    cat = [
        c
        for c in used
        if c in parsed.categorical or c in categorical or is_text(frame[c], c in dates)
    ]
    _check_date_use(parsed, dates, set(cat))
    targets = [c for c in used if c in parsed.targets]
    for c in targets:
        if c in cat and not text_target and c not in parsed.categorical:
            raise FormulaError(
                f"formula {text!r}: the target {c!r} is a text column; a regression needs a "
                f"numeric target. Write C({c}) ~ ... (or pass text_target=True) to fit one "
                "indicator output per level, or convert it to numbers"
            )
    known = dict(known_levels or {})
    levels = tuple(
        (c, tuple(known[c]) if c in known else learn_levels(frame[c].dropna())) for c in cat
    )
    date_cols = tuple((c, u) for c, u in dates.items() if f"`{terms[c]}`" in parsed.expanded)
    rhs_cols = [c for c in used if c in parsed.features]
    spec = ModelSpec(
        formula=text,
        expanded=parsed.expanded,
        target_names=(),
        feature_names=(),
        fit_intercept=True,
        columns=tuple(rhs_cols),
        target_columns=tuple(c for c in used if c not in rhs_cols),
        levels=levels,
        dates=date_cols,
        transform_state='{"lhs": {}, "rhs": {}}',
    )
    sample = frame if sample_rows is None else frame.iloc[:sample_rows]
    mm = _model_matrix(text, parsed.expanded, spec._prepare(sample, targets=True))
    stateful = mm.model_spec.lhs.transform_state or mm.model_spec.rhs.transform_state
    if stateful and len(sample) < len(frame):  # a state learnt on every row, as in memory
        mm = _model_matrix(text, parsed.expanded, spec._prepare(frame, targets=True))
    if not hasattr(mm, "lhs"):
        raise FormulaError(
            f"formula {text!r} has no left-hand side; write the target before '~', "
            "as in 'y ~ x1 + x2'"
        )
    rhs_names = tuple(str(c) for c in mm.rhs.columns)
    state = {
        "lhs": _jsonable(mm.model_spec.lhs.transform_state),
        "rhs": _jsonable(mm.model_spec.rhs.transform_state),
    }
    return ModelSpec(
        formula=text,
        expanded=parsed.expanded,
        target_names=tuple(str(c) for c in mm.lhs.columns),
        feature_names=tuple(c for c in rhs_names if c != INTERCEPT),
        fit_intercept=INTERCEPT in rhs_names,
        columns=spec.columns,
        target_columns=spec.target_columns,
        levels=levels,
        dates=date_cols,
        transform_state=json.dumps(state, allow_nan=True),
        _formulaic={"lhs": mm.model_spec.lhs, "rhs": mm.model_spec.rhs},
    )


def _model_matrix(formula: str, expanded: str, prepared: Any) -> Any:
    from formulaic import model_matrix

    try:
        with AST_LOCK, np.errstate(all="ignore"):
            return model_matrix(expanded, prepared, na_action="ignore", context=_CONTEXT)
    except Exception as exc:
        raise _evaluation_error(formula, exc) from None


def _check_date_use(parsed: ParsedFormula, dates: Mapping[str, str], cat: set[str]) -> None:
    """A date column may appear bare, in ``C()``, or inside differences and rescaling."""
    import re

    from formulaic import Formula

    f = Formula(parsed.expanded)
    sides = [f.lhs, f.rhs] if hasattr(f, "lhs") else [f]
    for side in sides:
        for term in side:
            for factor in term.factors:
                expr = str(factor.expr)
                for c, unit in dates.items():
                    tick = f"`{date_term(c, unit)}`"
                    if tick not in expr or expr == tick[1:-1]:
                        continue
                    outer = re.match(r"\s*([A-Za-z_][\w.]*)\s*\(", expr)
                    if outer is None or outer.group(1) not in _DATE_CALLS:
                        call = outer.group(1) if outer else expr
                        raise FormulaError(
                            f"formula {parsed.formula!r}: date column {c!r} inside {call!r} "
                            f"makes no sense ({c!r} is {DATE_UNITS[unit]}, an origin chosen by "
                            "convention). Use it bare, as C(...) / factor(...), or inside "
                            f"I(...) as a difference, e.g. I({c} - 18000)"
                        )


def _evaluation_error(formula: str, exc: Exception) -> FormulaError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return FormulaError(f"formula {formula!r} cannot be applied: {text}")


# ---- JSON helpers -----------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    """formulaic's transform state as JSON data (dicts with int keys kept as item lists)."""
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {k: _jsonable(v) for k, v in obj.items()}
        return {"__items__": [[_jsonable(k), _jsonable(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise FormulaError(
        f"a stateful transform keeps a {type(obj).__name__} in its state, which olsnet "
        "cannot store as JSON"
    )


def _from_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__items__"}:
            return {_key(k): _from_jsonable(v) for k, v in obj["__items__"]}
        return {k: _from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_jsonable(v) for v in obj]
    return obj


def _key(k: Any) -> Any:
    if isinstance(k, list):
        return tuple(k)
    return k


def _levels_json(levels: tuple[Any, ...]) -> list[Any]:
    return [v if not (isinstance(v, float) and not math.isfinite(v)) else str(v) for v in levels]


_LEVEL_TYPES = (str, int, float, bool)


def _spec_from_json(obj: Any, allow_python: bool) -> ModelSpec:
    if not isinstance(obj, dict):
        raise FormatError(f"model spec must be a JSON object; got {type(obj).__name__}")
    if obj.get("format") != SPEC_FORMAT or obj.get("version") != SPEC_VERSION:
        raise FormatError(
            f"model spec has format {obj.get('format')!r} version {obj.get('version')!r}; "
            f"expected {SPEC_FORMAT!r} version {SPEC_VERSION}"
        )

    def names(key: str) -> tuple[str, ...]:
        v = obj[key]
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise FormatError(f"model spec field {key!r} must be a list of strings")
        return tuple(v)

    for key in ("formula", "expanded"):
        if not isinstance(obj[key], str):
            raise FormatError(f"model spec field {key!r} must be a string")
    if not isinstance(obj["fit_intercept"], bool):
        raise FormatError("model spec field 'fit_intercept' must be true or false")
    levels = []
    for entry in obj["levels"]:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], list)
            or not all(isinstance(v, _LEVEL_TYPES) for v in entry[1])
        ):
            raise FormatError("model spec field 'levels' must hold [column, [level, ...]] pairs")
        levels.append((entry[0], tuple(entry[1])))
    dates = []
    for entry in obj["dates"]:
        if not (isinstance(entry, list) and len(entry) == 2 and entry[1] in DATE_UNITS):
            raise FormatError(f"model spec field 'dates' must hold [column, unit] pairs with "
                              f"unit one of {sorted(DATE_UNITS)}")  # fmt: skip
        dates.append((str(entry[0]), str(entry[1])))
    state = obj["transform_state"]
    if not isinstance(state, dict) or set(state) != {"lhs", "rhs"}:
        raise FormatError("model spec field 'transform_state' must be {'lhs': ..., 'rhs': ...}")
    spec = ModelSpec(
        formula=obj["formula"],
        expanded=obj["expanded"],
        target_names=names("target_names"),
        feature_names=names("feature_names"),
        fit_intercept=obj["fit_intercept"],
        columns=names("columns"),
        target_columns=names("target_columns"),
        levels=tuple(levels),
        dates=tuple(dates),
        transform_state=json.dumps(state),
    )
    if not allow_python:  # a stored formula runs only the documented transforms
        check_transforms(spec.formula, parse_formula(spec.expanded))
    _check_names_by_probe(spec)
    return spec


def _check_names_by_probe(spec: ModelSpec) -> None:
    """The formula, evaluated on a few synthetic rows, must give exactly the stored names."""
    from formulaic import Formula

    Formula(spec.expanded)  # syntax
    levels, dates = dict(spec.levels), dict(spec.dates)
    n = max([3, *(len(v) for v in levels.values())])
    probe: dict[str, Any] = {}
    for c in (*spec.columns, *spec.target_columns):
        if c in levels:
            lv = levels[c]
            probe[c] = [lv[i % len(lv)] for i in range(n)] if lv else [None] * n
        elif c in dates:
            probe[c] = [dt.date(1970, 1, 2 + i) for i in range(n)]
        else:
            probe[c] = 1.5 + np.arange(n, dtype=np.float64) % 7
    import pandas as pd

    frame = pd.DataFrame(probe)
    for c, unit in dates.items():
        if unit == "seconds":
            frame[c] = pd.to_datetime(frame[c])
    prepared = spec._prepare(frame, targets=True)
    try:
        spec._matrix("rhs", prepared)
        spec._matrix("lhs", prepared)
    except FormulaError:
        # the synthetic rows lie outside a transform's learnt range (bs() refuses to
        # extrapolate): the names are checked on the first rows encoded instead
        return
    except DataError as exc:
        raise FormatError(f"model spec does not match its names: {exc}") from None
