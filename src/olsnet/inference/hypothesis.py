"""Tests of linear restrictions ``L b = c`` and of nested models (statsmodels, R ``anova``).

For ``m`` restrictions with the result's covariance ``V`` (whatever its ``cov_type``)::

    t_i = (L b - c)_i / √(L V Lᵀ)_ii                           t_test  (Student's t, df)
    F   = (L b - c)ᵀ (L V Lᵀ)⁻¹ (L b - c) / m                  f_test  F(m, df)
    W   = m F                                                  wald_test(use_f=False): χ²(m)

with ``df = df_resid_inference`` (``G - 1`` for cluster covariances), as statsmodels'
``t_test``/``f_test``/``wald_test`` with ``use_t=True``. ``L V Lᵀ`` is evaluated in the
solver's factored basis: ``G S Gᵀ`` with ``G = (L T) R⁻¹`` (see :mod:`._rows`).

Nested models (R's ``anova(m1, m2)``, statsmodels ``compare_f_test``):
``F = ((ssr₀ - ssr₁) / (df₀ - df₁)) / (ssr₁ / df₁)``; under a robust covariance of the larger
model the Wald F of its extra coefficients is used instead (as ``lmtest::waldtest``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError, DimensionError, OptionError
from ._distributions import f_sf, t_isf, t_sf
from ._rows import factor_solve, to_centred
from ._statistics import exact_fit
from ._table import Table

if TYPE_CHECKING:
    from .result import RegressionResult

__all__ = ["ContrastResults", "anova", "compare_f_test", "parse_restrictions", "wald"]

_NUMBER = re.compile(r"\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*")


def parse_restrictions(restrictions: Any, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(L (m, k), c (m,))`` from strings (``"x1 = x2"``, ``"x1 + 2*x2 = 1"``, comma-separated
    or a list) or a matrix ``L`` / a pair ``(L, c)``.

    Raises
    ------
    OptionError
        A string that is not a linear restriction, or one naming an unknown coefficient (the
        message lists the names).
    DimensionError
        A matrix with the wrong number of columns.
    """
    k = len(names)
    if isinstance(restrictions, str):
        restrictions = [p for p in restrictions.split(",") if p.strip()]
    if (
        isinstance(restrictions, (list, tuple))
        and restrictions
        and all(isinstance(r, str) for r in restrictions)
    ):
        rows = [_parse_one(r, names) for r in restrictions]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    if isinstance(restrictions, tuple) and len(restrictions) == 2:
        L, c = np.atleast_2d(np.asarray(restrictions[0], dtype=np.float64)), restrictions[1]
        c = np.broadcast_to(np.asarray(c, dtype=np.float64), (L.shape[0],)).copy()
    else:
        L = np.atleast_2d(np.asarray(restrictions, dtype=np.float64))
        c = np.zeros(L.shape[0])
    if L.ndim != 2 or L.shape[1] != k:
        raise DimensionError(
            f"a restriction matrix needs {k} columns ({', '.join(names)}); got shape {L.shape}"
        )
    return L, c


def _parse_one(text: str, names: Sequence[str]) -> tuple[np.ndarray, float]:
    if text.count("=") != 1:
        raise OptionError(f"restriction {text!r} needs exactly one '=' (e.g. 'x1 = x2')")
    left, right = text.split("=")
    row = np.zeros(len(names))
    const = 0.0
    for side, sign in ((left, 1.0), (right, -1.0)):
        coefs, c = _linear(side, names, text)
        row += sign * coefs
        const -= sign * c
    if not row.any():
        raise OptionError(f"restriction {text!r} names no coefficient")
    return row, const


def _linear(expr: str, names: Sequence[str], text: str) -> tuple[np.ndarray, float]:
    """Coefficients and constant of one side: terms ``[±] [number *] name | [±] number``."""
    by_length = sorted(names, key=len, reverse=True)
    coefs = np.zeros(len(names))
    const = 0.0
    pos, s = 0, expr.strip()
    if not s:
        raise OptionError(f"restriction {text!r} has an empty side")
    while pos < len(s):
        sign = 1.0
        while pos < len(s) and s[pos] in "+- ":
            sign = -sign if s[pos] == "-" else sign
            pos += 1
        number = _NUMBER.match(s, pos)
        factor = 1.0
        if number:
            factor = float(number.group(1))
            pos = number.end()
            if pos < len(s) and s[pos] == "*":
                pos += 1
            else:
                const += sign * factor
                continue
        rest = s[pos:].lstrip()
        pos = len(s) - len(rest)
        name = next((n for n in by_length if rest.startswith(n)), None)
        if name is None:
            bad = re.split(r"\s*[-+*]\s*|\s+", rest)[0]
            raise OptionError(
                f"restriction {text!r} names {bad!r}, which is not a coefficient; "
                f"coefficients: {', '.join(names)}"
            )
        pos += len(name)
        while pos < len(s) and s[pos] == " ":
            pos += 1
        if pos < len(s) and s[pos] == "*":
            after = _NUMBER.match(s, pos + 1)
            if after is None:
                raise OptionError(f"restriction {text!r}: '*' must be followed by a number")
            factor *= float(after.group(1))
            pos = after.end()
        coefs[list(names).index(name)] += sign * factor
    return coefs, const


