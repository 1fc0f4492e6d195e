"""Certificates of collapse and fuse on the generated model zoo (tests/collapse/zoo.py).

    python benchmarks/bench_zoo.py [--quick]

For each kind (conv chains of each dimension, RepVGG blocks, LoRA MLPs, ResNet-style stacks
without ReLU for collapse; with ReLU for fuse), 30 models: the largest certificate
(max |model - map| / max |model| on 64 probes) in float64, and for collapse also with the
modules in float32. Writes benchmarks/results/zoo.md.
"""

from __future__ import annotations

import os

UNSET = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(k, None)]

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

import olsnet  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "collapse"))
import zoo  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "zoo.md"

KINDS = {
    "Conv1d chains": lambda s: zoo.conv_chain(1, 20_000 + s),
    "Conv2d chains": lambda s: zoo.conv_chain(2, 21_000 + s),
    "Conv3d chains": lambda s: zoo.conv_chain(3, 22_000 + s),
    "RepVGG blocks": lambda s: zoo.repvgg(23_000 + s),
    "LoRA MLPs": lambda s: zoo.lora_mlp(24_000 + s),
    "ResNet stacks": lambda s: zoo.resnet_stack(25_000 + s),
}
FUSE_KINDS = {
    "RepVGG stacks + ReLU": lambda s: zoo.repvgg(26_000 + s, relu=True, blocks=2),
    "LoRA MLPs + ReLU": lambda s: zoo.lora_mlp(27_000 + s, relu=True),
    "ResNet stacks + ReLU": lambda s: zoo.resnet_stack(28_000 + s, relu=True),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 models per kind instead of 30")
    n = 10 if parser.parse_args().quick else 30
    lines = [
        "# Collapse and fuse certificates on the generated zoo",
        "",
        f"`python benchmarks/bench_zoo.py{' --quick' if n == 10 else ''}`: {n} models per kind; "
        f"{platform.machine()}, torch {torch.__version__}.",
        "",
        "| kind | operation | largest certificate, float64 | largest, float32 modules |",
        "|---|---|---|---|",
    ]
    for name, make in KINDS.items():
        worst64 = worst32 = 0.0
        for seed in range(n):
            model, shape = make(seed)
            A = olsnet.collapse(model, example_input=torch.randn(2, *shape, dtype=torch.float64))
            worst64 = max(worst64, A.certificate.max_rel_diff)
            m32 = model.float()
            X = torch.randn(16, *shape)
            B = olsnet.collapse(m32, example_input=X)
            with torch.no_grad():
                y = m32(X).reshape(16, -1).double().numpy()
            got = B.predict(X.double().numpy().reshape(16, -1)).reshape(16, -1)
            worst32 = max(worst32, float(abs(got - y).max() / abs(y).max()))
        lines.append(f"| {name} | collapse | {worst64:.1e} | {worst32:.1e} |")
    for name, make in FUSE_KINDS.items():
        worst = 0.0
        for seed in range(n):
            model, shape = make(seed)
            fused = olsnet.fuse(model, torch.randn(2, *shape, dtype=torch.float64))
            worst = max(worst, fused.olsnet_report.certificate.max_rel_diff)
        lines.append(f"| {name} | fuse | {worst:.1e} | - |")
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
