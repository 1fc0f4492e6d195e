"""Scale: streaming files, both cores and a dask cluster against their baselines.

    python benchmarks/bench_scale.py [--quick] [--parts kernel,stream,memory,dask]

Writes benchmarks/results/scale.md. Data are generated once into benchmarks/_data/ (ignored by
git) and reused. Every streaming fit runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is that of the whole fitting process; the in-memory reference fit runs in
another subprocess. Targets (issue 6): streaming peak RSS <= 400 MB and wall time <= 1.5x
pyarrow alone reading the same batches; dask <= 0.5x ``dask.array.linalg.lstsq``; all fits
equal to the in-memory fit within 1e-12 relative.
"""

from __future__ import annotations

# isort: off
import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process

# isort: on
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DATA = HERE / "_data"
BATCH = 65536
ROW_GROUP = 131072  # rows per Parquet row group: pyarrow reads a whole group per batch


# ---------------------------------------------------------------------------- data


def _rows(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n, p) with offsets, y (n,) = 1.5 + X beta + noise; beta fixed across files."""
    rng = np.random.default_rng(seed)
    beta = np.linspace(-2.0, 2.0, p) + 0.25
    X = rng.standard_normal((n, p)) + np.linspace(-3.0, 3.0, p)
    return X, 1.5 + X @ beta + rng.standard_normal(n)


def _table(X: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    cols = {f"x{j + 1}": X[:, j] for j in range(X.shape[1])}
    cols["y"] = y
    return pa.table(cols)


def parquet_dataset(files: int, rows_per_file: int, p: int) -> Path:
    """Directory of ``files`` Parquet files (p features + y, float64), created once."""
    import pyarrow.parquet as pq

    root = DATA / f"scale-parquet-{files}x{rows_per_file}x{p + 1}"
    done = root / "_complete"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        for i in range(files):
            X, y = _rows(rows_per_file, p, seed=i)
            pq.write_table(
                _table(X, y),
                root / f"part-{i:03d}.parquet",
                row_group_size=ROW_GROUP,
                compression="none",
            )
        done.write_text("ok\n")
    return root


def csv_file(rows: int, p: int) -> Path:
    import pyarrow.csv as pcsv

    path = DATA / f"scale-{rows}x{p + 1}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with pcsv.CSVWriter(tmp, _table(*_rows(1, p, 0)).schema) as writer:
            for start in range(0, rows, 500_000):
                writer.write_table(_table(*_rows(min(500_000, rows - start), p, seed=100 + start)))
        tmp.rename(path)
    return path


# ---------------------------------------------------------------------------- child processes


def _files(target: str, count: int) -> list[str]:
    path = Path(target)
    if path.is_dir():
        return [str(f) for f in sorted(path.glob("*.parquet"))[:count]]
    return [str(path)]


def child(mode: str, target: str, count: int) -> dict[str, object]:
    """Run one measured job in this (fresh) process and return its numbers."""
    files = _files(target, count)
    import pyarrow.csv
    import pyarrow.parquet

    import olsnet
    import olsnet.estimator
    import olsnet.inference

    t0 = time.perf_counter()
    out: dict[str, object] = {}
    if mode == "stream":
        model = olsnet.LinearRegression().fit(olsnet.read(files, y="y"), n_jobs=2)
        out = {
            "coef": model.result_.params.tolist(),
            "bse": model.result_.bse.tolist(),
            "nobs": model.result_.nobs,
        }
    elif mode == "read":  # pyarrow alone, the same batches the source reads
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        from olsnet.data.files import DEFAULT_BATCH_ROWS, parquet_batch_rows
        from olsnet.data.files._arrow import CSV_BLOCK_BYTES

        n = 0
        for f in files:
            if f.endswith(".parquet"):
                pf = pq.ParquetFile(f, pre_buffer=False)
                size = parquet_batch_rows(pf, DEFAULT_BATCH_ROWS, pf.metadata.num_columns)
                batches = pf.iter_batches(batch_size=size)
            else:
                names = pcsv.open_csv(f).schema.names
                batches = pcsv.open_csv(
                    f,
                    read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                    convert_options=pcsv.ConvertOptions(
                        column_types=dict.fromkeys(names, pa.float64())
                    ),
                )
            for b in batches:
                n += b.num_rows
        out = {"nobs": n}
    elif mode == "memory":  # the whole data as one array, fitted in memory
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        tables = [pq.read_table(f) if f.endswith(".parquet") else pcsv.read_csv(f) for f in files]
        import pyarrow as pa

        table = pa.concat_tables(tables)
        names = [c for c in table.column_names if c != "y"]
        X = np.column_stack([table.column(c).to_numpy() for c in names])
        y = table.column("y").to_numpy()
        del table, tables
        model = olsnet.LinearRegression().fit(X, y)
        out = {
            "coef": model.result_.params.tolist(),
            "bse": model.result_.bse.tolist(),
            "nobs": model.result_.nobs,
        }
    out["wall"] = time.perf_counter() - t0
    out["maxrss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MB.

    Not ``getrusage().ru_maxrss``: Linux carries that across ``exec`` from the parent, so a
    child would report the parent's peak when it is larger.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the best available

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(mode: str, target: Path, count: int = 10**9) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", mode, str(target), str(count)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _rel(a: object, b: object) -> float:
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a_ - b_) / np.abs(b_)))


def _interleaved_medians(
    modes: tuple[str, ...], target: Path, repeats: int
) -> list[dict[str, object]]:
    """Median wall time of each mode, the runs alternating (read, fit, read, fit, ...) so that
    a change in the machine's load reaches both sides of the ratio alike."""
    runs: dict[str, list[dict[str, object]]] = {m: [] for m in modes}
    for _ in range(repeats):
        for m in modes:
            runs[m].append(run_child(m, target))
    out = []
    for m in modes:
        best = dict(runs[m][0])
        best["wall"] = statistics.median(r["wall"] for r in runs[m])  # type: ignore[misc]
        best["maxrss_mb"] = max(r["maxrss_mb"] for r in runs[m])  # type: ignore[type-var]
        best["walls"] = [r["wall"] for r in runs[m]]
        out.append(best)
    return out


