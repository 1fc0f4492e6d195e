"""Regression summaries: statsmodels / R style tables as text, markdown, HTML and DataFrames.

A statistic that does not apply renders as ``n/a [i]`` with its reason in note ``[i]``; no
warning is issued while rendering (warnings are for statistics read one by one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._deps import require
from ._residual_tests import ResidualTests
from ._table import Cell, Formatted, NotAvailable, Table

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["Summary", "build_summary", "result_dict"]

# statsmodels' threshold for its "The condition number is large" note
_LARGE_CONDITION = 1000.0


@dataclass(frozen=True)
class Summary:
    """A regression summary: per output a header block and a coefficient table, then notes.

    Renders as ``as_text()`` (also ``str``), ``as_markdown()``, ``as_html()`` (``_repr_html_``)
    and ``to_frame()`` (the coefficient tables; a (target, parameter) index with several outputs).
    """

    blocks: tuple[tuple[Table, ...], ...]
    """Per output: header, coefficients, residual diagnostics, residual quantiles."""
    notes: tuple[str, ...]
    target_names: tuple[str, ...]

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(t for block in self.blocks for t in block)

    def _reasons(self) -> tuple[str, ...]:
        seen: list[str] = []
        for t in self.tables:
            for r in t._reasons():
                if r not in seen:
                    seen.append(r)
        return tuple(seen)

    def _numbered(self) -> tuple[Table, ...]:
        reasons = self._reasons()
        return tuple(replace(t, reasons=reasons) for t in self.tables)

    def all_notes(self) -> tuple[str, ...]:
        return self.notes + tuple(f"[{i + 1}] {r}" for i, r in enumerate(self._reasons()))

    def as_text(self) -> str:
        tables = self._numbered()
        width = max(t.text_width() for t in tables)
        lines: list[str] = []
        for t in tables:
            part = t.as_text(width=width, notes=False).splitlines()
            if lines and part and not t.title and part[0] == lines[-1]:
                part = part[1:]  # a rule shared by two stacked blocks is drawn once
            elif lines:
                lines.append("")
            lines.extend(part)
        notes = self.all_notes()
        if notes:
            lines.append("")
            lines.append("Notes:")
            lines.extend(notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def as_markdown(self) -> str:
        parts = [_no_notes(t).as_markdown() for t in self._numbered()]
        notes = self.all_notes()
        if notes:
            parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in notes))
        return "\n\n".join(parts)

    def as_html(self) -> str:
        import html

        parts = [_no_notes(t).as_html() for t in self._numbered()]
        notes = self.all_notes()
        if notes:
            parts.append(
                '<p class="olsnet-notes">' + "<br>".join(html.escape(n) for n in notes) + "</p>"
            )
        return '<div class="olsnet-summary">\n' + "\n".join(parts) + "\n</div>"

    def _repr_html_(self) -> str:
        return self.as_html()

    def to_frame(self) -> Any:
        """Coefficient table(s) as a pandas DataFrame (n/a -> NaN)."""
        pd = require("pandas", "to_frame (a pandas DataFrame)")

        frames = [block[1].to_frame() for block in self.blocks]
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, keys=list(self.target_names), names=["target", "parameter"])

    def to_dict(self) -> dict[str, Any]:
        return {"tables": [t.to_dict() for t in self._numbered()], "notes": list(self.all_notes())}


def _no_notes(t: Table) -> Table:
    return replace(t, notes=())


def _cell(value: float, reason: str | None) -> Cell:
    if reason is not None or not math.isfinite(value):
        return NotAvailable(reason or "not finite")
    return float(value)


def _whole(v: float) -> Cell:
    return int(v) if float(v).is_integer() else float(v)


def _df_text(v: float) -> str:
    """Degrees of freedom as written in a sentence: 4999990, not 4.99999e+06."""
    return str(int(v)) if float(v).is_integer() else f"{v:.4f}".rstrip("0")


def _same_decimals(c: Cell) -> Cell:
    """R² and adjusted R² with the same four decimals (as R's summary.lm prints both)."""
    return Formatted(c, ".4f") if isinstance(c, float) else c


def _header_table(res: RegressionResult, j: int, title: str) -> Table:
    def stat(name: str) -> Cell:
        s = res.statistic(name)
        return _cell(s.value[j], s.reason[j])

    r2_label = "R-squared:" if res.k_constant else "R-squared (uncentered):"
    model = "WLS" if res.weighted else "OLS"
    left: list[tuple[str, Cell]] = [
        ("Dep. Variable:", res.target_names[j]),
        ("Model:", model),
        ("Method:", method_label(res.method)),
        ("No. Observations:", res.nobs),
        ("Df Residuals:", _whole(res.df_resid)),
        ("Df Model:", _whole(res.df_model)),
        ("Rank:", res.rank),
        ("Covariance Type:", res.cov_type),
    ]
    right: list[tuple[str, Cell]] = [
        (r2_label, _same_decimals(stat("rsquared"))),
        ("Adj. R-squared:", _same_decimals(stat("rsquared_adj"))),
        ("F-statistic:", stat("fvalue")),
        ("Prob (F-statistic):", stat("f_pvalue")),
        ("Log-Likelihood:", stat("llf")),
        ("AIC:", stat("aic")),
        ("BIC:", stat("bic")),
        (
            "Cond. No.:",
            _cell(
                res.condition_number,
                None
                if math.isfinite(res.condition_number)
                else "the kept columns of [1 X] are numerically singular",
            ),
        ),
    ]
    rows = tuple((a, b, c, d) for (a, b), (c, d) in zip(left, right, strict=True))
    return Table(title, (), rows, formats=("", "", "", ".4g"), align="lrlr")


def _coef_table(res: RegressionResult, j: int, alpha: float) -> Table:
    values, reasons = res.coef_table(alpha)  # (k, q, 6) each
    rows = tuple(
        (name, *(_cell(values[i, j, c], reasons[i, j, c]) for c in range(6)))
        for i, name in enumerate(res.param_names)
    )
    lo, hi = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
    return Table(
        "",
        ("", "coef", "std err", "t", "P>|t|", lo, hi),
        rows,
        formats=("", "", "", ".3f", ".3f", "", ""),
    )


def _robust_kind(res: RegressionResult) -> str:
    """How the robust standard errors were made, in statsmodels' words plus the options."""
    kw = dict(res.cov_kwds)
    if res.cov_type == "cluster":
        g = kw.get("n_groups")
        counts = f"{g[0]} x {g[1]} clusters, two-way" if isinstance(g, tuple) else f"{g} clusters"
        return f"cluster-robust ({kw.get('cluster_type', 'CR1')}, {counts})"
    if res.cov_type == "HAC":
        corr = "with" if kw.get("use_correction") else "without"
        return (
            f"heteroscedasticity and autocorrelation robust (HAC, {kw.get('kernel')} kernel, "
            f"{kw.get('maxlags')} lags, {corr} small-sample correction)"
        )
    return f"heteroscedasticity robust ({res.cov_type})"


def _notes(res: RegressionResult) -> list[str]:
    notes = []
    if res.cov_type == "nonrobust":
        notes.append(
            "Standard errors assume that the covariance matrix of the errors is "
            "correctly specified."
        )
    else:
        notes.append(
            f"Standard errors are {_robust_kind(res)}; t, p values and intervals use "
            f"Student's t with {_df_text(res.df_resid_inference)} df"
            + (" (clusters - 1, as Stata)." if res.cov_type == "cluster" else ".")
        )
        dp = res.known_residual_pass
        if res.cov_type in ("HC2", "HC3") and dp is not None and dp.max_leverage >= 1 - 1e-12:
            notes.append(
                f"A row has leverage 1, so {res.cov_type} divides by 0 there; prefer HC0 or HC1."
            )
    if res.weighted:
        notes.append(
            "Weights are analytic (inverse-variance), as in WLS; rows of zero weight "
            "are not observations."
        )
    if res.aliased:
        notes.append(
            "Aliased columns (coefficient NaN, not counted in the degrees of freedom): "
            + ", ".join(res.aliased)
            + "."
        )
    if res.n_dropped:
        notes.append(f"{res.n_dropped} row(s) with missing values were dropped before fitting.")
    cond = res.condition_number
    if math.isfinite(cond) and cond > _LARGE_CONDITION:
        notes.append(
            f"The condition number is large, {cond:.3g}. This might indicate strong "
            "multicollinearity or other numerical problems."
        )
    if res.optimality is not None:
        notes.extend(res.optimality.notes())
    return notes


_METHODS = (  # solver's record -> what a statistician calls it (first prefix that matches)
    ("nnls", "Non-negative Least Squares (NNLS)"),
    ("given", "Given coefficients (not fitted)"),
    ("exact", "Least Squares (QR, refined)"),
    ("gram", "Least Squares (normal eq., checked)"),
    ("qr-state (partial_fit)", "Least Squares (QR, updated)"),
    ("qr-state (merged)", "Least Squares (QR, merged)"),
    ("qr", "Least Squares (QR)"),
)


def method_label(method: str) -> str:
    """The summary's Method line for the solver's ``method`` record."""
    return next((label for key, label in _METHODS if method.startswith(key)), "Least Squares")


def _diagnostics_table(tests: ResidualTests, res: RegressionResult, j: int) -> Table:
    def cell(name: str) -> Cell:
        return _cell(tests.values[name][j], tests.reason)

    rows = (
        ("Omnibus:", cell("omnibus"), "Durbin-Watson:", cell("durbin_watson")),
        ("Prob(Omnibus):", cell("omnibus_p"), "Jarque-Bera (JB):", cell("jarque_bera")),
        ("Skew:", cell("skew"), "Prob(JB):", cell("jarque_bera_p")),
        ("Kurtosis:", cell("kurtosis"), "", None),
    )
    return Table("", (), rows, formats=("", ".3f", "", ".4g"), align="lrlr")


def _quantile_table(tests: ResidualTests, j: int) -> Table:
    if tests.quantiles is None:
        why = NotAvailable(tests.reason or _NO_ROWS)
        row: tuple[Cell, ...] = (why,) * 5
    else:
        row = tuple(float(v) for v in tests.quantiles[j])
    return Table("Residuals", ("Min", "1Q", "Median", "3Q", "Max"), (row,))


_NO_ROWS = "no residuals"


def _rse_lines(res: RegressionResult) -> list[str]:
    """R's "Residual standard error: s on df degrees of freedom", one per output."""
    scale = res.statistic("scale")
    lines = []
    for j, target in enumerate(res.target_names):
        who = f" ({target})" if res.n_outputs > 1 else ""
        s = math.sqrt(scale.value[j]) if scale.reason[j] is None else float("nan")
        lines.append(
            f"Residual standard error{who}: {s:.4g} on {res.df_resid:g} degrees of freedom"
        )
    return lines


def build_summary(res: RegressionResult, alpha: float = 0.05) -> Summary:
    """The :class:`Summary` of a result: per output a header, coefficient, residual
    diagnostics (statsmodels) and residual quantile (R) block."""
    q = res.n_outputs
    tests = res.residual_tests()
    blocks = []
    for j in range(q):
        title = "Regression Results" + (f": {res.target_names[j]}" if q > 1 else "")
        blocks.append(
            (
                _header_table(res, j, title),
                _coef_table(res, j, alpha),
                _diagnostics_table(tests, res, j),
                _quantile_table(tests, j),
            )
        )
    return Summary(tuple(blocks), tuple(_rse_lines(res) + _notes(res)), res.target_names)


def _json(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


_STATS = ("rsquared", "rsquared_adj", "fvalue", "f_pvalue", "llf", "aic", "bic", "scale", "ess")


def result_dict(res: RegressionResult, alpha: float = 0.05) -> dict[str, Any]:
    """JSON-able description of a result (NaN -> None; ``not_available`` gives reasons)."""
    from .optimality import optimality_to_dict

    values, reasons = res.coef_table(alpha)  # (k, q, 6)
    tests = res.residual_tests()
    sol = res.solution
    columns = ("coef", "std_err", "t", "p", "ci_lower", "ci_upper")
    outputs = []
    for j, target in enumerate(res.target_names):
        entry: dict[str, Any] = {
            "target": target,
            "ssr": _json(sol.ssr[j]),
            "centered_tss": _json(sol.centered_tss[j]),
            "uncentered_tss": _json(sol.uncentered_tss[j]),
        }
        not_available = {}
        for name in _STATS:
            stat = res.statistic(name)
            entry[name] = _json(stat.value[j])
            if stat.reason[j]:
                not_available[name] = stat.reason[j]
        for name, by_output in tests.values.items():
            entry[name] = _json(by_output[j])
            if tests.reason:
                not_available[name] = tests.reason
        if tests.quantiles is not None:
            entry["residual_quantiles"] = [_json(v) for v in tests.quantiles[j]]
        entry["not_available"] = not_available
        coefficients = []
        for i, name in enumerate(res.param_names):
            row: dict[str, Any] = {"name": name}
            row.update({c: _json(values[i, j, m]) for m, c in enumerate(columns)})
            row["aliased"] = bool(sol.aliased[i])
            why = {c: reasons[i, j, m] for m, c in enumerate(columns) if reasons[i, j, m]}
            if why:
                row["not_available"] = why
            coefficients.append(row)
        entry["coefficients"] = coefficients
        outputs.append(entry)
    return {
        "model": "WLS" if res.weighted else "OLS",
        "cov_type": res.cov_type,
        "alpha": alpha,
        "nobs": res.nobs,
        "df_model": res.df_model,
        "df_resid": res.df_resid,
        "rank": res.rank,
        "fit_intercept": res.fit_intercept,
        "condition_number": _json(res.condition_number),
        "n_dropped": res.n_dropped,
        "method": res.method,
        "feature_names": list(res.feature_names),
        "target_names": list(res.target_names),
        "param_names": list(res.param_names),
        "aliased": list(res.aliased),
        "outputs": outputs,
        "optimality": None if res.optimality is None else optimality_to_dict(res.optimality),
        "notes": list(_notes(res)),
    }
