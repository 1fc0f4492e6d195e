"""``olsnet train`` on a 51-row CSV: wall time of the whole command, in a fresh process.

    python benchmarks/bench_cli_train.py [--quick]

Writes benchmarks/results/cli_train.md. Target (issue 12, item 7): ``olsnet train`` on a
51-row CSV in under 4 s wall. Training itself takes milliseconds; the time is start-up:
importing torch, and (before olsnet.nn._optim) ``torch._dynamo``, which torch's optimizers
import on construction and on every SGD/Adam step.

Side by side in one run, alternating, each a fresh subprocess: ``import torch`` alone (the
floor olsnet cannot cut), ``olsnet train`` as shipped, and the same command with the stock
``torch.optim`` classes put back in place of ``olsnet.nn._optim`` (the "before"). Medians and
the ratio to the stock command; ``-X importtime`` of one run of each lists the biggest imports.
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

TARGET_S = 4.0

STOCK = (
    "import sys, torch, olsnet.nn._optim as o\n"
    "o.LBFGS, o.SGD, o.Adam = torch.optim.LBFGS, torch.optim.SGD, torch.optim.Adam\n"
    "from olsnet.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)


def write_csv(path: Path, n: int = 51) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1]
    y = 1.0 + X @ [0.5, -0.2, 3.0] + rng.normal(size=n)
    lines = ["x1,x2,x3,y"] + [
        ",".join(f"{v:.17g}" for v in (*r, t)) for r, t in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def top_imports(cmd: list[str], names: tuple[str, ...]) -> dict[str, float]:
    """Cumulative import seconds of ``names`` (0 when not imported) in one ``-X importtime`` run."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True
    )
    found = {}
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            _, cum_us, name = line.split("|")
            if name.strip() in names:
                found[name.strip()] = int(cum_us) / 1e6
    return {n: found.get(n, 0.0) for n in names}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 9")
    args = ap.parse_args()
    repeats = 3 if args.quick else 9
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d51.csv"
        write_csv(csv)
        train = ["train", str(csv), "-y", "y"]
        adam = ["--optimizer", "adam", "--epochs", "200"]
        cases = {
            "python -c 'import torch' (floor)": [py, "-c", "import torch"],
            "olsnet train d51.csv -y y": [py, "-m", "olsnet", *train],
            "stock torch.optim: olsnet train d51.csv -y y": [py, "-c", STOCK, *train],
            "olsnet train ... --optimizer adam --epochs 200": [py, "-m", "olsnet", *train, *adam],
            "stock torch.optim: ... --optimizer adam --epochs 200": [
                py,
                "-c",
                STOCK,
                *train,
                *adam,
            ],
        }
        stock_of = {
            "olsnet train d51.csv -y y": "stock torch.optim: olsnet train d51.csv -y y",
            "olsnet train ... --optimizer adam --epochs 200":
                "stock torch.optim: ... --optimizer adam --epochs 200",
        }  # fmt: skip
        times: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(repeats):  # alternate, so load changes hit every case alike
            for label, cmd in cases.items():
                times[label].append(run(cmd))
        names = ("olsnet.nn", "torch", "torch._dynamo", "olsnet.inference", "typer")
        imports_now = top_imports(["-m", "olsnet", *train], names)
        imports_stock = top_imports(["-c", STOCK, *train], names)
    med = {label: statistics.median(ts) for label, ts in times.items()}
    ours = med["olsnet train d51.csv -y y"]
    stock = med[stock_of["olsnet train d51.csv -y y"]]
    floor = med["python -c 'import torch' (floor)"]
    rows = [
        [label, m, min(times[label]), m / med[stock_of[label]] if label in stock_of else ""]
        for label, m in med.items()
    ]
    for label, m in med.items():
        print(f"{label:48s} median {m:6.3f} s  min {min(times[label]):6.3f} s", flush=True)
    verdict = "met" if ours < TARGET_S else "not met"
    imp_rows = [[n, imports_now[n], imports_stock[n]] for n in names]
    text = "\n".join(
        [
            "## CLI: `olsnet train` on 51 rows (`python benchmarks/bench_cli_train.py`)",
            "",
            f"Each row: median and minimum wall seconds of {repeats} fresh processes, the cases "
            'alternating in one run. "Stock" puts torch\'s own `torch.optim.LBFGS/SGD/Adam` '
            "back in place of `olsnet.nn._optim` (the code before this change); the ratio is "
            "to the stock command with the same options.",
            "",
            _common.markdown_table(["command", "median s", "min s", "ratio to stock"], rows),
            "",
            f"Target: `olsnet train` on a 51-row CSV under {TARGET_S:.0f} s wall: **{verdict}** "
            f"(median {ours:.2f} s; stock optimizers {stock:.2f} s, ratio {ours / stock:.2f}; "
            f"`import torch` alone {floor:.2f} s, so olsnet adds {ours - floor:.2f} s).",
            "",
            "Cumulative import seconds in one `-X importtime` run of each (importtime itself "
            "slows imports):",
            "",
            _common.markdown_table(["module", "olsnet train", "stock optimizers"], imp_rows),
            "",
            _common.environment_note(),
        ]
    )
    path = _common.write_section("cli_train", text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