# ---------------------------------------------------------------------------- parts


def part_kernel(n: int) -> str:
    """Fold kernels on (n, 21): the lead's QRState.fold, dtpqrt chunks, and two threads."""
    from threadpoolctl import threadpool_limits

    from olsnet.scale import fit_state_threaded, fold_arrays
    from olsnet.solve import QRState, exact_lstsq, solve_state

    X, y = _rows(n, 19, seed=7)
    Y = y[:, None]
    ref = exact_lstsq(X, Y, None, True).params

    def by_blocks() -> QRState:
        s = QRState.empty(19, 1, True)
        for i in range(0, n, BATCH):
            s = s.fold(X[i : i + BATCH], Y[i : i + BATCH])
        return s

    def fast(chunk: int) -> QRState:
        s = QRState.empty(19, 1, True)
        for i in range(0, n, BATCH):
            s = s.merge(fold_arrays(X[i : i + BATCH], Y[i : i + BATCH], None, True, chunk))
        return s

    rows = []
    cases = [("QRState.fold, 65,536-row blocks (geqrf on [R; block])", by_blocks)]
    cases += [
        (f"dtpqrt on {c:,}-row chunks, 1 thread", lambda c=c: fast(c)) for c in (1024, 4096, 16384)
    ]
    with threadpool_limits(1, user_api="blas"):
        timed = [(name, _common.median_time(fn, repeats=3), fn()) for name, fn in cases]
    timed.append(
        (
            "dtpqrt 4,096-row chunks, fit_state_threaded(n_jobs=2)",
            _common.median_time(lambda: fit_state_threaded((X, Y), True, 2), repeats=3),
            fit_state_threaded((X, Y), True, 2),
        )
    )
    base = timed[0][1]
    for name, t, state in timed:
        rows.append([name, t, base / t, _rel(solve_state(state).params, ref)])
    return f"### Folding kernels ({n:,} x 20 + intercept, in memory)\n\n" + _common.markdown_table(
        ["kernel", "median s", "speed-up", "max rel diff vs exact"], rows
    )


def part_stream(parquet: Path, csv: Path, repeats: int) -> str:
    rows = []
    for label, target in (("Parquet", parquet), ("CSV", csv)):
        read, fit = _interleaved_medians(("read", "stream"), target, repeats)
        mem = run_child("memory", target)
        ratio = fit["wall"] / read["wall"]  # type: ignore[operator]
        rows.append(
            [
                f"{label}, {fit['nobs']:,} rows x 20 cols",
                read["wall"],
                fit["wall"],
                ratio,
                fit["maxrss_mb"],
                _rel(fit["coef"], mem["coef"]),
                _rel(fit["bse"], mem["bse"]),
                mem["wall"],
                mem["maxrss_mb"],
                "yes" if ratio <= 1.5 and fit["maxrss_mb"] <= 400 else "no",  # type: ignore[operator]
            ]
        )
    header = [
        "data",
        "pyarrow read s",
        "olsnet stream fit s",
        "fit / read",
        "fit peak RSS MB",
        "coef rel diff",
        "SE rel diff",
        "in-memory fit s",
        "in-memory RSS MB",
        "meets 1.5x & 400 MB",
    ]
    return (
        "### Streaming files (fresh process per run; `fit(olsnet.read(...), n_jobs=2)`)"
        "\n\n" + _common.markdown_table(header, rows) + "\n\n"
        f"Parquet written with {ROW_GROUP:,}-row row groups, uncompressed (pyarrow's default "
        "encoding); both the source and the pyarrow baseline read one row group per batch "
        "(`olsnet.data.files.parquet_batch_rows`), CSV in 1 MB blocks. Medians of runs "
        "alternating read / fit. Rel diffs are the largest over all coefficients / SEs against the "
        "in-memory fit of the same data in another process."
    )


