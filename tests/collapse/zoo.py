"""Generated model zoo for the collapse and fuse tests (seeded; never the tests' own answers).

Kinds: convolution chains of each dimension, RepVGG blocks, LoRA-wrapped MLPs and ResNet-style
residual stacks (with or without ReLU). Each generator returns ``(module, input_shape)``.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
from torch import nn

PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def randomize_bn(bn: nn.Module, gen: torch.Generator) -> nn.Module:
    """Running statistics and affine parameters away from their defaults."""
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.weight.copy_(torch.randn(bn.num_features, generator=gen))
        bn.bias.copy_(torch.randn(bn.num_features, generator=gen))
    return bn


def _conv_layer(nd: int, c_in: int, rng: np.random.Generator, gen: torch.Generator) -> nn.Module:
    Conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[nd - 1]
    ConvT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[nd - 1]
    BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[nd - 1]
    Pool = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[nd - 1]
    Pad = (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)[nd - 1]
    kind = rng.choice(["conv", "conv", "conv", "bn", "pool", "pad", "convT"])
    if kind == "bn":
        return randomize_bn(BN(c_in), gen)
    if kind == "pool":
        return Pool(2, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)))
    if kind == "pad":
        return Pad(int(rng.integers(1, 3)), float(rng.normal()))
    groups = int(rng.choice([g for g in (1, 2, 3) if c_in % g == 0]))
    c_out = groups * int(rng.integers(1, 4))
    if kind == "convT":
        stride = int(rng.integers(1, 3))
        return ConvT(c_in, c_out, int(rng.integers(1, 4)), stride=stride, groups=groups,
                     output_padding=int(rng.integers(0, stride)))  # fmt: skip
    return Conv(
        c_in,
        c_out,
        int(rng.integers(1, 4)),
        stride=int(rng.integers(1, 3)),
        padding=int(rng.integers(0, 3)),
        dilation=int(rng.integers(1, 3)),
        groups=groups,
        padding_mode=str(rng.choice(PAD_MODES)),
        bias=bool(rng.integers(0, 2)),
    )


def conv_chain(nd: int, seed: int) -> tuple[nn.Module, tuple[int, ...]]:
    """Conv / ConvTranspose / BatchNorm / AvgPool / padding chain of dimension ``nd``, flattened,
    sometimes ending in a Linear layer; float64, eval mode."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    size = {1: (10, 18), 2: (6, 10), 3: (4, 7)}[nd]
    while True:
        c = int(rng.integers(1, 4))
        shape = (c, *(int(rng.integers(*size)) for _ in range(nd)))
        layers, c_now = [], c
        for _ in range(int(rng.integers(1, 4))):
            layer = _conv_layer(nd, c_now, rng, gen)
            layers.append(layer)
            c_now = getattr(layer, "out_channels", c_now)
        layers.append(nn.Flatten())
        model = nn.Sequential(*layers).double().eval()
        try:
            with torch.no_grad():
                width = model(torch.zeros(1, *shape, dtype=torch.float64)).shape[1]
        except RuntimeError:  # a padding or kernel that does not fit: draw again
            continue
        if width == 0 or width > 600:
            continue
        if rng.integers(0, 2):
            model = (
                nn.Sequential(*layers, nn.Linear(width, int(rng.integers(1, 5)))).double().eval()
            )
        return model, shape


class RepVGGBlock(nn.Module):
    """3x3 conv+BN, 1x1 conv+BN and (when shapes allow) identity BN, summed (Ding et al. 2021)."""

    def __init__(self, c_in: int, c_out: int, stride: int, gen: torch.Generator) -> None:
        super().__init__()
        self.dense = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)
        )
        self.one = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False), nn.BatchNorm2d(c_out)
        )
        self.identity = nn.BatchNorm2d(c_out) if c_in == c_out and stride == 1 else None
        for bn in (self.dense[1], self.one[1], self.identity):
            if bn is not None:
                randomize_bn(bn, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dense(x) + self.one(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return out


def repvgg(seed: int, relu: bool = False, blocks: int = 1) -> tuple[nn.Module, tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    c = int(rng.integers(1, 5))
    shape = (c, int(rng.integers(5, 9)), int(rng.integers(5, 9)))
    layers: list[nn.Module] = []
    for _ in range(blocks):
        c_out = c if rng.integers(0, 2) else int(rng.integers(1, 5))
        layers.append(RepVGGBlock(c, c_out, int(rng.integers(1, 3)) if c_out != c else 1, gen))
        if relu:
            layers.append(nn.ReLU())
        c = c_out
    return nn.Sequential(*layers).double().eval(), shape


class LoRALinear(nn.Module):
    """``base(x) + scale * B(A(x))`` with a rank-r adapter (Hu et al. 2021)."""

    def __init__(self, n_in: int, n_out: int, rank: int, scale: float) -> None:
        super().__init__()
        self.base = nn.Linear(n_in, n_out)
        self.A = nn.Linear(n_in, rank, bias=False)
        self.B = nn.Linear(rank, n_out, bias=False)
        nn.init.normal_(self.B.weight, std=0.1)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.B(self.A(x))


def lora_mlp(seed: int, relu: bool = False) -> tuple[nn.Module, tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    widths = [int(rng.integers(2, 12)) for _ in range(int(rng.integers(2, 5)))]
    layers: list[nn.Module] = []
    for a, b in pairwise(widths):
        layers.append(LoRALinear(a, b, int(rng.integers(1, 3)), float(rng.uniform(0.5, 2))))
        if rng.integers(0, 2):
            layers.append(randomize_bn(nn.BatchNorm1d(b), torch.Generator().manual_seed(seed)))
        if rng.integers(0, 2):
            layers.append(nn.Dropout(0.3))
        if relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).double().eval(), (widths[0],)


class ResBlock(nn.Module):
    def __init__(self, width: int, hidden: int, relu: bool) -> None:
        super().__init__()
        self.l1, self.l2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.act = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.l2(self.act(self.l1(x)))


def resnet_stack(seed: int, relu: bool = False) -> tuple[nn.Module, tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    width = int(rng.integers(2, 10))
    blocks = [
        ResBlock(width, int(rng.integers(2, 10)), relu) for _ in range(int(rng.integers(1, 4)))
    ]
    return nn.Sequential(*blocks, nn.Linear(width, int(rng.integers(1, 4)))).double().eval(), (
        width,
    )


def repvgg_closed_form(block: RepVGGBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's re-parameterisation of one block: (kernel (c_out, c_in, 3, 3), bias (c_out,)).

    Each BN folds into its branch as ``K γ/σ`` and ``β - μ γ/σ``; the 1x1 kernel is padded to
    3x3 at the centre; the identity is the 3x3 kernel with 1 at the centre of channel i → i.
    """

    def fold(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
        std = (bn.running_var + bn.eps).sqrt()
        t = (bn.weight / std).reshape(-1, 1, 1, 1)
        return kernel * t, bn.bias - bn.running_mean * bn.weight / std

    k3, b3 = fold(block.dense[0].weight, block.dense[1])
    k1, b1 = fold(torch.nn.functional.pad(block.one[0].weight, [1, 1, 1, 1]), block.one[1])
    kernel, bias = k3 + k1, b3 + b1
    if block.identity is not None:
        c = kernel.shape[0]
        eye = torch.zeros(c, c, 3, 3, dtype=kernel.dtype)
        eye[torch.arange(c), torch.arange(c), 1, 1] = 1.0
        k0, b0 = fold(eye, block.identity)
        kernel, bias = kernel + k0, bias + b0
    return kernel.detach(), bias.detach()
