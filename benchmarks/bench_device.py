"""The GPU and many-core figures of issue 14, in one script (target: under 10 minutes on one H200
plus 16 cores, its CUDA tests included).

    python benchmarks/bench_device.py [--quick] [--no-tests] [--cpu-only] [--no-stages]
                                      [--rows N] [--out FILE]
    python benchmarks/bench_device.py --merge FILE     # install a section measured elsewhere

Parts, in this order (each printed as it finishes; the section is rewritten after each):

1. ``pytest -m cuda`` (the CUDA-only tests; skipped without CUDA).
2. GPU: ``LinearRegression().fit`` on a CUDA tensor (rows x 100) float64, warm, nonrobust
   inference included (params, bse, t, p read inside the timing; target <= 25 ms at 8,000,000
   rows), side by side with plain torch: normal equations + Cholesky, ``torch.linalg.qr`` (R
   only), ``torch.linalg.lstsq``; NIST StRD floors fitted on the GPU.
3. CPU: the in-memory fit of the same (rows x 100) array on every core (target <= 0.25 s at
   8,000,000 rows on 16 cores); ``fit_state_threaded`` on (rows/2 x 20) and the Parquet file fold
   of the same rows at 1, 2, 4, 8, 16 threads (target: 16 threads >= 8x one thread); then the
   stages of each (``cpu_stages``: the Gram pass against NumPy's ``X.T @ X``, the fold's LAPACK
   kernel alone and the fold without the pool at 1 and all threads, a merge, Parquet reading
   alone), so a run that misses a target says where the time went.
4. Trainer: ``LinearNetwork(100, device="cuda").fit`` on (rows/2 x 100), objective "auto"
   against "data".

Writes ``benchmarks/results/device.md`` and that section of BENCHMARKS.md, and, when the
variable ``OUT`` is set (the device machine of this workplace) or ``--out`` is given, the same
section to that file, so it can be brought back and installed with ``--merge``. Without CUDA the
GPU parts are skipped (said so), the CPU parts run, the script exits 0, and the section keeps
the GPU figures of the last run that had a GPU, with their date (or says there were none).
"""

from __future__ import annotations

# isort: off
import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process

# isort: on
import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "device.md"
BENCH_MD = ROOT / "BENCHMARKS.md"
TITLE = "## GPU and many cores (`python benchmarks/bench_device.py`)"
GPU_START, GPU_END = "<!-- device:gpu -->", "<!-- /device:gpu -->"
THREADS = (1, 2, 4, 8, 16)
P = 100


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def median(
    fn: Callable[[], object], repeats: int, warmup: int = 1, sync: Callable = lambda: None
) -> float:
    for _ in range(warmup):
        fn()
        sync()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def verdict(t: float | None, target: float, at_size: bool) -> str:
    if t is None:
        return "**not measured** (failed)."
    if not at_size:
        return "not judged (this run is not at the target's size)."
    return "**met**." if t <= target else "**NOT met**."


def fmt_s(t: float | None) -> str:
    if t is None:
        return "–"
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


# -- 1. CUDA tests -------------------------------------------------------------------------------


