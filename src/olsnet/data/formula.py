"""Formula text: R's idioms, the transforms a formula may call, and the columns it reads.

A formula is *code*: formulaic evaluates each Python factor (``np.log(x)``, ``I(x**2)``) with
``eval``. This module reads the text before anything is evaluated:

* :func:`expand_formula` gives R's meaning to R's idioms, as ``lm`` reads them: ``factor(x)``
  is ``C(x)``; ``^`` inside a call (``I(x^2)``, ``log(x^2)``) is a power, never Python's XOR;
  a column name with dots (``Sepal.Length``) works bare and backtick-quoted; ``.`` is every
  column not otherwise in the formula (R's ``terms.formula``); a date column becomes numeric
  time with its unit in the term name (see :mod:`olsnet.data.model_spec`).
* :func:`check_transforms` allows only the documented transforms (the allow-list below) and
  refuses anything else, naming the call. The CLI always applies it (``--allow-python`` lifts
  it); the Python API applies it with ``allow_python=False``.

formulaic is imported only when a formula is used.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FormulaError

__all__ = [
    "ALLOWED_TRANSFORMS",
    "ParsedFormula",
    "check_transforms",
    "close_matches",
    "expand_formula",
    "parse_formula",
]

INTERCEPT = "Intercept"

#: formulaic's stateful transforms and encoders, R's spellings, and contrasts inside ``C()``.
_NAMED_TRANSFORMS = frozenset(
    {
        "C", "I", "Q", "center", "scale", "standardize", "poly", "bs", "cr", "cs", "cc",
        "log", "log2", "log10", "exp", "exp2", "exp10", "sqrt", "abs",
        "contr.treatment", "contr.sum", "contr.helmert", "contr.poly", "contr.diff",
        "Treatment", "Sum", "Helmert", "Poly", "Diff",
    }
)  # fmt: skip


def _numpy_ufuncs() -> frozenset[str]:
    """``np.<name>`` for every NumPy ufunc (elementwise math: ``np.log``, ``np.sqrt``, ...)."""
    names = {n for n in dir(np) if isinstance(getattr(np, n, None), np.ufunc)}
    return frozenset(f"{mod}.{n}" for mod in ("np", "numpy") for n in names)


#: Every call a formula may make unless the user allows Python (``--allow-python``).
ALLOWED_TRANSFORMS: frozenset[str] = _NAMED_TRANSFORMS | _numpy_ufuncs()

# a token of formula text: backtick name, string, name (dots allowed), number, other character
# CPython before 3.12.1 counts the recursion depth of its AST constructor per interpreter,
# not per thread (python/cpython#106905): two threads building ASTs at once (ast.parse, or
# formulaic evaluating a formula's terms) can fail with "AST constructor recursion depth
# mismatch". Every AST this package builds, directly or through formulaic, is built under this
# lock, so formula fits are safe to run from many threads at once.
AST_LOCK = threading.RLock()

_TOKEN = re.compile(
    r"(?P<tick>`[^`]*`)|(?P<str>'[^']*'|\"[^\"]*\")|(?P<name>[A-Za-z_.][A-Za-z0-9_.]*)"
    r"|(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?)|(?P<space>\s+)|(?P<other>\*\*|.)",
    re.DOTALL,
)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(formula: str) -> list[_Token]:
    return [_Token(m.lastgroup or "other", m.group(), m.start()) for m in _TOKEN.finditer(formula)]


def _quote(name: str) -> str:
    return name if _PLAIN.fullmatch(name) else f"`{name}`"


def expand_formula(
    formula: str,
    columns: Sequence[str],
    *,
    exclude: Collection[str] = (),
    dates: Mapping[str, str] | None = None,
) -> str:
    """The formulaic text that means what ``formula`` means in R.

    Parameters
    ----------
    formula : str
        R / formulaic syntax, e.g. ``"Sepal.Length ~ . + I(Petal.Width^2) + factor(k)"``.
    columns : sequence of str
        The data's columns (to expand ``.`` and recognise dotted names).
    exclude : collection of str
        Columns ``.`` never expands to (the weights column).
    dates : mapping of str to str, optional
        Date columns and their term names (``{"day": "day[days]"}``): outside ``C()`` /
        ``factor()`` a date column is read as that numeric column.

    Raises
    ------
    FormulaError
        ``.`` where no column is left for it.
    """
    dates = dict(dates or {})
    cols = set(columns)
    toks = _tokens(formula)
    significant = [t for t in toks if t.kind != "space"]
    mentioned = {_name_of(t) for t in significant if t.kind in ("name", "tick")} & cols
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # per open bracket: (python code?, inside C()?)
    prev: _Token | None = None
    for i, t in enumerate(toks):
        text = t.text
        python = any(code for code, _ in stack)
        in_c = any(c for _, c in stack)
        nxt = next((u for u in toks[i + 1 :] if u.kind != "space"), None)
        if t.kind == "name" and text == "factor" and nxt is not None and nxt.text == "(":
            text = "C"
        elif t.kind == "name" and text == "." and not python:
            others = [c for c in columns if c not in mentioned and c not in exclude]
            if not others:
                raise FormulaError(f"formula {formula!r}: '.' stands for no column (none left)")
            text = "(" + " + ".join(_quote(dates.get(c, c)) for c in others) + ")"
        elif t.kind in ("name", "tick"):
            name = _name_of(t)
            if name in dates and not in_c and not _is_call(nxt):
                text = f"`{dates[name]}`"
            elif t.kind == "name" and name in cols and not _PLAIN.fullmatch(name):
                text = f"`{name}`"  # Sepal.Length: a column, not an attribute
        elif text == "^" and python:
            text = "**"  # R: x^2 is a power; Python's ^ would be XOR
        elif text in ("(", "{"):
            is_call = text == "{" or (prev is not None and prev.kind in ("name", "tick"))
            callee = prev.text if prev is not None and is_call else ""
            stack.append((is_call, callee in ("C", "factor")))
        elif text in (")", "}") and stack:
            stack.pop()
        out.append(text)
        if t.kind != "space":
            prev = t
    return "".join(out)


def _name_of(t: _Token) -> str:
    return t.text[1:-1] if t.kind == "tick" else t.text


def _is_call(t: _Token | None) -> bool:
    return t is not None and t.text == "("


@dataclass(frozen=True)
class ParsedFormula:
    """A formula before it has seen data: its text, the columns it reads, those used as levels.

    Attributes
    ----------
    formula : str
        As the user wrote it.
    expanded : str
        The formulaic text evaluated (see :func:`expand_formula`).
    variables : frozenset of str
        Every name the formula reads (columns, and names formulaic provides).
    categorical : frozenset of str
        Columns named inside ``C()`` / ``factor()`` (read as text from files).
    targets, features : tuple of str
        Names read on the left of ``~`` and on the right (a name may be in both).
    """

    formula: str
    expanded: str
    variables: frozenset[str]
    categorical: frozenset[str]
    targets: tuple[str, ...]
    features: tuple[str, ...]

    def columns_used(self, columns: Sequence[Any]) -> list[str]:
        """The data columns the formula reads, in the data's order."""
        return [str(c) for c in columns if str(c) in self.variables]

    def unknown(self, columns: Sequence[Any]) -> list[str]:
        """Names the formula reads that are neither columns nor names formulaic provides."""
        have = {str(c) for c in columns}
        return sorted(v for v in self.variables if v not in have and not _in_namespace(v))

    def check_columns(self, columns: Sequence[Any], where: str = "data") -> None:
        """Raise :class:`FormulaError` naming the first unknown name and its close matches."""
        unknown = self.unknown(columns)
        if unknown:
            raise FormulaError(
                f"formula {self.formula!r} uses {unknown[0]!r}, which is not a column of "
                f"{where}{close_matches(unknown[0], columns)}; its columns are "
                f"{', '.join(map(str, columns))}"
            )


