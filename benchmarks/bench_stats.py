"""Influence measures and cluster-robust covariances at (1,000,000 x 10), beside the fit.

    python benchmarks/bench_stats.py [--quick]

Writes benchmarks/results/stats.md. Side by side in one run (medians of repeats, seconds):

* the fit itself, ``LinearRegression().fit(X, y)`` (the reference of both targets);
* ``result.get_influence()`` with leverage, internally and externally studentized residuals,
  Cook's distance, DFFITS (target: within 3x the fit), beside statsmodels' ``OLSInfluence``
  leverage, internal residuals and Cook's distance (its external residuals and DFFITS refit
  without each row, n fits, so they are left out);
* ``result.with_cov("cluster", groups=g)`` with 10,000 clusters, CR1 (target: within 3x the
  fit), against statsmodels ``fit(cov_type="cluster")`` and pyfixest ``feols(vcov={"CRV1":
  "g"})`` (pyfixest only if installed: ``pip install pyfixest``; not an olsnet dependency).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process
from olsnet import LinearRegression

TARGET = 3.0


def _data(n: int, p: int, groups: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    g = rng.integers(0, groups, n)
    shock = rng.standard_normal(groups)[g]  # a cluster effect: errors correlated within g
    y = 1.0 + X @ rng.standard_normal(p) + shock + rng.standard_normal(n)
    return X, y, g


def _influence(res) -> None:
    infl = res.get_influence()
    infl.hat_matrix_diag  # noqa: B018 (the measures are computed on access)
    infl.resid_studentized_internal  # noqa: B018
    infl.resid_studentized_external  # noqa: B018
    infl.cooks_distance  # noqa: B018
    infl.dffits  # noqa: B018


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (proves the script runs)")
    args = ap.parse_args()
    import statsmodels.api as sm

    n, p, G = (100_000, 10, 1_000) if args.quick else (1_000_000, 10, 10_000)
    repeats = 3
    X, y, g = _data(n, p, G)
    Xc = sm.add_constant(X)

    t_fit = _common.median_time(lambda: LinearRegression().fit(X, y), repeats)
    res = LinearRegression().fit(X, y).result_
    t_infl = _common.median_time(lambda: _influence(res), repeats)
    t_cl = _common.median_time(lambda: res.with_cov("cluster", groups=g).bse, repeats)

    sm_res = sm.OLS(y, Xc).fit()

    def sm_influence() -> None:
        # statsmodels' resid_studentized_external and dffits refit without each row in turn
        # (OLSInfluence._res_looo: n fits), hours at this size: leverage, r and Cook only
        infl = sm_res.get_influence()
        infl.hat_matrix_diag  # noqa: B018
        infl.resid_studentized_internal  # noqa: B018
        infl.cooks_distance  # noqa: B018

    def sm_cluster() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm.OLS(y, Xc).fit(cov_type="cluster", cov_kwds={"groups": g}, use_t=True).bse  # noqa: B018

    t_sm_fit = _common.median_time(lambda: sm.OLS(y, Xc).fit().bse, repeats)
    t_sm_infl = _common.median_time(sm_influence, repeats)
    t_sm_cl = _common.median_time(sm_cluster, repeats)

    t_fx = t_fx_fit = float("nan")
    fx_note = "pyfixest is not installed in this environment"
    try:
        import pandas as pd
        import pyfixest as pf

        df = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(p)])
        df["y"], df["g"] = y, g
        fml = "y ~ " + " + ".join(f"x{j + 1}" for j in range(p))
        t_fx_fit = _common.median_time(lambda: pf.feols(fml, data=df, vcov="iid").se(), repeats)
        t_fx = _common.median_time(lambda: pf.feols(fml, data=df, vcov={"CRV1": "g"}).se(), repeats)
        fx_note = f"pyfixest {pf.__version__}"
    except ImportError:
        pass

    command = "python benchmarks/bench_stats.py" + (" --quick" if args.quick else "")
    rows = [
        ("fit (nonrobust)", t_fit, 1.0, t_sm_fit, t_fx_fit),
        ("get_influence(): h, r, r*, Cook, DFFITS", t_infl, t_infl / t_fit, np.nan, np.nan),
        ("statsmodels OLSInfluence: h, r, Cook only", np.nan, np.nan, t_sm_infl, np.nan),
        (f"cluster CR1, {G:,} clusters", t_cl, t_cl / t_fit, t_sm_cl, t_fx),
    ]
    met_infl, met_cl = t_infl / t_fit <= TARGET, t_cl / t_fit <= TARGET
    text = f"""## Statistics: influence and cluster-robust covariances (`{command}`)

{_common.environment_note()} The machine was shared with other jobs while this ran: compare
numbers within this table only.

Float64 random data with an intercept, (n, p) = ({n:,}, {p}), {G:,} clusters with a cluster
effect; medians of {repeats} repeats, seconds. olsnet's second-pass statistics are timed on a
fitted result (the fit is the first row); statsmodels and pyfixest columns time their own fit
plus the statistic ({fx_note}). Targets: get_influence within {TARGET:g}x the fit (met:
**{met_infl}**), cluster within {TARGET:g}x the fit (met: **{met_cl}**).

{
        _common.markdown_table(
            ("statistic", "olsnet", "olsnet / fit", "statsmodels", "pyfixest"),
            rows,
        )
    }
"""
    print(_common.write_section("stats", text))
    print(text)


if __name__ == "__main__":
    main()