def cuda_tests(timeout: int) -> str:
    # only the modules that hold CUDA tests: the device machine lacks optional packages (dask)
    # that other test modules import, and their collection errors are not CUDA failures
    files = sorted(
        str(f.relative_to(ROOT))
        for f in (ROOT / "tests").rglob("test_*.py")
        if "mark.cuda" in f.read_text(encoding="utf-8")
    )
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"]
    cmd += ["--continue-on-collection-errors", "-rs", *files]
    log("running " + " ".join(cmd[1:]))
    t0 = time.perf_counter()
    problems: list[str] = []
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        text = (out.stdout + out.stderr).strip()
        last = text.splitlines()[-1] if text else "(no output)"
        # failures, and modules that could not be collected (a package missing on this machine)
        problems = [ln for ln in text.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        print("\n".join([text[-3000:], *problems]), flush=True)
        status = "passed" if out.returncode == 0 else f"FAILED (exit {out.returncode})"
    except subprocess.TimeoutExpired:
        last, status = f"stopped after {timeout} s", "TIMED OUT"
    took = time.perf_counter() - t0
    listed = "".join(f"\n- `{ln}`" for ln in problems)
    return f"`pytest -m cuda tests`: **{status}** — {last.strip('= ')} ({took:.0f} s).{listed}"


# -- 2. GPU --------------------------------------------------------------------------------------


def gpu_part(rows: int, repeats: int, nist_dir: Path) -> tuple[str, dict[str, float]]:
    import torch

    import olsnet
    from olsnet._nist import NIST_NAMES, lre, read_nist
    from olsnet.solve._device import device_lstsq

    dev = torch.device("cuda")
    sync = torch.cuda.synchronize
    g = torch.Generator(device=dev).manual_seed(0)
    X = torch.randn((rows, P), generator=g, dtype=torch.float64, device=dev)
    beta = torch.linspace(-1.0, 1.0, P, dtype=torch.float64, device=dev)
    y = X @ beta + 2.0 + torch.randn((rows,), generator=g, dtype=torch.float64, device=dev)
    sync()

    def olsnet_fit() -> None:
        res = olsnet.LinearRegression().fit(X, y).result_
        _ = (res.params, res.bse, res.tvalues, res.pvalues)

    def normal_equations() -> None:  # plain torch: [1 X] implied, Gram, Cholesky, no checks
        ones = torch.ones((rows, 1), dtype=X.dtype, device=dev)
        G = torch.empty((P + 1, P + 1), dtype=X.dtype, device=dev)
        G[1:, 1:] = X.T @ X
        s = X.T @ torch.cat([ones, y[:, None]], dim=1)
        G[0, 0], G[0, 1:], G[1:, 0] = rows, s[:, 0], s[:, 0]
        b = torch.cat([y.sum()[None], s[:, 1]])[:, None]
        torch.cholesky_solve(b, torch.linalg.cholesky(G))

    def qr_r() -> None:
        torch.linalg.qr(
            torch.cat([torch.ones((rows, 1), dtype=X.dtype, device=dev), X], 1), mode="r"
        )

    def lstsq() -> None:
        A = torch.cat([torch.ones((rows, 1), dtype=X.dtype, device=dev), X], 1)
        torch.linalg.lstsq(A, y[:, None])

    times: dict[str, float] = {}
    rows_out = []
    name = f"({rows:,} x {P}) float64"
    for label, fn, reps in [
        ("olsnet `LinearRegression().fit` + params, bse, t, p", olsnet_fit, repeats),
        ("torch normal equations + `cholesky_solve` (no checks)", normal_equations, repeats),
        ("torch `linalg.qr(mode='r')` (R only)", qr_r, max(3, repeats // 4)),
        ("torch `linalg.lstsq`", lstsq, 2),
    ]:
        try:
            t = median(fn, reps, warmup=2, sync=sync)
            times[label] = t
            rows_out.append([label, fmt_s(t)])
        except Exception as exc:  # a peer that fails at this size is reported, not fatal
            msg = " ".join(str(exc).split())[:120]
            rows_out.append([label, f"failed: {type(exc).__name__}: {msg}"])
        log(f"GPU {label}: {rows_out[-1][1]}")
        torch.cuda.empty_cache()
    t_ols = times.get(rows_out[0][0])
    lines = [
        f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}.",
        "",
        f"Fit on a CUDA tensor {name}, warm, median of {repeats}; the olsnet row includes the "
        f"nonrobust inference (read inside the timing). Target ≤ 25 ms at 8,000,000 rows: "
        + verdict(t_ols, 0.025, rows == 8_000_000),
        "",
        _common.markdown_table(["computation", "median"], rows_out),
    ]
    ne = times.get("torch normal equations + `cholesky_solve` (no checks)")
    if t_ols and ne:
        lines.append(f"\nolsnet / plain normal equations: {t_ols / ne:.2f}x.")
    sol = device_lstsq(X, y[:, None], None, True)
    cpu = olsnet.solve.lstsq(X[:200_000].cpu().numpy(), y[:200_000, None].cpu().numpy())
    gpu = device_lstsq(X[:200_000], y[:200_000, None], None, True)
    diff = float(np.max(np.abs(gpu.params - cpu.params) / np.abs(cpu.params)))
    lines.append(
        f"olsnet's path on this data: `{sol.method}`; on its first 200,000 rows GPU and NumPy "
        f"coefficients differ by at most {diff:.1e} (relative)."
    )
    # NIST on the GPU
    nist_rows = []
    ok = True
    for nm in NIST_NAMES:
        case = read_nist(nist_dir / f"{nm}.dat")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = (
                olsnet.LinearRegression(fit_intercept=case.fit_intercept)
                .fit(torch.as_tensor(case.X, device=dev), torch.as_tensor(case.y, device=dev))
                .result_
            )
        vals = [lre(float(r.params[j]), b) for j, b in enumerate(case.params)]
        vals += [lre(float(r.bse[j]), s) for j, s in enumerate(case.bse)]
        vals += [lre(float(np.sqrt(r.scale)), case.resid_sd), lre(float(r.rsquared), case.rsquared)]
        floor = 7.5 if nm == "Filip" else 12.0
        ok &= min(vals) >= floor
        nist_rows.append([nm, floor, round(min(vals), 1)])
    log(f"GPU NIST floors met: {ok}")
    lines += [
        "",
        f"NIST StRD fitted from CUDA tensors (minimum LRE over every coefficient, standard error, "
        f"residual SD and R²; floors 12, 7.5 on Filip): all met: **{ok}**.",
        "",
        _common.markdown_table(["dataset", "floor", "olsnet on the GPU"], nist_rows),
    ]
    return "\n".join(lines), times


# -- 3. CPU --------------------------------------------------------------------------------------


def cpu_part(X: np.ndarray, y: np.ndarray, repeats: int, tmp: Path, stages: bool = True) -> str:
    import olsnet

    rows = X.shape[0]
    t_fit = median(lambda: olsnet.LinearRegression().fit(X, y), repeats)
    log(f"CPU in-memory fit {X.shape}: {fmt_s(t_fit)}")
    at_size = rows == 8_000_000 and (os.cpu_count() or 1) >= 16
    lines = [
        f"In-memory `LinearRegression().fit` of ({rows:,} x {X.shape[1]}) NumPy float64 on "
        f"{os.cpu_count()} cores (default settings), median of {repeats}: **{fmt_s(t_fit)}**; "
        "target ≤ 0.25 s at 8,000,000 rows on 16 cores: " + verdict(t_fit, 0.25, at_size),
    ]
    # the threaded fold and the file fold on (rows/2 x 20)
    half = rows // 2
    Xs = np.ascontiguousarray(X[:half, :20])
    Ys = np.ascontiguousarray(y[:half, None])
    fold_rows = []
    t1 = {}
    try:
        from olsnet.scale import fit_state_threaded

        def threaded(n: int) -> object:
            return fit_state_threaded((Xs, Ys, None), True, n)
    except ImportError:  # pragma: no cover - renamed by a later version
        threaded = None
    source = None
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp / "fold.parquet"
        cols = {f"x{j + 1}": Xs[:, j] for j in range(20)} | {"y": Ys[:, 0]}
        pq.write_table(pa.table(cols), path, row_group_size=131072)
        source = olsnet.read(path, y="y")
    except Exception as exc:  # pragma: no cover - no pyarrow
        log(f"file fold skipped: {exc}")

    def file_fold(n: int) -> object:
        return source.fit_state(True, n_jobs=n)  # the source protocol (olsnet.data.Source)

    for n in THREADS:
        row: list[object] = [n]
        for label, fn in [
            ("threaded", threaded),
            ("file", file_fold if source is not None else None),
        ]:
            if fn is None:
                row.append("–")
                continue
            t = median(lambda fn=fn, n=n: fn(n), max(2, repeats))
            t1.setdefault(label, t)
            row.append(f"{fmt_s(t)} ({t1[label] / t:.1f}x)")
        fold_rows.append(row)
        log(f"CPU folds at {n} threads: {row[1:]}")
    lines += [
        "",
        f"Folds of ({half:,} x 20) at 1–16 threads (median of {max(2, repeats)}; in brackets the "
        "speed-up over one thread; target: 16 threads ≥ 8x one thread):",
        "",
        _common.markdown_table(
            ["threads", "`fit_state_threaded` (arrays)", "file fold (`olsnet.read`, Parquet)"],
            fold_rows,
        ),
    ]
    if stages:
        try:
            lines += ["", cpu_stages(X, y, t_fit, Xs, Ys, path if source is not None else None)]
        except Exception as exc:  # diagnostics never cost the figures above
            log(f"CPU stages failed: {type(exc).__name__}: {exc}")
            lines += ["", f"CPU stages: failed ({type(exc).__name__}: {exc})."]
    return "\n".join(lines)


# -- 3b. CPU stages (diagnostics) ----------------------------------------------------------------


def run_threads(fns: list[Callable[[], object]]) -> float:
    """Wall time of running each of ``fns`` on its own thread, started together."""
    import threading

    barrier = threading.Barrier(len(fns) + 1)
    errors: list[BaseException] = []

    def run(fn: Callable[[], object]) -> None:
        barrier.wait()
        try:
            fn()
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return took


def cpu_stages(
    X: np.ndarray,
    y: np.ndarray,
    t_fit: float,
    Xs: np.ndarray,
    Ys: np.ndarray,
    parquet: Path | None,
) -> str:
    """Where the CPU time goes, stage by stage, at one thread and at every core: the in-memory
    fit's Gram pass against NumPy's ``X.T @ X`` and one single-threaded read of X; the array
    fold's LAPACK kernel alone, the fold without the pool, the pool; the Parquet reading alone.
    Each is a median of 3; T is the number of cores."""
    import olsnet
    from olsnet.solve import _gram
    from olsnet.solve._blas import ChunkQR, usable_cpus
    from olsnet.solve._fold import fold_arrays, qr_chunk

    T = os.cpu_count() or 1
    n, p = X.shape
    Y = y[:, None]
    out: list[list[object]] = []

    def stage(name: str, fn: Callable[[], object], note: str = "") -> float:
        t = median(fn, 3)
        out.append([name, fmt_s(t), note])
        log(f"stage {name}: {fmt_s(t)} {note}")
        return t

    # the in-memory fit of (n x 100)
    method = olsnet.LinearRegression().fit(X, y).result_.solution.method
    k = 1 + p + 1
    wide = (
        k >= _gram.GRAM_BLAS_THREADED_MIN_K and usable_cpus() >= _gram.GRAM_BLAS_THREADED_MIN_CPUS
    )
    out.append(
        [
            "fit (above)",
            fmt_s(t_fit),
            f"method `{method}`; many-core wide Gram path: {wide} ({usable_cpus()} usable CPUs)",
        ]
    )
    stage("NumPy `X.T @ X` (dsyrk, all BLAS threads)", lambda: X.T @ X)
    t_gram = stage(
        "`gram_state` (the fit's pass over X)", lambda: _gram.gram_state(X, Y, None, True)
    )
    out.append(["fit minus `gram_state`", fmt_s(max(t_fit - t_gram, 0.0)), "checks, solve, result"])
    for rows in (1 << 14, 1 << 16, 1 << 18, n):
        stage(
            f"dsyrk-blocked Gram, {rows:,}-row blocks" if rows < n else "dsyrk Gram, X whole",
            lambda rows=rows: _gram._gram_rows(X, Y, None, None, True, range(n), rows, True),
        )
    stage(
        "one single-threaded read of X (`X.sum(axis=0)`)",
        lambda: X.sum(axis=0),
        "any 1-thread pass",
    )
    # the array fold of (half x 20), k = 22
    half, kk = Xs.shape[0], Xs.shape[1] + 2
    rows, nb = qr_chunk(kk)
    src = np.asfortranarray(np.random.default_rng(3).standard_normal((rows, kk)))
    calls = max(1, half // rows // T)

    def kernel_only(qr: ChunkQR) -> None:
        for _ in range(calls):
            qr.buf[...] = src
            qr.fold(rows)

    qrs = [ChunkQR(rows, kk, nb) for _ in range(T)]
    t1 = stage(
        f"dtpqrt kernel only, 1 thread ({calls} chunks of {rows} rows)", lambda: kernel_only(qrs[0])
    )
    tT = stage(
        f"dtpqrt kernel only, {T} threads (the same on each)",
        lambda: run_threads([lambda q=q: kernel_only(q) for q in qrs]),
    )
    out[-1][2] = f"scaling {T * t1 / tT:.1f}x of {T}"
    shares = np.linspace(0, half, T + 1).astype(int)

    def fold_share(i: int) -> object:
        a, b = shares[i], shares[i + 1]
        return fold_arrays(Xs[a:b], Ys[a:b], None, True)

    f1 = stage(
        "`fold_arrays`, all rows, 1 thread (no pool)", lambda: fold_arrays(Xs, Ys, None, True)
    )
    fT = stage(
        f"`fold_arrays`, {T} threads on {T} shares (no pool, no merge)",
        lambda: run_threads([lambda i=i: fold_share(i) for i in range(T)]),
    )
    out[-1][2] = f"speed-up {f1 / fT:.1f}x"
    a = fold_arrays(Xs[:131072], Ys[:131072], None, True)
    b = fold_arrays(Xs[131072:262144], Ys[131072:262144], None, True)
    t_merge = median(lambda: [a.merge(b) for _ in range(100)], 3) / 100
    out.append(
        [
            "one merge of two states (k = 22), calling thread",
            fmt_s(t_merge),
            "one per 131,072-row task",
        ]
    )
    if parquet is not None:
        import pyarrow.parquet as pq

        from olsnet.data.files._arrow import parquet_spans, read_parquet_span

        cols = [f"x{j + 1}" for j in range(20)] + ["y"]
        stage(
            "Parquet `pq.read_table` (pyarrow's threads)",
            lambda: pq.read_table(parquet, columns=cols),
        )
        meta, spans = parquet_spans(parquet, 65536)

        def read_spans(mine: list) -> None:
            for groups, _, _ in mine:
                for _ in read_parquet_span(parquet, meta, groups, cols, 65536):
                    pass

        r1 = stage("Parquet spans read on 1 thread (no fold)", lambda: read_spans(spans))
        rT = stage(
            f"Parquet spans read on {T} threads (no fold)",
            lambda: run_threads([lambda i=i: read_spans(spans[i::T]) for i in range(T)]),
        )
        out[-1][2] = f"speed-up {r1 / rT:.1f}x"
    return f"Stages (diagnostics; median of 3; T = {T} threads):\n\n" + _common.markdown_table(
        ["stage", "wall time", "note"], out
    )


# -- 4. trainer ----------------------------------------------------------------------------------


def trainer_part(X: np.ndarray, y: np.ndarray) -> str:
    import torch

    import olsnet
    from olsnet.nn.training.objective import moment_matrix

    sync = torch.cuda.synchronize

    def timed(fn: Callable[[], object]) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    runs: dict[str, list[str]] = {}
    chosen: dict[str, tuple[str, int]] = {}
    for objective in ("data", "auto", "data", "auto"):  # two rounds: the first pays warm-ups
        net = olsnet.LinearNetwork(X.shape[1], seed=0, device="cuda")
        t = timed(lambda net=net, objective=objective: net.fit(X, y, objective=objective))
        runs.setdefault(objective, []).append(fmt_s(t))
        chosen[objective] = (net.training_log_.objective, net.training_log_.epochs)
        log(f"trainer objective={objective}: {fmt_s(t)} ({chosen[objective]})")
    rows = [[o, chosen[o][0], chosen[o][1], *runs[o]] for o in ("auto", "data")]
    Y = y[:, None]
    kw = dict(x_mean=X.mean(0), x_scale=X.std(0), y_mean=float(y.mean()), y_scale=float(y.std()))
    stages = [
        [
            "upload of X (`torch.tensor(X, device='cuda')`)",
            fmt_s(timed(lambda: torch.tensor(X, device="cuda"))),
        ],
        [
            "moment matrix on the GPU (`moment_matrix(device='cuda')`)",
            fmt_s(timed(lambda: moment_matrix(X, Y, device="cuda", **kw))),
        ],
        [
            "moment matrix on the CPU (`moment_matrix`, before this change)",
            fmt_s(timed(lambda: moment_matrix(X, Y, **kw))),
        ],
    ]
    log(f"trainer stages: {stages}")
    return (
        f"`LinearNetwork({X.shape[1]}, device='cuda').fit` on ({X.shape[0]:,} x {X.shape[1]}) "
        "from NumPy (the upload is inside the timing), two rounds:\n\n"
        + _common.markdown_table(["objective", "chosen", "epochs", "first run", "second run"], rows)
        + "\n\nIts stages, timed alone:\n\n"
        + _common.markdown_table(["stage", "wall time"], stages)
    )


# -- writing -------------------------------------------------------------------------------------


def previous_gpu_block() -> str | None:
    if not RESULTS.exists():
        return None
    m = re.search(re.escape(GPU_START) + r"(.*?)" + re.escape(GPU_END), RESULTS.read_text(), re.S)
    return m.group(1).strip() if m else None


def install(section: str) -> None:
    """results/device.md and this section of BENCHMARKS.md (the others are kept)."""
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(section.rstrip() + "\n")
    text = BENCH_MD.read_text() if BENCH_MD.exists() else "# olsnet benchmarks\n"
    start = text.find(TITLE)
    if start < 0:
        text = text.rstrip() + "\n\n" + section.strip() + "\n"
    else:
        nxt = text.find("\n## ", start + len(TITLE))
        end = len(text) if nxt < 0 else nxt + 1
        text = text[:start] + section.strip() + "\n" + ("\n" + text[end:] if nxt >= 0 else "")
    BENCH_MD.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (same sizes)")
    ap.add_argument("--no-tests", action="store_true", help="skip pytest -m cuda")
    ap.add_argument("--rows", type=int, default=8_000_000, help="rows of the (rows x 100) fit")
    ap.add_argument("--out", type=Path, default=None, help="also write the section here")
    ap.add_argument("--test-timeout", type=int, default=240)
    ap.add_argument("--merge", type=Path, default=None, help="install a section measured elsewhere")
    ap.add_argument(
        "--cpu-only", action="store_true", help="only the CPU parts (the GPU figures are kept)"
    )
    ap.add_argument("--no-stages", action="store_true", help="skip the CPU stage diagnostics")
    args = ap.parse_args()
    if args.merge is not None:
        install(args.merge.read_text())
        print(f"installed {args.merge} into {RESULTS} and BENCHMARKS.md")
        return 0
    out = args.out
    if out is None and os.environ.get("OUT"):
        out = Path(os.environ["OUT"]) / "bench_device.md"
    repeats = 5 if args.quick else 15
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    cpu_name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    head = [
        TITLE,
        "",
        f"Measured {stamp} on {cpu_name} ({os.cpu_count()} cores). {_common.environment_note()}",
    ]
    parts: dict[str, str] = {}

    def write() -> None:
        gpu = parts.get("gpu")
        if gpu is None:
            prev = previous_gpu_block()
            gpu = (
                "This run had no CUDA device: the GPU figures below are from the last run that "
                "had one.\n\n" + prev
                if prev
                else "GPU figures: **not measured** (no run on a machine with a CUDA device yet)."
            )
        body = [*head, "", "### GPU", "", GPU_START, gpu, GPU_END]
        if "cpu" in parts:
            body += ["", "### CPU (in memory, threads, files)", "", parts["cpu"]]
        if "trainer" in parts:
            body += ["", "### Trainer on the GPU", "", parts["trainer"]]
        section = "\n".join(body) + "\n"
        install(section)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(section)

    t_start = time.perf_counter()
    gpu_lines = []
    if has_cuda and not args.cpu_only:
        if not args.no_tests:
            gpu_lines.append(cuda_tests(args.test_timeout))
        text, _ = gpu_part(args.rows, repeats, ROOT / "tests" / "data" / "nist")
        torch.cuda.empty_cache()  # the (rows x 100) tensors of the GPU part are gone
        gpu_lines.append(text)
        parts["gpu"] = f"Measured {stamp}.\n\n" + "\n\n".join(gpu_lines)
        write()
    else:
        log("no CUDA device (or --cpu-only): the GPU parts are skipped")
    # host data: from the GPU when there is one (fast), else generated here
    rows = args.rows
    need = rows * (P + 1) * 8 * 2.5
    avail = (
        os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if hasattr(os, "sysconf")
        else need
    )
    if need > avail:
        rows = int(rows * avail / need) // 1000 * 1000
        log(f"only {avail / 2**30:.1f} GiB of memory available: CPU parts at {rows:,} rows")
    if has_cuda:
        g = torch.Generator(device="cuda").manual_seed(1)
        Xd = torch.randn((rows, P), generator=g, dtype=torch.float64, device="cuda")
        X = Xd.cpu().numpy()
        del Xd
    else:
        X = np.random.default_rng(1).standard_normal((rows, P))
    y = X @ np.linspace(-1.0, 1.0, P) + 2.0 + np.random.default_rng(2).standard_normal(rows)
    with tempfile.TemporaryDirectory() as tmp:
        parts["cpu"] = cpu_part(X, y, 3 if args.quick else 5, Path(tmp), not args.no_stages)
    write()
    if has_cuda and not args.cpu_only:
        half = rows // 2
        parts["trainer"] = trainer_part(X[:half], y[:half])
        write()
    log(
        f"done in {time.perf_counter() - t_start:.0f} s; wrote {RESULTS}, BENCHMARKS.md"
        + (f", {out}" if out else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
