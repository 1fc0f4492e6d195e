"""Speed at every size (issue 14 items 1-4): small fits in loops, a busy machine, the HC pass,
wide data, and the large-fit targets, side by side with statsmodels, scikit-learn and NumPy in
one run.

    python benchmarks/bench_speed.py [--quick] [--part small --part bootstrap ...]

Writes ``benchmarks/results/speed.md`` and replaces its section in BENCHMARKS.md; with
``--part`` (small, busy, bootstrap, hc, wide, large; busy implies small) only those parts run and
only their subsections of that section are replaced (``results/speed-PARTS.md``). Ratios are
taken within this one run (the peers run interleaved with olsnet, loop by loop), so a machine
that is busy with other work shifts every column alike; the section says how busy it was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process only

SMALL = [(100, 3), (1_000, 10), (10_000, 20), (30_000, 10)]
LOOP = 200  # fits per timed loop (--quick: 200 for the two smallest cases, 20 for the others)


def _data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + rng.uniform(-3, 3, p)
    y = X @ rng.standard_normal(p) + 1.0 + rng.standard_normal(n)
    return X, y


def _per_fit(fn, loops: int, size: int = LOOP) -> float:
    """Median over ``loops`` loops of ``size`` fits of the time per fit (seconds)."""
    times = []
    for _ in range(loops):
        t0 = time.perf_counter()
        for _ in range(size):
            fn()
        times.append((time.perf_counter() - t0) / size)
    return statistics.median(times)


def _loop_size(n: int, quick: bool) -> int:
    return LOOP if not quick or n <= 1_000 else 20


def _small_fns(n: int, p: int):
    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression as SkLinearRegression

    import olsnet

    X, y = _data(n, p)
    Xc = sm.add_constant(X)
    return {
        "olsnet": lambda: olsnet.LinearRegression().fit(X, y).result_.bse,
        "statsmodels": lambda: sm.OLS(y, Xc).fit().bse,
        "sklearn": lambda: SkLinearRegression().fit(X, y),
    }


def part_small(loops: int, quick: bool) -> tuple[str, dict[tuple[int, int], dict[str, float]]]:
    rows, quiet = [], {}
    for n, p in SMALL:
        fns = _small_fns(n, p)
        for fn in fns.values():
            fn()
        times = {name: [] for name in fns}
        for _ in range(loops):  # interleaved: each loop of each library in turn
            for name, fn in fns.items():
                times[name].append(_per_fit(fn, 1, _loop_size(n, quick)))
        med = {name: statistics.median(t) for name, t in times.items()}
        quiet[(n, p)] = med
        rows.append(
            [
                f"({n:,} x {p})",
                med["olsnet"] * 1e3,
                med["statsmodels"] * 1e3,
                med["sklearn"] * 1e3,
                med["olsnet"] / med["statsmodels"],
                med["olsnet"] / med["sklearn"],
            ]
        )
    table = _common.markdown_table(
        [
            "case",
            "olsnet fit + SEs ms",
            "statsmodels OLS().fit().bse ms",
            "sklearn fit ms",
            "olsnet / statsmodels",
            "olsnet / sklearn",
        ],
        rows,
    )
    return table, quiet


_BUSY = "import numpy as np\na = np.random.rand(400, 400)\nwhile True:\n    a = (a @ a) / 400.0\n"


def part_busy(quiet: dict[tuple[int, int], dict[str, float]], loops: int, quick: bool) -> str:
    """The same fits while two other processes keep the CPUs busy (BLAS products at NumPy's
    default threads: on 2 cores, four busy threads beside the fit, so a single-threaded fit's
    fair share of the CPUs is 2/5 of a core); statsmodels beside olsnet for scale."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(2)]
    try:
        time.sleep(1.0)
        rows = []
        for n, p in SMALL:
            fns = _small_fns(n, p)
            busy = {}
            for name in ("olsnet", "statsmodels"):
                fns[name]()
                busy[name] = statistics.median(
                    _per_fit(fns[name], 1, _loop_size(n, quick)) for _ in range(loops)
                )
            q = quiet[(n, p)]
            rows.append(
                [
                    f"({n:,} x {p})",
                    q["olsnet"] * 1e3,
                    busy["olsnet"] * 1e3,
                    busy["olsnet"] / q["olsnet"],
                    busy["statsmodels"] / q["statsmodels"],
                ]
            )
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    return _common.markdown_table(
        [
            "case",
            "olsnet ms (this run)",
            "olsnet with two busy processes ms",
            "olsnet busy / quiet",
            "statsmodels busy / quiet",
        ],
        rows,
    )