def close_matches(name: str, columns: Sequence[Any]) -> str:
    """``" (did you mean 'x1'?)"`` for the closest column names, or ``""``."""
    near = difflib.get_close_matches(name, [str(c) for c in columns], n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""


def _in_namespace(name: str) -> bool:
    """Names formulaic resolves itself (``np``, ``C``, ...), which are not data columns."""
    from formulaic.transforms import TRANSFORMS

    return (
        name in TRANSFORMS
        or name in ("numpy", "factor", "sqrt", "abs")
        or hasattr(builtins, name)  # Python's own names: refused by check_transforms
    )


def _syntax_error(formula: str, expanded: str, exc: Exception) -> FormulaError:
    """A formula error quoting the formula and pointing at the position formulaic reports."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    marked = next((line for line in lines if "\u29db" in line), None)  # formulaic's ⧛ marker
    if marked is None:
        return FormulaError(f"formula {formula!r} cannot be read: {text}")
    pos = marked.index("\u29db")
    shown = expanded if expanded != formula else formula
    what = "" if shown == formula else " (as read: R idioms resolved)"
    return FormulaError(
        f"formula {formula!r} cannot be read at position {pos + 1}{what}: {text}\n"
        f"    {shown}\n    {' ' * pos}^"
    )


def parse_formula(
    formula: str,
    columns: Sequence[Any] = (),
    *,
    exclude: Collection[str] = (),
    dates: Mapping[str, str] | None = None,
) -> ParsedFormula:
    """Parse ``formula`` (R / formulaic syntax) against the data's column names.

    Raises
    ------
    FormulaError
        Not a formula (no ``~``) or a syntax error (the message quotes the formula and points
        at the position).
    """
    from formulaic import Formula

    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula must be a string like 'y ~ x1 + x2'; got {formula!r}")
    columns = [str(c) for c in columns]
    expanded = expand_formula(formula, columns, exclude=exclude, dates=dates)
    try:
        with AST_LOCK:  # formulaic builds ASTs (see AST_LOCK)
            parsed = Formula(expanded)
        factors = list(_factors(parsed))
    except Exception as exc:  # formulaic raises several types for bad syntax
        raise _syntax_error(formula, expanded, exc) from None
    inverse = {term: column for column, term in (dates or {}).items()}
    sides: dict[str, set[str]] = {"lhs": set(), "rhs": set()}
    for side, expr, method in factors:  # arguments of stateful transforms (scale(w)) count too
        found = {expr} if method == "lookup" else _names_in(expr)
        if method == "literal":
            continue
        # names that are neither columns nor formulaic's are kept: check_columns reports them
        sides[side] |= {inverse.get(v, v) for v in found if v in columns or v in inverse}
        sides[side] |= {
            v for v in found if v not in columns and v not in inverse and not _in_namespace(v)
        }
    variables = sides["lhs"] | sides["rhs"]
    categorical = {c for c in variables if _categorical(c, [(e, m) for _, e, m in factors])}
    targets = tuple(sorted(sides["lhs"]))
    features = tuple(sorted(sides["rhs"]))
    return ParsedFormula(
        formula, expanded, frozenset(variables), frozenset(categorical), targets, features
    )


def _factors(parsed: Any) -> Any:
    """(side, expression, eval method) of every factor on both sides."""
    sides = [("lhs", parsed.lhs), ("rhs", parsed.rhs)] if hasattr(parsed, "lhs") else []
    for name, side in sides or [("rhs", parsed)]:
        for term in side:
            for factor in term.factors:
                yield name, str(factor.expr), str(factor.eval_method.value)


def _names_in(expr: str) -> set[str]:
    code, ticked = _untick(expr)
    try:
        with AST_LOCK:
            tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return set()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return {ticked.get(n, n) for n in names}


def _untick(expr: str) -> tuple[str, dict[str, str]]:
    """Python text with each backtick name replaced by a placeholder identifier, and the map
    from placeholders back to names."""
    ticked: dict[str, str] = {}

    def sub(m: re.Match[str]) -> str:
        key = f"_olsnet_col_{len(ticked)}"
        ticked[key] = m.group(1)
        return key

    return re.sub(r"`([^`]*)`", sub, expr), ticked


def _categorical(column: str, factors: list[tuple[str, str]]) -> bool:
    """Whether ``column`` is named inside ``C(...)`` (``factor()`` was rewritten to ``C``)."""
    pat = re.compile(r"\bC\(\s*(?:`" + re.escape(column) + r"`|" + re.escape(column) + r")\s*[,)]")
    return any(pat.search(expr) for expr, _ in factors)


def check_transforms(formula: str, parsed: ParsedFormula | None = None) -> None:
    """Refuse a formula that calls anything outside :data:`ALLOWED_TRANSFORMS`.

    Allowed: NumPy's elementwise math (``np.log``, ``np.sqrt``: every ufunc), formulaic's
    stateful transforms (``center``, ``scale``, ``standardize``, ``poly``, ``bs``, ``cr``,
    ``cs``, ``cc``), ``C`` / ``factor`` with formulaic's contrasts, ``I`` and ``{...}``
    arithmetic (operators on columns and numbers). Refused: any other call (``np.savetxt``,
    ``open``, ``__import__``), attribute access other than an allowed ``np.<ufunc>``,
    subscripts, lambdas and comprehensions.

    Raises
    ------
    FormulaError
        Naming the first refused call and how to allow it (``allow_python=True``, CLI
        ``--allow-python``).
    """
    from formulaic import Formula

    if parsed is None:
        parsed = parse_formula(formula)
    for _side, expr, method in _factors(Formula(parsed.expanded)):
        if method != "python":
            continue
        refused = _refused_call(expr)
        if refused is not None:
            raise FormulaError(
                f"formula {formula!r} calls {refused!r}, which is not one of the documented "
                "transforms (NumPy elementwise math, center/scale/standardize/poly/bs, C/factor, "
                "I arithmetic). A formula is Python code; to run it as such pass "
                "allow_python=True (CLI: --allow-python)"
            )


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


_SAFE_NODES = (
    ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp,
    ast.Compare, ast.BoolOp, ast.keyword, ast.Attribute, ast.Tuple, ast.List,
    ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.IfExp,
)  # fmt: skip


def _refused_call(expr: str) -> str | None:
    """The first call or construct of ``expr`` outside the allow-list (None when all pass)."""
    try:
        tree = ast.parse(_untick(expr)[0], mode="eval")
    except SyntaxError:
        return expr
    for node in ast.walk(tree):
        if not isinstance(node, _SAFE_NODES):
            return f"{type(node).__name__.lower()} in {expr}"
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is None or name not in ALLOWED_TRANSFORMS:
                return name or expr
        elif isinstance(node, ast.Attribute):
            name = _dotted(node)
            if name is None or (name not in ALLOWED_TRANSFORMS and name.split(".")[0] != "np"):
                return name or expr
            if "__" in node.attr:
                return name
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            return node.id
    return None
