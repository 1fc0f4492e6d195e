"""``olsnet fit`` on a CSV file: wall time of the whole command, in a fresh process.

    python benchmarks/bench_cli.py [--quick]

Writes benchmarks/results/cli.md. Target (issue "The front door"): ``olsnet fit`` on a
10-column, 100,000-row CSV finishes in under 2 seconds wall time, torch never imported.

Each row is the median wall time of a fresh subprocess (interpreter start, imports, reading
the file, fitting, printing the summary), measured side by side in this one run: the bare
interpreter (the floor), ``olsnet --help`` (start-up and CLI imports only), ``olsnet fit``
with text and JSON output, and the same fit-and-summary done with pandas + statsmodels.
``-X importtime`` of one more ``olsnet fit`` run lists every imported module, to show that
torch is not among them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process

TARGET_S = 2.0


def write_csv(path: Path, n: int, p: int = 9, seed: int = 0) -> None:
    """p features and y (p + 1 columns), written with pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 5.0, p) + rng.normal(size=p)
    cols = {f"x{j + 1}": X[:, j] for j in range(p)}
    cols["y"] = 1.0 + X @ rng.normal(size=p) + rng.normal(size=n)
    pcsv.write_csv(pa.table(cols), path)


def wall(cmd: list[str], repeats: int) -> tuple[float, float]:
    """(median, min) wall seconds of running ``cmd`` to completion ``repeats`` times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return statistics.median(times), min(times)


def imported_modules(cmd: list[str]) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True, check=True
    )
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }


STATSMODELS = (
    "import sys, pandas as pd, statsmodels.api as sm; df = pd.read_csv(sys.argv[1]); "
    "X = sm.add_constant(df.drop(columns='y')); print(sm.OLS(df['y'], X).fit().summary())"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 3 repeats")
    args = ap.parse_args()
    n, repeats = (20_000, 3) if args.quick else (100_000, 7)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        write_csv(csv, n)
        size_mb = csv.stat().st_size / 1e6
        fit = [py, "-m", "olsnet", "fit", str(csv), "-y", "y"]
        cases = [
            ("python -c pass (interpreter floor)", [py, "-c", "pass"]),
            ("olsnet --help (start-up, CLI imports)", [py, "-m", "olsnet", "--help"]),
            ("olsnet fit data.csv -y y", fit),
            ("olsnet fit data.csv -y y --format json", [*fit, "--format", "json"]),
            ("olsnet fit data.csv -y y --cov HC3", [*fit, "--cov", "HC3"]),
            ("pandas.read_csv + statsmodels OLS summary", [py, "-c", STATSMODELS, str(csv)]),
        ]
        rows = []
        results = {}
        for label, cmd in cases:
            med, best = wall(cmd, repeats)
            results[label] = med
            rows.append([label, med, best])
            print(f"{label:45s} median {med:6.3f} s  min {best:6.3f} s", flush=True)
        modules = imported_modules(fit[1:])
    fit_s = results["olsnet fit data.csv -y y"]
    sm_s = results["pandas.read_csv + statsmodels OLS summary"]
    table_rows = [[label, med, best, med / fit_s] for label, med, best in rows]
    torch_loaded = "torch" in modules
    verdict = (
        "met"
        if fit_s < TARGET_S and not args.quick
        else ("not met" if not args.quick else "not judged (--quick: fewer rows)")
    )
    text = "\n".join(
        [
            "## CLI: `olsnet fit` on a CSV file",
            "",
            f"Script: `benchmarks/bench_cli.py{' --quick' if args.quick else ''}`. A "
            f"{n:,}-row x 10-column CSV ({size_mb:.1f} MB); each row is the median (and minimum) "
            f"wall time of {repeats} fresh processes, measured side by side in one run.",
            "",
            _common.markdown_table(
                ["command", "median s", "min s", "ratio to olsnet fit"], table_rows
            ),
            "",
            f"Target: `olsnet fit` under {TARGET_S:.0f} s wall on 100,000 rows: **{verdict}** "
            f"(median {fit_s:.3f} s; pandas + statsmodels: {sm_s:.3f} s, ratio "
            f"{sm_s / fit_s:.2f}). torch imported by `olsnet fit`: **{'yes' if torch_loaded else 'no'}** "
            f"({len(modules)} modules imported in all, listed by `-X importtime`).",
            "",
            _common.environment_note(),
        ]
    )
    path = _common.write_section("cli", text)
    print(f"torch imported: {torch_loaded}; wrote {path}")


if __name__ == "__main__":
    main()
