"""Formula models: a wide factor from Parquet against the same fit from a frame, and
predictions on raw rows with a saved formula model.

    python benchmarks/bench_formula.py [--rows N] [--levels L] [--repeats R] [--quick]
                                       [--part all|fit|predict]

Writes benchmarks/results/formula.md. Targets (issue 10, "Numbers and checks"):

* fitting ``y ~ x + C(g)`` with a 1,000-level factor ``g`` on 1,000,000 rows from Parquet
  (``olsnet.read(path, formula=...)``, streamed) within 2x the time of the same formula's fit
  from an in-memory pandas frame (``olsnet.ols(formula, frame)``); the two run side by side,
  alternating, in this one process, and the table gives the median of each and their ratio;
* predicting 1,000,000 raw rows with a saved formula model at 1,000,000 rows/s or more:
  ``olsnet.load`` then ``result.predict(raw_frame)``; streamed from Parquet and from CSV
  through ``olsnet.api.predict_files`` (``olsnet predict``'s library path; checked against
  the frame's predictions to 1e-12); and the command ``olsnet predict m.olsnet new.parquet
  -o out.parquet`` (and CSV, and CSV with ``--id``) in a fresh interpreter, whose wall time
  includes Python's startup, the imports and the model load (measured alone on a 1-row file
  and reported beside it).

Both fits are dominated by the exact QR fold of a dense (n, 1,002) design (2 n p^2 flops), the
same kernel on both paths; the formula layer adds the level pass over the file and the
per-block encoding, which is what the ratio measures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process

FIT_RATIO_TARGET = 2.0
PREDICT_TARGET = 1_000_000  # rows/s


def wide_factor_frame(n: int, levels: int, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = np.array([f"g{i:04d}" for i in range(levels)])
    code = rng.integers(0, levels, n)
    effect = rng.normal(size=levels)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + effect[code] + rng.normal(size=n)
    return pd.DataFrame({"g": names[code], "x": x, "y": y})


def houses_frame(n: int, seed: int = 1):
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "sqft": rng.uniform(40, 300, n),
            "city": rng.choice(["Aachen", "Bonn", "Koeln", "Mainz", "Trier"], n),
            "age": rng.integers(0, 80, n).astype(np.float64),
        }
    )
    df["price"] = 50 + 30 * np.log(df.sqft) + 5 * (df.city == "Bonn") + rng.normal(0, 2, n)
    return df


def bench_encode(n: int, levels: int, repeats: int, tmp: Path) -> list[list[object]]:
    """The formula layer alone at full size: every design block of ``y ~ x + C(g)`` encoded
    from the frame (what ``olsnet.ols`` folds) and from the Parquet file (the level pass over
    the file, then each batch read and encoded), nothing folded. The fit adds the same QR fold
    of the same blocks to both paths."""
    import olsnet
    from olsnet.data.formula_frame import FrameFormulaSource, complete_rows
    from olsnet.data.model_spec import learn

    frame = wide_factor_frame(n, levels)
    path = tmp / "wide_full.parquet"
    frame.to_parquet(path, row_group_size=65536)
    formula = "y ~ x + C(g)"

    def from_frame() -> int:  # as olsnet.ols does for a design too wide to hold whole
        rows = complete_rows(formula, frame, weights=None, missing="raise")
        spec = learn(formula, rows.frame, sample_rows=65536)
        return sum(X.shape[0] for X, _, _ in FrameFormulaSource(spec, rows.frame, None).blocks())

    def from_file() -> int:
        return sum(X.shape[0] for X, _, _ in olsnet.read(path, formula=formula).blocks())

    times: dict[str, list[float]] = {"frame": [], "parquet": []}
    for _ in range(repeats):
        for name, fn in (("frame", from_frame), ("parquet", from_file)):
            t0 = time.perf_counter()
            assert fn() == n
            times[name].append(time.perf_counter() - t0)
    m_frame, m_file = statistics.median(times["frame"]), statistics.median(times["parquet"])
    print(f"encode: frame {m_frame:.2f} s, parquet {m_file:.2f} s", flush=True)
    return [
        ["design blocks from the frame", f"{n:,}", m_frame, "1.00"],
        [
            "design blocks from Parquet (level pass + read + encode)",
            f"{n:,}",
            m_file,
            f"{m_file / m_frame:.2f}",
        ],
    ]


def bench_fit(n: int, levels: int, repeats: int, tmp: Path) -> list[list[object]]:
    import olsnet

    frame = wide_factor_frame(n, levels)
    path = tmp / "wide.parquet"
    frame.to_parquet(path, row_group_size=65536)
    formula = "y ~ x + C(g)"
    times: dict[str, list[float]] = {"frame": [], "parquet": []}
    results = {}
    for _ in range(repeats):  # alternating, so load changes hit both alike
        t0 = time.perf_counter()
        results["frame"] = olsnet.ols(formula, frame)
        times["frame"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        source = olsnet.read(path, formula=formula)
        results["parquet"] = olsnet.LinearRegression().fit(source).result_
        times["parquet"].append(time.perf_counter() - t0)
        print(f"fit: frame {times['frame'][-1]:.1f} s, parquet {times['parquet'][-1]:.1f} s",
              flush=True)  # fmt: skip
    a, b = results["frame"], results["parquet"]
    assert a.param_names == b.param_names and a.nobs == b.nobs == n
    diff = float(np.max(np.abs(a.params - b.params)))
    m_frame, m_file = statistics.median(times["frame"]), statistics.median(times["parquet"])
    return [
        ["olsnet.ols(formula, frame)", f"{n:,}", len(a.param_names), m_frame, "1.00", ""],
        [
            "olsnet.read(parquet, formula=) + fit",
            f"{n:,}",
            len(b.param_names),
            m_file,
            f"{m_file / m_frame:.2f}",
            f"max abs diff of params {diff:.1e}",
        ],
    ]


def _cli_seconds(args: list[str], repeats: int) -> float:
    """Median wall time of ``olsnet ARGS`` in a fresh interpreter (startup and imports
    included, as a user at a shell sees it)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "olsnet", *args], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_predict(n: int, repeats: int, tmp: Path) -> list[list[object]]:
    import olsnet
    from olsnet.api import model_spec_of, predict_files

    train = houses_frame(20_000)
    olsnet.save(olsnet.ols("price ~ np.log(sqft) + C(city) + age", train), tmp / "m.olsnet")
    model = olsnet.load(tmp / "m.olsnet")
    raw = houses_frame(n, seed=2).drop(columns="price")
    raw.insert(0, "key", [f"k{i:07d}" for i in range(n)])
    raw.to_parquet(tmp / "new.parquet", row_group_size=65536)
    raw.to_csv(tmp / "new.csv", index=False)
    raw.head(1).to_parquet(tmp / "one.parquet")
    t_frame = _common.median_time(lambda: model.predict(raw), repeats=repeats)
    spec = model_spec_of(model)
    params = np.asarray(model.params)
    W, b = params[1:][None, :], params[:1]
    want = model.predict(raw)

    def streamed(name: str) -> None:
        got = np.concatenate([blk.predictions[:, 0] for blk in predict_files(W, b, tmp / name,
                                                                             spec=spec)])  # fmt: skip
        assert got.shape == (n,) and np.allclose(got, want, rtol=1e-12, atol=0)

    rows = [["result.predict(raw frame)", "in process", f"{n:,}", t_frame, f"{n / t_frame:,.0f}"]]
    for name in ("new.parquet", "new.csv"):
        t = _common.median_time(lambda name=name: streamed(name), repeats=repeats)
        rows.append([f"predict_files({name})", "in process", f"{n:,}", t, f"{n / t:,.0f}"])
    print(_common.markdown_table(["path", "how", "rows", "median s", "rows/s"], rows), flush=True)
    start = _cli_seconds(["predict", str(tmp / "m.olsnet"), str(tmp / "one.parquet"), "-o",
                          str(tmp / "one.csv")], repeats)  # fmt: skip
    rows.append(["olsnet predict, 1 row (startup, imports, model load)", "CLI", "1", start, ""])
    for src, out, extra in (
        ("new.parquet", "out.parquet", []),
        ("new.csv", "out.csv", []),
        ("new.csv", "out_id.csv", ["--id", "key"]),
    ):
        args = ["predict", str(tmp / "m.olsnet"), str(tmp / src), "-o", str(tmp / out), *extra]
        t = _cli_seconds(args, repeats)
        label = f"olsnet predict {src} -o {out}{' ' + ' '.join(extra) if extra else ''}"
        rows.append([label, "CLI", f"{n:,}", t,
                     f"{n / t:,.0f} ({n / (t - start):,.0f} after startup)"])  # fmt: skip
    check = np.asarray(__import__("pandas").read_csv(tmp / "out_id.csv").predicted_price)
    assert np.allclose(check, want, rtol=1e-12, atol=0)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the wide fit")
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 100 levels")
    parser.add_argument("--part", choices=("all", "fit", "encode", "predict"), default="all")
    parser.add_argument("--encode-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.levels, args.predict_rows = 20_000, 100, 20_000
        args.encode_rows = 20_000
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        predict_rows = fit_rows = encode_rows = None
        if args.part in ("all", "predict"):
            predict_rows = bench_predict(args.predict_rows, args.repeats, Path(tmp))
        if args.part in ("all", "encode"):
            encode_rows = bench_encode(args.encode_rows, args.levels, args.repeats, Path(tmp))
        if args.part in ("all", "fit"):
            fit_rows = bench_fit(args.rows, args.levels, args.repeats, Path(tmp))
        took = time.perf_counter() - t0
    parts = [
        "## Formula models (`python benchmarks/bench_formula.py`)",
        _common.environment_note(),
        f"Load average at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
        f"cores (the machine is shared); medians and ratios come from the same run "
        f"({took:.0f} s).",
    ]
    if fit_rows is not None:
        parts += [
            f"### Wide factor: `y ~ x + C(g)`, {args.levels:,} levels, {args.rows:,} rows "
            f"(median of {args.repeats}, alternating; target: Parquet within "
            f"{FIT_RATIO_TARGET:g}x the frame)",
            _common.markdown_table(
                ["path", "rows", "params", "median s", "ratio", "agreement"], fit_rows
            ),
        ]
    if encode_rows is not None:
        parts += [
            f"### The formula layer alone: `y ~ x + C(g)`, {args.levels:,} levels, "
            f"{args.encode_rows:,} rows, every design block encoded, nothing folded (median of "
            f"{args.repeats}, alternating)",
            _common.markdown_table(["path", "rows", "median s", "ratio"], encode_rows),
        ]
    if predict_rows is not None:
        parts += [
            f"### Predictions on raw rows with a saved formula model "
            f"(`price ~ np.log(sqft) + C(city) + age`; median of {args.repeats}; target "
            f"{PREDICT_TARGET:,} rows/s). CLI rows: a fresh interpreter each time; 'after "
            "startup' subtracts the 1-row run (interpreter, imports, model load)",
            _common.markdown_table(["path", "how", "rows", "median s", "rows/s"], predict_rows),
        ]
    text = "\n\n".join(parts)
    path = _common.write_section("formula", text)
    print(text)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
