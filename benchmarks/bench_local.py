"""collapse(net, at=x): agreement with torch autograd and the size of the certified radius.

    python benchmarks/bench_local.py [--quick]

On random ReLU MLPs (widths 16-64, 3-5 layers) and small ReLU CNNs (Conv-ReLU-MaxPool-Conv-
ReLU-Linear on 3x16x16), float64, at standard-normal points x: the largest relative
difference between the local map's weight and ``torch.autograd.functional.jacobian`` at x,
the certified radius relative to ‖x‖ (median and range), and the seconds per local
collapse. Writes benchmarks/results/local.md.
"""

from __future__ import annotations

import os

UNSET = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(k, None)]

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import olsnet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "local.md"


def mlp(seed: int) -> tuple[nn.Module, tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    widths = [int(rng.integers(16, 65)) for _ in range(int(rng.integers(4, 7)))]
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).double().eval(), (widths[0],)


def cnn(seed: int) -> tuple[nn.Module, tuple[int, ...]]:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3),
        nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10),
    )  # fmt: skip
    return net.double().eval(), (3, 16, 16)


def run(kind: str, make, n: int) -> dict[str, float]:
    errors, radii, seconds = [], [], []
    for seed in range(n):
        net, shape = make(seed)
        x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        t0 = time.perf_counter()
        local = olsnet.collapse(net, at=x.reshape(1, *shape))
        seconds.append(time.perf_counter() - t0)
        J = torch.autograd.functional.jacobian(lambda v, net=net: net(v[None]).reshape(-1), x)
        J = J.reshape(J.shape[0], -1).numpy()
        errors.append(float(np.abs(local.weight - J).max() / np.abs(J).max()))
        radii.append(local.certificate.radius / float(x.norm()))
    return {
        "kind": kind,
        "n": n,
        "err": max(errors),
        "median": statistics.median(radii),
        "min": min(radii),
        "max": max(radii),
        "seconds": statistics.median(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 models per kind instead of 50")
    n = 10 if parser.parse_args().quick else 50
    rows = [run("ReLU MLP", mlp, n), run("ReLU CNN (MaxPool)", cnn, n)]
    lines = [
        "# collapse(net, at=x): local maps of ReLU networks (float64)",
        "",
        f"`python benchmarks/bench_local.py{' --quick' if n == 10 else ''}`; {platform.machine()}, "
        f"torch {torch.__version__}; unset for this run: {', '.join(UNSET) or 'none'}. The "
        "machine was shared and loaded.",
        "",
        "| networks | models | max rel diff vs autograd Jacobian | radius / ‖x‖: median "
        "| min | max | seconds per local collapse (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['n']} | {r['err']:.1e} | {r['median']:.2e} | {r['min']:.1e} "
            f"| {r['max']:.1e} | {r['seconds']:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
