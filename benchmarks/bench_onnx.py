"""ONNX Runtime batch inference: a 6-layer width-512 LinearNetwork exported layer by layer
versus collapsed into one Gemm by olsnet.

    python benchmarks/bench_onnx.py [--quick]

Writes benchmarks/results/onnx.md. Both sessions run in this one process, interleaved, on
the same inputs, single-threaded (intra_op_num_threads=1) so that other load on the machine
affects both alike; the table gives medians and their ratio, and the largest relative
difference between the two exports' predictions.
"""

from __future__ import annotations

import os

# unset before NumPy / OpenBLAS load, so that the host's tuning does not skew the comparison
UNSET = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(k, None)]

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

import olsnet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "onnx.md"


def session(proto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def measure(n_outputs, dtype, batch, repeats):
    """Median seconds per batch for the separate and the collapsed export, and their gap."""
    net = olsnet.LinearNetwork(512, n_outputs, hidden=(512,) * 5, seed=0)  # 6 nn.Linear layers
    separate = session(olsnet.to_onnx(net, None, dtype=dtype, layers="separate"))
    collapsed = session(olsnet.to_onnx(net, None, dtype=dtype, layers="collapsed"))
    X = np.random.default_rng(0).standard_normal((batch, 512)).astype(dtype)  # (batch, 512)
    y_sep = separate.run(None, {"X": X})[0]
    y_col = collapsed.run(None, {"X": X})[0]
    gap = float(np.abs(y_sep - y_col).max() / np.abs(y_sep).max())
    times = {"separate": [], "collapsed": []}
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both
        for name, sess in (("separate", separate), ("collapsed", collapsed)):
            start = time.perf_counter()
            sess.run(None, {"X": X})
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["separate"]), statistics.median(times["collapsed"]), gap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batch, few repeats")
    args = parser.parse_args()
    batch, repeats = (1024, 7) if args.quick else (4096, 15)
    torch.set_num_threads(1)
    rows = []
    for n_outputs in (1, 512):
        for dtype in ("float64", "float32"):
            sep, col, gap = measure(n_outputs, dtype, batch, repeats)
            rows.append((n_outputs, dtype, sep, col, gap))
            print(
                f"q={n_outputs:<3} {dtype}: separate {sep * 1e3:8.2f} ms, collapsed "
                f"{col * 1e3:7.2f} ms, ratio {sep / col:6.1f}x, max rel gap {gap:.1e}"
            )
    lines = [
        "## ONNX export: collapsed versus layer by layer",
        "",
        f"A `LinearNetwork(512, q, hidden=(512,) * 5)` (6 `nn.Linear` layers) exported with "
        f'`olsnet.to_onnx(..., layers="separate")` (6 Gemm nodes) and with the default '
        f'`layers="collapsed"` (one Gemm). ONNX Runtime {ort.__version__}, CPU provider, one '
        f"thread; batch of {batch} rows; median of {repeats} interleaved runs"
        f"{' (--quick)' if args.quick else ''}. {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset in "
        f"this process{' (were set: ' + ', '.join(UNSET) + ')' if UNSET else ''}.",
        "",
        "| outputs q | dtype | separate (ms) | collapsed (ms) | speed-up | max rel. difference |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {q} | {dt} | {s * 1e3:.2f} | {c * 1e3:.2f} | {s / c:.1f}x | {g:.1e} |"
        for q, dt, s, c, g in rows
    ]
    lines += [
        "",
        "The speed-up is the ratio of medians. With one output the collapsed map is a "
        "single matrix-vector product; with q = 512 it is one 512x512 Gemm instead of six.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset in this process; wrote {RESULTS}")


if __name__ == "__main__":
    main()
