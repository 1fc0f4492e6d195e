"""olsnet.fuse: inference of fused versus unfused modules, in torch and in ONNX Runtime.

    python benchmarks/bench_fuse.py [--quick]

Two models (float32, batch 4,096):

* a 6-layer MLP of width 1,024 with a rank-8 LoRA adapter on every Linear and a ReLU after
  every pair of Linear layers (fuse merges each pair with its adapters into one Linear);
* a RepVGG-style stack: 4 blocks of parallel 3x3 conv+BN, 1x1 conv+BN and identity BN, each
  followed by a ReLU, 16 channels on 16x16 images (fuse re-parameterises each block into one
  3x3 conv).

Each model and its fused GraphModule run interleaved in this one process on the same inputs,
single-threaded (torch.set_num_threads(1); ONNX Runtime intra_op_num_threads=1), so that other
load on the machine affects both alike. For ONNX Runtime both are exported with
torch.onnx.export (TorchScript exporter). Writes benchmarks/results/fuse.md: medians, their
ratio, and the largest relative difference between the two outputs.
"""

from __future__ import annotations

import os

# unset before NumPy / OpenBLAS load, so that the host's tuning does not skew the comparison
UNSET = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(k, None)]

import argparse  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import olsnet  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "collapse"))
from zoo import LoRALinear, RepVGGBlock  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "fuse.md"


def lora_mlp() -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(6):
        layers.append(LoRALinear(1024, 1024, 8, 2.0))
        if i % 2 == 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


def repvgg_stack(channels: int = 16) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(4):
        layers += [RepVGGBlock(channels, channels, 1, gen), nn.ReLU()]
    return nn.Sequential(*layers).float().eval()


class Plain(nn.Module):
    """A fused GraphModule inside a plain module (the TorchScript exporter reads a
    GraphModule's ``graph`` attribute as a TorchScript graph)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def onnx_session(module: nn.Module, example: torch.Tensor) -> ort.InferenceSession:
    buffer = io.BytesIO()
    module = Plain(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


def median_pair(run_a, run_b, repeats: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(repeats):  # interleaved
        for fn, out in ((run_a, a), (run_b, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def measure(name: str, module: nn.Module, shape: tuple[int, ...], batch: int, repeats: int):
    example = torch.randn(2, *shape)
    fused = olsnet.fuse(module, example)
    X = torch.randn(batch, *shape)
    with torch.no_grad():
        y0, y1 = module(X), fused(X)
        diff = float((y0 - y1).abs().max() / y0.abs().max())
        t_torch = median_pair(lambda: module(X), lambda: fused(X), repeats)
    s0, s1 = onnx_session(module, example), onnx_session(fused, example)
    feed = {"x": X.numpy()}
    d_onnx = float(np.abs(s0.run(None, feed)[0] - s1.run(None, feed)[0]).max())
    t_ort = median_pair(lambda: s0.run(None, feed), lambda: s1.run(None, feed), repeats)
    report = fused.olsnet_report
    return {
        "name": name,
        "torch": t_torch,
        "ort": t_ort,
        "diff": diff,
        "diff_onnx": d_onnx / float(np.abs(y0.numpy()).max()),
        "params": (report.params_before, report.params_after),
        "flops": (report.flops_before, report.flops_after),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 15
    rows = [
        measure("LoRA MLP 6x1024, rank 8", lora_mlp(), (1024,), 4096, repeats),
        measure("RepVGG stack 4 blocks, 16ch 16x16", repvgg_stack(), (16, 16, 16), 4096, repeats),
    ]
    lines = [
        "# olsnet.fuse: fused vs unfused inference (float32)",
        "",
        f"`python benchmarks/bench_fuse.py{' --quick' if args.quick else ''}`; {repeats} interleaved "
        f"repeats, medians; one thread each; {platform.machine()}, torch {torch.__version__}, "
        f"onnxruntime {ort.__version__}; unset for this run: {', '.join(UNSET) or 'none'}. "
        "The machine was shared and loaded.",
        "",
        "| model | batch | torch unfused (ms) | torch fused (ms) | torch ratio | ORT unfused (ms) "
        "| ORT fused (ms) | ORT ratio | max rel diff (torch / ORT) | params | multiply-adds/sample |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        batch = 4096
        (t0, t1), (o0, o1) = r["torch"], r["ort"]
        lines.append(
            f"| {r['name']} | {batch} | {t0 * 1e3:.1f} | {t1 * 1e3:.1f} | {t0 / t1:.2f}x | "
            f"{o0 * 1e3:.1f} | {o1 * 1e3:.1f} | {o0 / o1:.2f}x | {r['diff']:.1e} / "
            f"{r['diff_onnx']:.1e} | {r['params'][0]:,} -> {r['params'][1]:,} | "
            f"{r['flops'][0]:,} -> {r['flops'][1]:,} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