def part_memory(parquet: Path, counts: list[int], rows_per_file: int) -> str:
    rows = []
    for c in counts:
        fit = run_child("stream", parquet, c)
        rows.append([f"{c * rows_per_file:,}", fit["maxrss_mb"], fit["wall"]])
    return (
        "### Peak memory against rows (streaming Parquet, 20 columns)\n\n"
        + _common.markdown_table(["rows", "peak RSS MB", "fit s"], rows)
    )


def part_dask(n: int, p: int, chunk: int, repeats: int) -> str:
    import dask
    import dask.array as da
    import distributed

    import olsnet

    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        rs = da.random.RandomState(0)
        X = rs.standard_normal((n, p), chunks=(chunk, p)) + np.linspace(-3, 3, p)
        y = 1.5 + X @ (np.linspace(-2, 2, p) + 0.25) + rs.standard_normal(n, chunks=chunk)
        X, y = client.persist([X, y])
        distributed.wait([X, y])
        Xn, yn = dask.compute(X, y)
        ref = olsnet.LinearRegression().fit(Xn, yn)
        ref_params = ref.result_.params
        client.run(__import__, "olsnet.scale")  # warm the workers' imports

        fits = []

        def ours() -> None:
            fits.append(olsnet.LinearRegression().fit(X, y))

        X1 = da.concatenate([da.ones((n, 1), chunks=(chunk, 1)), X], axis=1).rechunk({1: -1})

        def lstsq() -> None:
            fits.append(dask.compute(*da.linalg.lstsq(X1, y))[0])

        t_ours = _common.median_time(ours, repeats=repeats, warmup=1)
        m = fits[-1]
        t_lstsq = _common.median_time(lstsq, repeats=repeats, warmup=1)
        lst = fits[-1]
        rows = [
            [
                "olsnet LinearRegression (QR states, tree reduction)",
                t_ours,
                t_ours / t_lstsq,
                _rel(m.result_.params, ref_params),
                _rel(m.result_.bse, ref.result_.bse),
            ],
            ["dask.array.linalg.lstsq (TSQR)", t_lstsq, 1.0, _rel(lst, ref_params), "-"],
        ]
        try:
            from dask_ml.linear_model import LinearRegression as DaskMLLinearRegression

            t0 = time.perf_counter()
            dm = DaskMLLinearRegression().fit(X, y)
            t_dm = time.perf_counter() - t0
            dm_params = np.concatenate([[dm.intercept_], np.ravel(dm.coef_)])
            rows.append(
                [
                    "dask-ml LinearRegression (lbfgs, ridge C=1)",
                    t_dm,
                    t_dm / t_lstsq,
                    _rel(dm_params, ref_params),
                    "-",
                ]
            )
        except ImportError:
            rows.append(["dask-ml LinearRegression", "not installed", "-", "-", "-"])
    finally:
        client.close()
        cluster.close()
    header = ["method", "median s", "vs lstsq", "coef rel diff vs in-memory", "SE rel diff"]
    return (
        f"### Dask ({n:,} x {p} float64, {chunk:,}-row chunks, 2-worker LocalCluster)\n\n"
        + _common.markdown_table(header, rows)
        + "\n\nTarget: olsnet <= 0.5x lstsq, "
        "equal to the in-memory fit within 1e-12."
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="kernel,stream,memory,dask")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "TARGET", "COUNT"))
    args = ap.parse_args()
    if args.child:
        mode, target, count = args.child
        print(json.dumps(child(mode, target, int(count))))
        return 0
    parts = args.parts.split(",")
    if args.quick:
        files, per_file, csv_rows, counts = 4, 100_000, 100_000, [1, 2, 4]
        dask_n, dask_chunk, kernel_n, repeats = 200_000, 20_000, 200_000, 1
    else:
        files, per_file, csv_rows, counts = 10, 1_000_000, 2_000_000, [1, 4, 10]
        dask_n, dask_chunk, kernel_n, repeats = 2_000_000, 100_000, 1_000_000, 3
    sections = [
        f"## Scale (`benchmarks/bench_scale.py{' --quick' if args.quick else ''}`)",
        _common.environment_note(),
    ]
    parquet = parquet_dataset(files, per_file, 19)
    csv = csv_file(csv_rows, 19)
    if "kernel" in parts:
        sections.append(part_kernel(kernel_n))
        print(sections[-1], flush=True)
    if "stream" in parts:
        sections.append(part_stream(parquet, csv, 1 if args.quick else 5))
        print(sections[-1], flush=True)
    if "memory" in parts:
        sections.append(part_memory(parquet, counts, per_file))
        print(sections[-1], flush=True)
    if "dask" in parts:
        sections.append(part_dask(dask_n, 50, dask_chunk, repeats))
        print(sections[-1], flush=True)
    if args.quick:
        sections.append("(--quick sizes: a smoke run of the script, not the issue's sizes.)")
    path = _common.write_section("scale", "\n\n".join(sections))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
