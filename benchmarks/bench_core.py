"""Exact core: NIST accuracy, speed and memory of LinearRegression.fit, side by side.

    python benchmarks/bench_core.py [--quick]

Writes benchmarks/results/core.md. Targets (issue "Exact linear regression"): LRE >= 12 on every
NIST StRD dataset except Filip (>= 7.5); fit at (1e6, 10) and (2e6, 50) <= 0.25x scikit-learn's
LinearRegression.fit and <= 3x `X.T @ X` alone; fit + full HC3 summary at (1e6, 10) <= 0.2x
statsmodels' OLS(...).fit(cov_type="HC3") + summary(); peak memory of a fit beyond the inputs
<= 0.5x the size of X (fresh process, tracemalloc).
"""

from __future__ import annotations

# ruff: noqa: I001  (_common must be imported before NumPy: it unsets OPENBLAS_* first)

import _common  # first: unsets OPENBLAS_* in this process

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

import olsnet
from olsnet._nist import NIST_NAMES, lre, read_nist

NIST_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "nist"


def _min_lre(values, certified):
    return min(lre(float(v), float(c)) for v, c in zip(values, certified, strict=True))


def nist_table() -> tuple[str, bool]:
    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression as SkLR

    rows, ok = [], True
    for name in NIST_NAMES:
        case = read_nist(NIST_DIR / f"{name}.dat")
        X = np.column_stack([np.ones(len(case.y)), case.X]) if case.fit_intercept else case.X
        res = olsnet.LinearRegression(fit_intercept=case.fit_intercept).fit(case.X, case.y).result_
        ours_coef = _min_lre(res.params, case.params)
        ours_all = min(
            ours_coef,
            _min_lre(res.bse, case.bse),
            lre(float(np.sqrt(res.scale)), case.resid_sd),
            lre(float(res.rsquared), case.rsquared),
        )
        np_coef = _min_lre(np.linalg.lstsq(X, case.y, rcond=None)[0], case.params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smr = sm.OLS(case.y, X).fit()
        sm_coef = _min_lre(smr.params, case.params)
        sm_all = min(
            sm_coef,
            _min_lre(smr.bse, case.bse),
            lre(float(np.sqrt(smr.scale)), case.resid_sd),
            lre(float(smr.rsquared), case.rsquared),
        )
        sk = SkLR(fit_intercept=case.fit_intercept).fit(case.X, case.y)
        sk_params = np.r_[sk.intercept_, sk.coef_] if case.fit_intercept else sk.coef_
        sk_coef = _min_lre(sk_params, case.params)
        floor = 7.5 if name == "Filip" else 12.0
        ok &= ours_all >= floor
        rows.append(
            (
                name,
                floor,
                round(ours_all, 1),
                round(ours_coef, 1),
                round(np_coef, 1),
                round(sm_all, 1),
                round(sm_coef, 1),
                round(sk_coef, 1),
            )
        )
    header = (
        "dataset",
        "floor",
        "olsnet (all stats)",
        "olsnet coef",
        "numpy lstsq coef",
        "statsmodels (all stats)",
        "statsmodels coef",
        "scikit-learn coef",
    )
    return _common.markdown_table(header, rows), ok


def speed_rows(n: int, p: int, repeats: int) -> list[tuple]:
    from sklearn.linear_model import LinearRegression as SkLR

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    t_ours = _common.median_time(lambda: olsnet.LinearRegression().fit(X, y), repeats)
    t_sk = _common.median_time(lambda: SkLR().fit(X, y), repeats)
    t_xtx = _common.median_time(lambda: X.T @ X, repeats)
    return [(f"({n:,}, {p})", t_ours, t_sk, t_xtx, t_ours / t_sk, t_ours / t_xtx)]


def hc3_row(n: int, p: int, repeats: int) -> tuple:
    import statsmodels.api as sm

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + rng.standard_normal(n) * (1 + np.abs(X[:, 0]))
    Xc = sm.add_constant(X)
    ours = lambda: str(olsnet.LinearRegression(cov_type="HC3").fit(X, y).summary())  # noqa: E731
    theirs = lambda: str(sm.OLS(y, Xc).fit(cov_type="HC3", use_t=True).summary())  # noqa: E731
    t_ours = _common.median_time(ours, repeats)
    t_sm = _common.median_time(theirs, repeats)
    return (f"({n:,}, {p})", t_ours, t_sm, t_ours / t_sm)


MEMORY_PROBE = r"""
import sys, json, tracemalloc
import numpy as np
n, p = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, p)); y = X @ rng.standard_normal(p) + rng.standard_normal(n)
import olsnet
olsnet.LinearRegression().fit(X[:1000], y[:1000])  # imports and first-call set-up
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
olsnet.LinearRegression().fit(X, y)
peak = tracemalloc.get_traced_memory()[1] - base
print(json.dumps({"peak": peak, "xbytes": X.nbytes}))
"""


def memory_row(n: int, p: int) -> tuple:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(n), str(p)],
        capture_output=True,
        text=True,
        check=True,
    )
    m = json.loads(out.stdout)
    return (f"({n:,}, {p})", m["xbytes"] / 1e6, m["peak"] / 1e6, m["peak"] / m["xbytes"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    args = ap.parse_args()
    sizes = [(100_000, 10), (200_000, 50)] if args.quick else [(1_000_000, 10), (2_000_000, 50)]
    nist, nist_ok = nist_table()
    speed = [r for n, p in sizes for r in speed_rows(n, p, 3 if args.quick else 5)]
    hc3 = [hc3_row(*sizes[0], 3)]
    mem = [memory_row(n, p) for n, p in sizes]
    speed_ok = all(r[4] <= 0.25 and r[5] <= 3.0 for r in speed)
    text = f"""## Exact core: accuracy, speed, memory (`python benchmarks/bench_core.py`)

{_common.environment_note()}

### NIST StRD accuracy (log relative error, digits; capped at 15)

"all stats" is the minimum over every coefficient, standard error, the residual SD and R².
Floors: 12 (7.5 on Filip). All floors met: **{nist_ok}**.

{nist}

### Fit time, float64 random data with an intercept (median of repeats, seconds)

Targets: olsnet ≤ 0.25x scikit-learn and ≤ 3x `X.T @ X` alone. Met: **{speed_ok}**.

{_common.markdown_table(("(n, p)", "olsnet fit", "scikit-learn fit", "X.T @ X", "olsnet / sklearn", "olsnet / XᵀX"), speed)}

### Fit plus full HC3 summary (median, seconds)

Target ≤ 0.2x statsmodels `OLS(y, add_constant(X)).fit(cov_type="HC3", use_t=True)` + `summary()`
(statsmodels gets the constant column prebuilt, outside the timing).

{_common.markdown_table(("(n, p)", "olsnet", "statsmodels", "ratio"), hc3)}

### Peak memory of a fit beyond the inputs (fresh process, tracemalloc)

Target ≤ 0.5x the size of X.

{_common.markdown_table(("(n, p)", "X (MB)", "peak beyond inputs (MB)", "ratio to X"), mem)}
"""
    path = _common.write_section("core", text)
    print(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