def part_bootstrap(repeats: int) -> str:
    import olsnet

    X, y = _data(1_000, 10)
    rng = np.random.default_rng(1)
    draws = [rng.integers(0, 1_000, 1_000) for _ in range(1_000)]

    def bootstrap():
        return np.array([olsnet.LinearRegression().fit(X[i], y[i]).coef_ for i in draws])

    coefs = bootstrap()
    t = _common.median_time(bootstrap, repeats=repeats, warmup=0)
    return (
        f"1,000-resample bootstrap of (1,000 x 10) (fit per resample, coefficients kept): "
        f"**{t:.3f} s** (median of {repeats}); bootstrap SD of the first slope "
        f"{coefs[:, 0].std(ddof=1):.4f}."
    )


def part_hc(sizes: list[tuple[int, int]], repeats: int) -> str:
    """HC3 standard errors after the fit: each repeat a fresh fit, then ``with_cov("HC3").bse``
    on its result (the HC pass is kept by the result), interleaved; ratio of the medians.

    Two designs per size: the columns with offsets used everywhere in this file (``_data``: the
    checked Gram fit shifts by the column means, a second pass over X at (2M x 50)), and the
    same columns centered (one Gram pass: the fit at its fastest, the harder ratio).
    """
    import olsnet

    rows = []
    for n, p in sizes:
        for design in ("offset columns", "centered columns"):
            X, y = _data(n, p)
            if design == "centered columns":
                X -= X.mean(axis=0)

            def fit(X=X, y=y):
                return olsnet.LinearRegression().fit(X, y)

            fit().result_.with_cov("HC3").bse  # noqa: B018 (warm-up)
            t_fit, t_hc = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                res = fit().result_
                t1 = time.perf_counter()
                res.with_cov("HC3").bse  # noqa: B018
                t_hc.append(time.perf_counter() - t1)
                t_fit.append(t1 - t0)
            fit_s, hc_s = statistics.median(t_fit), statistics.median(t_hc)
            rows.append([f"({n:,} x {p}), {design}", fit_s, hc_s, hc_s / fit_s])
            del X, y
    return _common.markdown_table(["case", "fit s", "HC3 SEs after the fit s", "HC3 / fit"], rows)


def part_wide(ps: list[int]) -> str:
    import olsnet
    from olsnet.errors import AliasedColumnWarning

    rows = []
    for p in ps:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, p))
        y = X[:, :5].sum(axis=1) + rng.standard_normal(300)
        A = np.column_stack([np.ones(300), X])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AliasedColumnWarning)
            olsnet.LinearRegression().fit(X[:50, :200], y[:50])  # warm-up: first-call imports
            ols_times, lstsq_times = [], []
            for _ in range(7):  # interleaved, median of 7 each
                t0 = time.perf_counter()
                model = olsnet.LinearRegression().fit(X, y)
                t1 = time.perf_counter()
                np.linalg.lstsq(A, y, rcond=None)
                lstsq_times.append(time.perf_counter() - t1)
                ols_times.append(t1 - t0)
        t_ols, t_np = statistics.median(ols_times), statistics.median(lstsq_times)
        aliased = int(np.isnan(model.coef_).sum())
        rows.append([f"(300 x {p:,})", t_ols, t_np, t_ols / t_np, model.rank_, aliased])
    return _common.markdown_table(
        ["case", "olsnet fit s", "numpy lstsq s", "olsnet / lstsq", "rank", "aliased columns"],
        rows,
    )


