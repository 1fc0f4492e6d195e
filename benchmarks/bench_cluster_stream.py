"""Streamed cluster-robust covariance of a file fit, beside the fit and the in-memory path.

    python benchmarks/bench_cluster_stream.py [--quick]

Writes benchmarks/results/cluster_stream.md. A Parquet and a CSV file of (n, p) = (1,000,000,
10) float64 features, y and a text column ``firm`` of 10,000 clusters (a cluster effect in y).
Side by side in one run (medians of repeats, seconds):

* the file fit ``LinearRegression().fit(olsnet.read(path, y="y", x=[...]))`` (one pass);
* ``result.with_cov("cluster", groups="firm")`` on it: the second pass reading ``firm``
  alongside the features, per-cluster score sums only (``inference._cluster_stream``);
* the same data in memory: fit, and ``with_cov("cluster", groups=labels)``;

and the largest relative difference of the file's cluster SEs from the in-memory ones.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process
import olsnet
from olsnet import LinearRegression


def _write(folder: Path, n: int, p: int, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    g = rng.integers(0, groups, n)
    y = 1.0 + X @ rng.standard_normal(p) + rng.standard_normal(groups)[g] + rng.standard_normal(n)
    labels = np.char.add("firm-", g.astype(str))
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(p)]).assign(y=y, firm=labels)
    df.to_parquet(folder / "rows.parquet", row_group_size=65_536)
    df.to_csv(folder / "rows.csv", index=False)
    return X, y, labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (proves the script runs)")
    args = ap.parse_args()
    n, p, G = (100_000, 10, 1_000) if args.quick else (1_000_000, 10, 10_000)
    repeats = 3
    xs = [f"x{j}" for j in range(p)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        X, y, labels = _write(folder, n, p, G)
        t_fit = _common.median_time(lambda: LinearRegression().fit(X, y), repeats)
        res = LinearRegression().fit(X, y).result_
        t_cl = _common.median_time(lambda: res.with_cov("cluster", groups=labels).bse, repeats)
        ref = res.with_cov("cluster", groups=labels).bse
        rows.append(("in memory (labels as an array)", t_fit, t_cl, t_cl / t_fit, 0.0))
        for name in ("rows.parquet", "rows.csv"):
            path = folder / name

            def fit(path: Path = path) -> object:
                return LinearRegression().fit(olsnet.read(path, y="y", x=xs)).result_

            t_ffit = _common.median_time(fit, repeats)
            fres = fit()
            t_fcl = _common.median_time(
                lambda fres=fres: fres.with_cov("cluster", groups="firm").bse, repeats
            )
            diff = float(np.max(np.abs(fres.with_cov("cluster", groups="firm").bse / ref - 1)))
            rows.append((f"{name.split('.')[-1]} file, groups=\"firm\"", t_ffit, t_fcl,
                         t_fcl / t_ffit, diff))  # fmt: skip
    command = "python benchmarks/bench_cluster_stream.py" + (" --quick" if args.quick else "")
    text = f"""## Streamed cluster-robust covariance of file fits (`{command}`)

{_common.environment_note()} The machine was shared with other jobs while this ran: compare
numbers within this table only.

(n, p) = ({n:,}, {p}) float64 features, y and a text column `firm` of {G:,} clusters; medians
of {repeats} repeats, seconds. The cluster pass of a file reads `firm` alongside the features
and keeps per-cluster score sums only (memory O(G r q): the peak does not grow with the rows,
tests/hostile/test_streamed_cluster_memory.py).

{
        _common.markdown_table(
            ("data", "fit", "cluster CR1 pass", "cluster / fit", "max rel diff of SEs"),
            rows,
        )
    }
"""
    print(_common.write_section("cluster_stream", text))
    print(text)


if __name__ == "__main__":
    main()
