"""The second pass over the rows beside the fit: HC3, influence measures, cluster-robust.

    python benchmarks/bench_stats.py [--quick] [--repeats N]

Writes benchmarks/results/stats.md and its section of BENCHMARKS.md. Side by side in one run:

* the fit itself, ``LinearRegression().fit(X, y)`` (the reference of every target);
* ``result.with_cov("HC3").bse`` on the fit's result (target: at most 2x the fit, at
  (1,000,000 x 10) and (2,000,000 x 50));
* ``result.get_influence()`` with leverage, internally and externally studentized residuals,
  Cook's distance with its p values and DFFITS (target: within 3x the fit); DFBETAS, an
  (n, k) array of its own pass, in a row of its own (no target);
* ``result.with_cov("cluster", groups=g)`` with 10,000 clusters, CR1 (target: within 3x the
  fit);
* peers at (1,000,000 x 10): statsmodels ``OLS(...).fit(cov_type=...)`` and ``OLSInfluence``
  (leverage, internal residuals, Cook only: its external residuals and DFFITS refit without
  each row, n fits), pyfixest ``feols(vcov=...)`` (only if installed: ``pip install pyfixest``,
  benchmark environment only, not an olsnet dependency). Peers time their fit plus the
  statistic.

Each repeat times a fresh fit and then each statistic on that fit's result (the HC pass is
kept by the result, so a fresh result each time), interleaved, so a machine busy with other
work shifts the fit and the statistics alike; the ratios are of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process
from olsnet import LinearRegression

HC_TARGET, STATS_TARGET = 2.0, 3.0
HEADING = "## Statistics: HC3, influence and cluster-robust covariances"


def _data(n: int, p: int, groups: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + rng.uniform(-3, 3, p)
    g = rng.integers(0, groups, n)
    shock = rng.standard_normal(groups)[g]  # a cluster effect: errors correlated within g
    y = 1.0 + X @ rng.standard_normal(p) + shock + rng.standard_normal(n)
    return X, y, g


def _influence(res) -> None:
    infl = res.get_influence()
    infl.hat_matrix_diag  # noqa: B018 (the measures are computed on access)
    infl.resid_studentized_internal  # noqa: B018
    infl.resid_studentized_external  # noqa: B018
    infl.cooks_distance  # noqa: B018 (the distances and their p values)
    infl.dffits  # noqa: B018


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def olsnet_rows(n: int, p: int, G: int, repeats: int, full: bool) -> dict[str, float]:
    """Medians (s) of the fit and each statistic, interleaved repeat by repeat."""
    X, y, g = _data(n, p, G)
    stats = {
        "HC3": lambda res: res.with_cov("HC3").bse,
        "influence": _influence,
        "dfbetas": lambda res: res.get_influence().dfbetas,
        "cluster": lambda res: res.with_cov("cluster", groups=g).bse,
    }
    if not full:
        stats = {"HC3": stats["HC3"]}
    for fn in [lambda: LinearRegression().fit(X, y)] + [
        lambda f=f: f(LinearRegression().fit(X, y).result_) for f in stats.values()
    ]:
        fn()  # warm up (imports, first-touch pages)
    times: dict[str, list[float]] = {"fit": [], **{k: [] for k in stats}}
    for _ in range(repeats):
        t, model = _timed(lambda: LinearRegression().fit(X, y))
        times["fit"].append(t)
        for name, fn in stats.items():
            res = LinearRegression().fit(X, y).result_ if name == "HC3" else model.result_
            times[name].append(_timed(lambda fn=fn, res=res: fn(res))[0])
    return {k: statistics.median(v) for k, v in times.items()}


def peer_rows(n: int, p: int, G: int, repeats: int) -> dict[str, dict[str, float]]:
    import statsmodels.api as sm

    X, y, g = _data(n, p, G)
    Xc = sm.add_constant(X)

    def sm_fit(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.OLS(y, Xc).fit(use_t=True, **kw).bse

    def sm_influence() -> None:
        infl = sm.OLS(y, Xc).fit().get_influence()
        infl.hat_matrix_diag  # noqa: B018
        infl.resid_studentized_internal  # noqa: B018
        infl.cooks_distance  # noqa: B018

    out = {
        "statsmodels": {
            "fit": _common.median_time(sm_fit, repeats),
            "HC3": _common.median_time(lambda: sm_fit(cov_type="HC3"), repeats),
            "influence": _common.median_time(sm_influence, repeats),
            "cluster": _common.median_time(
                lambda: sm_fit(cov_type="cluster", cov_kwds={"groups": g}), repeats
            ),
        }
    }
    try:
        import pandas as pd
        import pyfixest as pf
    except ImportError:
        return out
    df = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(p)])
    df["y"], df["g"] = y, g
    fml = "y ~ " + " + ".join(f"x{j + 1}" for j in range(p))
    out[f"pyfixest {pf.__version__}"] = {
        "fit": _common.median_time(lambda: pf.feols(fml, data=df, vcov="iid").se(), repeats),
        "HC3": _common.median_time(lambda: pf.feols(fml, data=df, vcov="HC3").se(), repeats),
        "cluster": _common.median_time(
            lambda: pf.feols(fml, data=df, vcov={"CRV1": "g"}).se(), repeats
        ),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (proves the script runs)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true", help="olsnet only")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    G = 1_000 if args.quick else 10_000
    small = (100_000, 10) if args.quick else (1_000_000, 10)
    large = (200_000, 50) if args.quick else (2_000_000, 50)
    a = olsnet_rows(*small, G, args.repeats, full=True)
    b = olsnet_rows(*large, G, args.repeats, full=False)
    peers = {} if args.no_peers else peer_rows(*small, G, max(1, args.repeats // 2))
    names = list(peers)

    def row(label: str, key: str, t: dict[str, float], target: float | None, with_peers: bool):
        ratio = t[key] / t["fit"]
        met = "" if target is None else ("yes" if ratio <= target else "**no**")
        cells = [label, t[key], ratio, "" if target is None else f"{target:g}x", met]
        return cells + [peers[m].get(key, float("nan")) if with_peers else "" for m in names]

    fs = f"({small[0]:,} x {small[1]})"
    fl = f"({large[0]:,} x {large[1]})"
    rows = [
        row(f"{fs} fit (nonrobust SEs)", "fit", a, None, True),
        row(f"{fs} HC3 SEs after the fit", "HC3", a, HC_TARGET, True),
        row(f"{fs} get_influence(): h, r, r*, Cook, DFFITS", "influence", a, STATS_TARGET, True),
        row(f"{fs} get_influence().dfbetas (n x k)", "dfbetas", a, None, False),
        row(f"{fs} cluster CR1, {G:,} clusters", "cluster", a, STATS_TARGET, True),
        row(f"{fl} fit (nonrobust SEs)", "fit", b, None, False),
        row(f"{fl} HC3 SEs after the fit", "HC3", b, HC_TARGET, False),
    ]
    command = "python benchmarks/bench_stats.py" + (" --quick" if args.quick else "")
    table = _common.markdown_table(
        ["case", "olsnet s", "olsnet / fit", "target", "met"] + [f"{m} s" for m in names], rows
    )
    text = f"""{HEADING} (`{command}`)

{_common.environment_note()} Load average when the run started: {load:.1f} on
{os.cpu_count()} CPUs{" (a shared, busy machine: compare the ratios, which come from one run)" if load > 1 else ""}.

Float64 random data with an intercept and a cluster effect ({G:,} clusters). olsnet: medians of
{args.repeats} interleaved repeats, each a fresh fit followed by each statistic on its result
(HC3 on a fresh result, as the HC pass is kept); "olsnet / fit" is the statistic's median over
the fit's. Peers ({", ".join(names) or "none"}): medians of their fit plus the statistic at
{fs}; statsmodels' influence row is leverage, internal residuals and Cook only (its external
residuals and DFFITS refit without each row). The second pass is one blocked, threaded pass over
the rows (`olsnet.solve.row_pass` with the shared row kernel `RowMap`): HC computes only the
meat of the kind asked; influence keeps leverages and residuals, no (n, r) array; cluster sums
each span's scores by cluster with one sparse indicator product.

{table}
"""
    _common.write_section("stats", text)
    print(text)


if __name__ == "__main__":
    main()