def part_large(sizes: list[tuple[int, int]], repeats: int) -> str:
    from sklearn.linear_model import LinearRegression as SkLinearRegression

    import olsnet

    rows = []
    for n, p in sizes:
        X, y = _data(n, p)
        t_ols = _common.median_time(lambda X=X, y=y: olsnet.LinearRegression().fit(X, y), repeats)
        t_xtx = _common.median_time(lambda X=X: X.T @ X, repeats)
        t_sk = _common.median_time(
            lambda X=X, y=y: SkLinearRegression().fit(X, y), max(1, repeats // 2)
        )
        rows.append([f"({n:,} x {p})", t_ols, t_xtx, t_sk, t_ols / t_xtx, t_ols / t_sk])
    return _common.markdown_table(
        ["case", "olsnet fit s", "X.T @ X s", "sklearn fit s", "olsnet / XᵀX", "olsnet / sklearn"],
        rows,
    )


def _replace_section(path: Path, heading: str, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    start = old.find(heading)
    if start < 0:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    else:
        nxt = old.find("\n## ", start + len(heading))
        new = old[:start] + text.rstrip() + "\n" + ("" if nxt < 0 else old[nxt:])
    path.write_text(new)


HEADING = "## Speed at every size (`python benchmarks/bench_speed.py`)"


PARTS = ("small", "busy", "bootstrap", "hc", "wide", "large")


def _replace_subsection(path: Path, title: str, body: str) -> None:
    """Replace the ``### title...`` subsection of the speed section (up to the next heading)."""
    old = path.read_text()
    start = old.find(HEADING)
    sub = old.find("\n### " + title, start) if start >= 0 else -1
    if sub < 0:
        return
    line_end = old.find("\n", sub + 1)
    nxt = min(
        i for i in (old.find("\n### ", line_end), old.find("\n## ", line_end), len(old)) if i >= 0
    )
    path.write_text(old[: line_end + 1] + "\n" + body.strip() + "\n" + old[nxt:])


def main_parts(parts: list[str], quick: bool) -> None:
    """Run the named parts only; replace their subsections of the BENCHMARKS.md section."""
    loops = 3 if quick else 7
    load = os.getloadavg()[0]
    note = (
        f"Command: `python benchmarks/bench_speed.py{' --quick' if quick else ''} "
        + " ".join(f"--part {p}" for p in parts)
        + f"`; load average when the run started: {load:.1f} on {os.cpu_count()} CPUs"
        + (" (a shared, busy machine: compare ratios within a table)." if load > 1 else ".")
    )
    out: list[tuple[str, str]] = []
    if "small" in parts or "busy" in parts:
        small, quiet = part_small(loops, quick)
        print(small, flush=True)
        out.append(("Small problems", note + "\n\n" + small))
        if "busy" in parts:
            busy = part_busy(quiet, loops, quick)
            print(busy, flush=True)
            out.append(("The same olsnet fits with two busy", note + "\n\n" + busy))
    if "bootstrap" in parts:
        boot = part_bootstrap(1 if quick else 3)
        print(boot, flush=True)
        out.append(("Bootstrap", note + "\n\n" + boot))
    hc_sizes = [(1_000_000, 10), (400_000, 50)] if quick else [(1_000_000, 10), (2_000_000, 50)]
    if "hc" in parts:
        hc = part_hc(hc_sizes, 1 if quick else 5)
        print(hc, flush=True)
        out.append(("HC3 standard errors", note + "\n\n" + hc))
    if "wide" in parts:
        wide = part_wide([1_000] if quick else [1_000, 10_000])
        print(wide, flush=True)
        out.append(("Wide data", note + "\n\n" + wide))
    if "large" in parts:
        large = part_large(hc_sizes, 1 if quick else 3)
        print(large, flush=True)
        out.append(("Large fits", note + "\n\n" + large))
    _common.write_section("speed-" + "-".join(parts), "\n\n".join(b for _, b in out))
    for title, body in out:
        _replace_subsection(Path(__file__).parent.parent / "BENCHMARKS.md", title, body)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", action="append", choices=PARTS, help="run only these parts")
    args = ap.parse_args()
    quick = args.quick
    if args.part:
        main_parts(args.part, quick)
        return
    loops = 3 if quick else 7
    load = os.getloadavg()[0]
    small, quiet = part_small(loops, quick)
    print(small, flush=True)
    busy = part_busy(quiet, loops, quick)
    print(busy, flush=True)
    boot = part_bootstrap(1 if quick else 3)
    print(boot, flush=True)
    hc_sizes = [(1_000_000, 10), (400_000, 50)] if quick else [(1_000_000, 10), (2_000_000, 50)]
    hc = part_hc(hc_sizes, 1 if quick else 5)
    print(hc, flush=True)
    wide = part_wide([1_000] if quick else [1_000, 10_000])
    print(wide, flush=True)
    large = part_large(hc_sizes, 1 if quick else 3)
    print(large, flush=True)
    text = "\n\n".join(
        [
            HEADING,
            f"Command: `python benchmarks/bench_speed.py{' --quick' if quick else ''}`.",
            _common.environment_note()
            + f" Load average when the run started: {load:.1f} on {os.cpu_count()} CPUs"
            + (" (a shared, busy machine: compare ratios within a table)." if load > 1 else "."),
            "### Small problems: fit + nonrobust standard errors, default settings "
            f"(median per fit over {loops} loops of {LOOP} fits, interleaved"
            + ("; --quick: loops of 20 fits from 10,000 rows" if quick else "")
            + ")",
            small,
            "### The same olsnet fits with two busy competing processes (BLAS products)",
            busy,
            "### Bootstrap",
            boot,
            "### HC3 standard errors after the fit (the blocked, threaded leverage pass)",
            hc,
            "### Wide data (300 rows; rank-revealing in-order aliasing rule)",
            wide,
            "### Large fits (existing targets: at most 3x `X.T @ X`, at most 0.25x scikit-learn)",
            large,
        ]
    )
    _common.write_section("speed", text)
    _replace_section(Path(__file__).parent.parent / "BENCHMARKS.md", HEADING, text)


if __name__ == "__main__":
    main()
