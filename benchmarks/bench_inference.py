"""Inference: the HC pass, fit plus HC3 summary, covariance switching and predictions.

    python benchmarks/bench_inference.py [--quick]

Writes benchmarks/results/inference.md. Side by side in one run, on float64 random data with an
intercept and heteroscedastic noise (medians of repeats):

* the one streaming pass that yields all four HC covariances, against ``X.T @ X`` alone;
* fit + full HC3 summary (``olsnet.solve.lstsq`` + ``RegressionResult.from_solution`` +
  ``summary()``) against statsmodels ``OLS(...).fit(cov_type="HC3", use_t=True).summary()``
  (target: at most 0.2x, issue "Exact linear regression");
* switching covariance type on a fitted result (no data pass) and ``get_prediction`` on new
  rows with ``summary_frame``, against statsmodels' ``get_prediction``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process
from olsnet.data import ArraySource, as_design
from olsnet.inference import RegressionResult
from olsnet.inference.covariance import hc_covariance, residual_pass, unshift_matrix
from olsnet.solve import lstsq

TARGET = 0.2


def _data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = 1.0 + X @ rng.standard_normal(p) + rng.standard_normal(n) * (1 + np.abs(X[:, 0]))
    return X, y


def _fit_summary(X: np.ndarray, y: np.ndarray) -> str:
    design = as_design(X, y)
    solution = lstsq(design.X, design.Y, None, True)
    result = RegressionResult.from_solution(solution, ArraySource(design), y_ndim=1, cov_type="HC3")
    return result.summary().as_text()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (proves the script runs)")
    args = ap.parse_args()
    import statsmodels.api as sm

    n, p = (100_000, 10) if args.quick else (1_000_000, 10)
    repeats, sm_repeats = (5, 3) if args.quick else (7, 3)
    X, y = _data(n, p)
    Xc = sm.add_constant(X)
    design = as_design(X, y)
    solution = lstsq(design.X, design.Y, None, True)
    source = ArraySource(design)
    kept = solution.kept
    T = unshift_matrix(solution.shift_x[kept[1:] - 1], solution.rank, True)

    def hc_pass() -> None:
        rp = residual_pass(
            source.blocks(), solution.params, solution.R_x, solution.shift_x, kept, True
        )
        for kind in ("HC0", "HC1", "HC2", "HC3"):
            hc_covariance(kind, rp.meats, solution.R_x, T, rp.nobs, solution.df_resid)

    def sm_fit_summary() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.OLS(y, Xc).fit(cov_type="HC3", use_t=True).summary().as_text()

    t_pass = _common.median_time(hc_pass, repeats)
    t_xtx = _common.median_time(lambda: X.T @ X, repeats)
    t_ours = _common.median_time(lambda: _fit_summary(X, y), repeats)
    t_sm = _common.median_time(sm_fit_summary, sm_repeats)

    fitted = RegressionResult.from_solution(solution, source, y_ndim=1, cov_type="HC3")
    t_switch = _common.median_time(lambda: fitted.with_cov("HC1").bse, repeats)
    sm_res = sm.OLS(y, Xc).fit(cov_type="HC3", use_t=True)
    m = 10_000
    Xn, _ = _data(m, p, seed=1)
    Xnc = sm.add_constant(Xn)
    t_pred = _common.median_time(lambda: fitted.get_prediction(Xn).summary_frame(), repeats)
    t_sm_pred = _common.median_time(lambda: sm_res.get_prediction(Xnc).summary_frame(), repeats)
    ratio = t_ours / t_sm
    command = "python benchmarks/bench_inference.py" + (" --quick" if args.quick else "")
    text = f"""## Inference: HC pass, HC3 summary, predictions (`{command}`)

{_common.environment_note()}

Float64 random data with an intercept and heteroscedastic noise, (n, p) = ({n:,}, {p});
medians of {repeats} repeats ({sm_repeats} for statsmodels fits), seconds.

### The HC pass

One streaming pass over the rows yields the HC0, HC2 and HC3 meats of every output (HC1 is HC0
rescaled); all four covariances then cost no further data access.

{
        _common.markdown_table(
            ("(n, p)", "HC pass + 4 covariances", "X.T @ X", "pass / XᵀX"),
            [(f"({n:,}, {p})", t_pass, t_xtx, t_pass / t_xtx)],
        )
    }

### Fit plus full HC3 summary

Target ≤ {TARGET}x statsmodels `OLS(y, add_constant(X)).fit(cov_type="HC3", use_t=True)` +
`summary()` (statsmodels gets the constant column prebuilt, outside the timing). olsnet:
`as_design` + `olsnet.solve.lstsq` + `RegressionResult.from_solution(cov_type="HC3")` +
`summary().as_text()`. Met: **{ratio <= TARGET}**.

{
        _common.markdown_table(
            ("(n, p)", "olsnet", "statsmodels", "ratio"), [(f"({n:,}, {p})", t_ours, t_sm, ratio)]
        )
    }

### Switching covariance and predicting

{
        _common.markdown_table(
            ("operation", "olsnet", "statsmodels", "ratio"),
            [
                (
                    "with_cov('HC1').bse on a fitted HC3 result (no data pass)",
                    t_switch,
                    float("nan"),
                    float("nan"),
                ),
                (
                    f"get_prediction({m:,} rows).summary_frame()",
                    t_pred,
                    t_sm_pred,
                    t_pred / t_sm_pred,
                ),
            ],
        )
    }
"""
    path = _common.write_section("inference", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
