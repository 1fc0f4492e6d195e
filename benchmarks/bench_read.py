"""Reading data: CSV dialects and SQL through DuckDB, against their baselines.

    python benchmarks/bench_read.py [--quick] [--parts dialect,sql]

Writes benchmarks/results/read.md. Targets (issue 12):

* ``olsnet fit`` on a 100,000-row semicolon / decimal-comma CSV within 1.2x the time of the
  same data as a plain CSV (the command run in-process through ``olsnet.cli.main``);
* ``olsnet fit --sql`` over 10,000,000 Parquet rows x 20 columns within 1.5x the time of
  DuckDB alone materialising the query's result as Arrow record batches, peak resident memory
  under 400 MB, coefficients equal to the in-memory fit to 1e-12 (relative).

Every measured job runs in a fresh subprocess (its peak memory is VmHWM of that process); the
runs of the two sides of a ratio alternate, so a change in the machine's load reaches both.
Data are generated once into benchmarks/_data/ (ignored by git).
"""

from __future__ import annotations

# isort: off
import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process

# isort: on
import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_scale import DATA, _rel, _rows, _table, parquet_dataset, peak_rss_mb

BATCH = 65536


def dialect_files(rows: int, p: int) -> tuple[Path, Path]:
    """The same rows as a plain CSV and as a ';' / decimal-comma CSV (Excel in most of
    Europe), written with pandas."""

    plain = DATA / f"read-plain-{rows}x{p + 1}.csv"
    europe = DATA / f"read-europe-{rows}x{p + 1}.csv"
    if not europe.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        frame = _table(*_rows(rows, p, seed=11)).to_pandas()
        frame.to_csv(plain, index=False)
        frame.to_csv(europe.with_suffix(".tmp"), sep=";", decimal=",", index=False)
        europe.with_suffix(".tmp").rename(europe)
    return plain, europe


def _query(parquet: Path) -> str:
    return f"SELECT * FROM '{parquet}/*.parquet'"


def child(mode: str, target: str) -> dict[str, object]:
    """One measured job in this fresh process."""
    out: dict[str, object] = {}
    if mode in ("csv", "csv-europe"):
        from olsnet.cli import main

        # warm-up on the first 200 lines of the same file: the clock then measures the read and
        # the fit, not the imports the command makes on first use
        head = Path(target).with_suffix(".head.csv")
        head.write_text("".join(Path(target).open().readlines()[:200]))
        with contextlib.redirect_stdout(io.StringIO()):
            main(["fit", str(head), "-y", "y", "--format", "json"])
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as text:
            status = main(["fit", target, "-y", "y", "--format", "json"])
        out["wall"] = time.perf_counter() - t0
        if status != 0:
            raise RuntimeError(f"olsnet fit {target} failed with status {status}")
        res = json.loads(text.getvalue())["outputs"][0]["coefficients"]
        out["coef"] = [c["coef"] for c in res]
    elif mode == "duckdb":  # DuckDB alone: the query's result as Arrow record batches
        import duckdb

        t0 = time.perf_counter()
        con = duckdb.connect()
        rows = sum(b.num_rows for b in con.sql(target).to_arrow_reader(BATCH))
        out["wall"] = time.perf_counter() - t0
        out["nobs"] = rows
    elif mode == "sql":  # what `olsnet fit --sql QUERY -y y` runs (olsnet.cli._fit.fit_model)
        import duckdb

        import olsnet

        t0 = time.perf_counter()
        model = olsnet.LinearRegression().fit(olsnet.read(sql=target, y="y"))
        out["wall"] = time.perf_counter() - t0
        out["coef"] = model.result_.params.tolist()
        out["nobs"] = model.result_.nobs
    elif mode == "memory":  # every row as one array, fitted in memory
        import pyarrow.parquet as pq

        import olsnet

        table = pq.read_table(target)
        names = [c for c in table.column_names if c != "y"]
        X = np.column_stack([table.column(c).to_numpy() for c in names])
        y = table.column("y").to_numpy()
        del table
        t0 = time.perf_counter()
        model = olsnet.LinearRegression().fit(X, y)
        out["wall"] = time.perf_counter() - t0
        out["coef"] = model.result_.params.tolist()
    out["maxrss_mb"] = peak_rss_mb()
    return out