@dataclass(frozen=True, eq=False)
class ContrastResults:
    """A test of ``L b = c``: t per restriction and the joint F (statsmodels' names).

    ``effect`` is ``L b`` (m,) and ``q_matrix`` the ``c`` it is tested against; ``sd`` and
    ``tvalue = (L b - c) / sd`` are (m,); ``fvalue`` and ``f_pvalue`` the joint F test with
    (``df_num``, ``df_denom``); ``statistic`` and ``pvalue_joint`` the joint test asked for (F,
    or χ² with ``use_f=False``).

    ``pvalue`` means what it means in statsmodels for the method that made the result:
    ``t_test`` -- (m,) two-sided p values of the single restrictions (t with ``df_denom``);
    ``f_test`` and ``wald_test`` -- the joint test's p value (a float).
    """

    effect: np.ndarray
    q_matrix: np.ndarray
    sd: np.ndarray
    fvalue: float
    df_num: int
    df_denom: float
    use_f: bool
    restrictions: tuple[str, ...]
    cov_type: str
    test: str = "t"
    """Which method made it: ``"t"`` (t_test), ``"F"`` (f_test) or ``"wald"`` (wald_test)."""

    @property
    def tvalue(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.effect - self.q_matrix) / self.sd

    @property
    def pvalue(self) -> Any:
        """t_test: (m,) p values of the single restrictions; f_test / wald_test: the joint p."""
        if self.test != "t":
            return self.pvalue_joint
        return self.t_pvalues

    @property
    def t_pvalues(self) -> np.ndarray:
        """(m,) two-sided p values of the single restrictions (t with ``df_denom``)."""
        return 2.0 * t_sf(np.abs(self.tvalue), self.df_denom)

    @property
    def f_pvalue(self) -> float:
        return float(f_sf(np.asarray(self.fvalue), self.df_num, self.df_denom))

    @property
    def statistic(self) -> float:
        """F (``use_f``) or the Wald χ² ``m F``."""
        return self.fvalue if self.use_f else self.fvalue * self.df_num

    @property
    def pvalue_joint(self) -> float:
        if self.use_f:
            return self.f_pvalue
        import scipy.special as sp

        return float(sp.chdtrc(self.df_num, self.statistic))

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """(m, 2) intervals of ``L b`` (t with ``df_denom``)."""
        if not 0.0 < alpha < 1.0:
            raise OptionError(f"alpha must be in (0, 1); got {alpha}")
        half = t_isf(alpha / 2.0, self.df_denom) * self.sd
        return np.stack([self.effect - half, self.effect + half], axis=-1)

    def summary(self, alpha: float = 0.05) -> Table:
        ci = self.conf_int(alpha)
        rows = tuple(
            (name, float(e), float(s), float(t), float(p), float(lo), float(hi))
            for name, e, s, t, p, (lo, hi) in zip(
                self.restrictions,
                self.effect,
                self.sd,
                self.tvalue,
                self.t_pvalues,
                ci,
                strict=True,
            )
        )
        joint = "F" if self.use_f else "chi2"
        return Table(
            f"Test for constraints ({self.cov_type})",
            ("", "coef", "std err", "t", "P>|t|", f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"),
            rows,
            notes=(
                f"joint {joint} = {self.statistic:.6g}, p = {self.pvalue_joint:.4g}, "
                f"df = ({self.df_num}, {self.df_denom:g})",
            ),
        )


def _output(res: RegressionResult, target: Any) -> int:
    if target is None:
        if res.n_outputs != 1:
            raise DimensionError(
                f"this result has {res.n_outputs} outputs ({', '.join(res.target_names)}); "
                "choose one with target=..."
            )
        return 0
    if isinstance(target, str):
        if target not in res.target_names:
            raise DimensionError(f"no output {target!r}; outputs: {', '.join(res.target_names)}")
        return res.target_names.index(target)
    return int(target)


def wald(
    res: RegressionResult,
    restrictions: Any,
    *,
    use_f: bool = True,
    target: Any = None,
    test: str = "t",
) -> ContrastResults:
    """Test ``L b = c`` with the result's covariance (see the module doc for the formulas);
    ``test`` names the method asked (``"t"``, ``"F"``, ``"wald"``: what ``pvalue`` means)."""
    names = res.param_names
    L, c = parse_restrictions(restrictions, names)
    j = _output(res, target)
    sol = res.solution
    on_aliased = np.abs(L[:, sol.aliased]).sum(axis=1) > 0
    if on_aliased.any():
        raise DataError(
            f"restriction {int(np.flatnonzero(on_aliased)[0])} involves aliased coefficient(s) "
            f"{', '.join(res.aliased)}, which are not estimated"
        )
    if res.df_resid_inference <= 0:
        raise DataError("no residual degrees of freedom: the test is not defined")
    if res.cov_reason:
        raise DataError(f"the {res.cov_type} covariance is not available: {res.cov_reason}")
    if res.cov_type == "nonrobust" and exact_fit(res)[j]:
        raise DataError("the fit is exact (ssr is 0 up to rounding): the test is not defined")
    kept = sol.kept
    if np.linalg.matrix_rank(L[:, kept]) < L.shape[0]:  # decided on L, not on rounded L V Lᵀ
        raise DataError(
            "the restrictions are linearly dependent (L has rank below its number of rows); "
            "drop the redundant ones"
        )
    G = factor_solve(sol, to_centred(sol, L[:, kept]))  # (m, r)
    middle = res.cov_middle
    if middle is None:
        raise DataError("this result has no factored covariance (a file saved without it)")
    V = G @ middle[j] @ G.T  # (m, m)
    effect = L[:, kept] @ sol.params[kept, j]
    try:
        F = float((effect - c) @ np.linalg.solve(V, effect - c)) / L.shape[0]
    except np.linalg.LinAlgError:
        raise DataError(
            "the restrictions are linearly dependent (L V Lᵀ is singular); drop the redundant ones"
        ) from None
    labels = (
        tuple(restrictions)
        if isinstance(restrictions, (list, tuple)) and all(isinstance(r, str) for r in restrictions)
        else tuple(restrictions.split(","))
        if isinstance(restrictions, str)
        else tuple(f"c{i}" for i in range(L.shape[0]))
    )
    return ContrastResults(
        effect=effect,
        q_matrix=c,
        sd=np.sqrt(np.diag(V)),
        fvalue=F,
        df_num=L.shape[0],
        df_denom=res.df_resid_inference,
        use_f=use_f,
        restrictions=tuple(s.strip() for s in labels),
        cov_type=res.cov_type,
        test=test,
    )


def compare_f_test(big: RegressionResult, small: RegressionResult) -> tuple[float, float, float]:
    """(F, p, df_diff) of ``small`` nested in ``big`` (statsmodels' ``compare_f_test``).

    Nonrobust: the F of the drop in ssr. Robust ``big``: the Wald F of ``big``'s coefficients
    that ``small`` lacks (matched by name), with ``big``'s covariance.

    Raises
    ------
    DimensionError
        Different numbers of rows or outputs, or ``small`` not smaller than ``big``.
    """
    row = anova(small, big).rows[1]
    return float(row[5]), float(row[6]), float(row[3])  # type: ignore[arg-type]


def _whole(df: float) -> float | int:
    return int(df) if float(df).is_integer() else float(df)


def anova(*results: RegressionResult) -> Table:
    """Analysis of variance of nested models, smallest first (R's ``anova(m1, m2, ...)``).

    Columns ``Res.Df, RSS, Df, Sum of Sq, F, Pr(>F)``; each model is compared with the one
    before it, with the residual variance of the largest (R). When the largest model has a
    robust covariance, F is its Wald F of the added coefficients (``lmtest::waldtest``).

    Raises
    ------
    DimensionError
        Fewer than two models, different rows or outputs, or models not ordered by size.
    """
    if len(results) < 2:
        raise DimensionError("anova compares two or more nested models; got fewer")
    first = results[0]
    for r in results:
        if r.nobs != first.nobs or r.n_outputs != 1:
            raise DimensionError(
                "anova needs one-output models fitted on the same rows; nobs "
                f"{[m.nobs for m in results]}, outputs {[m.n_outputs for m in results]}"
            )
    dfs = [_whole(m.df_resid) for m in results]  # R prints whole degrees of freedom as such
    if dfs != sorted(dfs, reverse=True) or len(set(dfs)) != len(dfs):
        raise DimensionError(
            f"anova takes nested models from smallest to largest; residual df are {dfs}"
        )
    big = results[-1]
    scale = float(big.solution.ssr[0]) / big.df_resid
    rows: list[tuple[Any, ...]] = [
        ("1", dfs[0], float(results[0].solution.ssr[0]), None, None, None, None)
    ]
    for i in range(1, len(results)):
        prev, cur = results[i - 1], results[i]
        ddf = _whole(prev.df_resid - cur.df_resid)
        dss = float(prev.solution.ssr[0] - cur.solution.ssr[0])
        if big.cov_type == "nonrobust" or cur is not big:
            F = dss / ddf / scale
            df_denom = big.df_resid
        else:
            extra = [n for n in cur.param_names if n not in prev.param_names]
            if len(extra) != ddf:
                raise DimensionError(
                    f"a robust comparison needs the smaller model's coefficients to be the larger "
                    f"one's minus some (by name); extra {extra} for {ddf:g} df"
                )
            L = np.eye(len(cur.param_names))[[cur.param_names.index(n) for n in extra]]
            c = wald(cur, L)
            F, df_denom = c.fvalue, c.df_denom
        p = float(f_sf(np.asarray(F), ddf, df_denom))
        rows.append((str(i + 1), dfs[i], float(cur.solution.ssr[0]), ddf, dss, F, p))
    return Table(
        f"Analysis of Variance Table ({big.cov_type})",
        ("Model", "Res.Df", "RSS", "Df", "Sum of Sq", "F", "Pr(>F)"),
        tuple(rows),
    )
