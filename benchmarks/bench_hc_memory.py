"""Peak memory of the streamed HC3 pass against the first pass (issue 13 item 15).

Writes a 4,000,000 x 20 float64 Parquet file (row groups of 65,536 rows, ~640 MB) and a
1,000,000 x 20 CSV into a temporary folder, then in fresh subprocesses measures the peak RSS
(VmHWM) and wall time of

* the first pass: ``olsnet.LinearRegression().fit(olsnet.read(path, y="y"))``, and
* the same followed by the streamed second pass ``.result_.with_cov("HC3").bse``,

each next to the child's RSS after its imports. Prints a markdown table; ``--out FILE``
also writes it.

    PYTHONPATH=src python benchmarks/bench_hc_memory.py [--rows 4000000] [--csv-rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith(("VmHWM", "VmRSS")):
            yield line.split()[0][:-1], int(line.split()[1]) / 1024
import numpy as np, olsnet
base = dict(hwm())
path, hc = sys.argv[1], sys.argv[2] == "1"
t0 = time.perf_counter()
model = olsnet.LinearRegression().fit(olsnet.read(path, y="y"))
t1 = time.perf_counter()
out = {"base_rss": base["VmRSS"], "fit_s": t1 - t0}
if hc:
    bse = np.asarray(model.result_.with_cov("HC3").bse)
    out["hc_s"] = time.perf_counter() - t1
    out["bse"] = bse.ravel().tolist()
out["peak"] = dict(hwm())["VmHWM"]
print(json.dumps(out))
"""


def write_parquet(path: Path, rows: int, cols: int, group: int = 65_536) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"x{j}" for j in range(cols - 1)] + ["y"]
    beta = np.linspace(-1, 1, cols - 1)
    schema = pa.schema([(n, pa.float64()) for n in names])
    with pq.ParquetWriter(path, schema) as w:
        for s in range(0, rows, group):
            b = min(group, rows - s)
            X = rng.standard_normal((b, cols - 1))
            y = X @ beta + rng.standard_normal(b) * (1 + np.abs(X[:, 0]))
            arrays = [pa.array(X[:, j]) for j in range(cols - 1)] + [pa.array(y)]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=group)


def write_csv(path: Path, rows: int, cols: int) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(1)
    names = [f"x{j}" for j in range(cols - 1)] + ["y"]
    beta = np.linspace(-1, 1, cols - 1)
    schema = pa.schema([(n, pa.float64()) for n in names])
    with pcsv.CSVWriter(path, schema) as w:
        for s in range(0, rows, 100_000):
            b = min(100_000, rows - s)
            X = rng.standard_normal((b, cols - 1))
            y = X @ beta + rng.standard_normal(b) * (1 + np.abs(X[:, 0]))
            arrays = [pa.array(X[:, j]) for j in range(cols - 1)] + [pa.array(y)]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema))


def measure(path: Path, hc: bool, timeout: float = 600) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), "1" if hc else "0"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--csv-rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = [
        "| file | rows x cols | RSS after import MB | first pass peak MB | first pass s "
        "| with HC3 peak MB | HC3 pass s | HC3 - first MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("Parquet", Path(tmp, "big.parquet"), args.rows, write_parquet),
            ("CSV", Path(tmp, "big.csv"), args.csv_rows, write_csv),
        ]
        for kind, path, rows, writer in cases:
            t = time.perf_counter()
            writer(path, rows, args.cols)
            size = path.stat().st_size / 2**20
            print(
                f"wrote {path.name}: {size:.0f} MB in {time.perf_counter() - t:.1f} s", flush=True
            )
            a = measure(path, hc=False)
            b = measure(path, hc=True)
            lines.append(
                f"| {kind} ({size:.0f} MB) | {rows:,} x {args.cols} | {a['base_rss']:.0f} "
                f"| {a['peak']:.0f} | {a['fit_s']:.1f} | {b['peak']:.0f} | {b['hc_s']:.1f} "
                f"| {b['peak'] - a['peak']:+.0f} |"
            )
            print(lines[-1], flush=True)
            path.unlink()
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