def run_child(mode: str, target: str) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode, target]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _alternating(jobs: list[tuple[str, str]], repeats: int) -> list[dict[str, object]]:
    runs: list[list[dict[str, object]]] = [[] for _ in jobs]
    for _ in range(repeats):
        for i, (mode, target) in enumerate(jobs):
            runs[i].append(run_child(mode, target))
    out = []
    for r in runs:
        best = dict(r[0])
        best["wall"] = statistics.median(x["wall"] for x in r)  # type: ignore[misc]
        best["maxrss_mb"] = max(x["maxrss_mb"] for x in r)  # type: ignore[type-var]
        out.append(best)
    return out


def part_dialect(rows: int, repeats: int) -> str:
    plain, europe = dialect_files(rows, 19)
    a, b = _alternating([("csv", str(plain)), ("csv-europe", str(europe))], repeats)
    table = _common.markdown_table(
        ["file", "median s", "ratio", "coef rel diff"],
        [
            ["plain CSV (',' and '.')", f"{a['wall']:.3f}", "1.00", "-"],
            [
                "';' and decimal comma (sniffed)",
                f"{b['wall']:.3f}",
                f"{b['wall'] / a['wall']:.2f}",  # type: ignore[operator]
                f"{_rel(b['coef'], a['coef']):.1e}",
            ],
        ],
    )
    return (
        f"### CSV dialects ({rows:,} rows x 20 columns, `olsnet fit FILE -y y --format json` "
        f"in-process after a warm-up call on the file's first 200 lines, median of {repeats} "
        f"alternating runs)\n\n{table}\n\n"
        "Target: the European file within 1.2x the plain one."
    )


def part_sql(parquet: Path, repeats: int) -> str:
    sql = _query(parquet)
    duck, ours = _alternating([("duckdb", sql), ("sql", sql)], repeats)
    memory = run_child("memory", str(parquet))
    table = _common.markdown_table(
        ["job", "median s", "ratio", "peak RSS MB", "coef rel diff vs in-memory"],
        [
            [
                "DuckDB alone (Arrow batches)",
                f"{duck['wall']:.2f}",
                "1.00",
                f"{duck['maxrss_mb']:.0f}",
                "-",
            ],
            [
                "olsnet fit --sql",
                f"{ours['wall']:.2f}",
                f"{ours['wall'] / duck['wall']:.2f}",  # type: ignore[operator]
                f"{ours['maxrss_mb']:.0f}",
                f"{_rel(ours['coef'], memory['coef']):.1e}",
            ],
            [
                "in-memory fit (reference)",
                f"{memory['wall']:.2f}",
                "-",
                f"{memory['maxrss_mb']:.0f}",
                "0",
            ],
        ],
    )
    return (
        f"### SQL through DuckDB ({ours['nobs']:,} Parquet rows x 20 float64 columns, "
        f"`{sql.replace(str(parquet), 'DATA')}`, median of {repeats} alternating runs)\n\n"
        f"{table}\n\nTargets: <= 1.5x DuckDB alone, peak RSS < 400 MB, coefficients equal to "
        "the in-memory fit to 1e-12."
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="dialect,sql")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "TARGET"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    parts = args.parts.split(",")
    files, per_file, repeats = (2, 100_000, 1) if args.quick else (10, 1_000_000, 5)
    sections = [
        f"## Reading data (`benchmarks/bench_read.py{' --quick' if args.quick else ''}`)",
        _common.environment_note(),
    ]
    if "dialect" in parts:
        sections.append(part_dialect(100_000, repeats))
        print(sections[-1], flush=True)
    if "sql" in parts:
        sections.append(part_sql(parquet_dataset(files, per_file, 19), repeats))
        print(sections[-1], flush=True)
    if args.quick:
        sections.append("(--quick sizes: a smoke run of the script, not the issue's sizes.)")
    path = _common.write_section("read", "\n\n".join(sections))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
