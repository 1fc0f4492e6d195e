"""olsnet.fuse against the original modules (their own forward pass), on generated models."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import zoo  # noqa: E402

import olsnet  # noqa: E402
from olsnet.errors import DimensionError  # noqa: E402

N_MODELS = 30


def rel(a, b):
    return float((a - b).abs().max()) / max(float(b.abs().max()), 1e-300)


def kinds(report):
    return [r.action for r in report.runs]


def test_lora_mlps_with_relu_fuse_each_run_into_one_linear():
    for seed in range(N_MODELS):
        model, shape = zoo.lora_mlp(seed, relu=True)
        fused = olsnet.fuse(model)
        X = torch.randn(16, *shape, dtype=torch.float64)
        with torch.no_grad():
            assert rel(fused(X), model(X)) <= 1e-12
        report = fused.olsnet_report
        assert report.certificate.max_rel_diff <= 1e-12
        assert report.flops_after <= report.flops_before
        assert not any(isinstance(m, zoo.LoRALinear) for m in fused.modules())  # all merged
        assert all(a in ("fused into Linear", "kept") for a in kinds(report))


def test_repvgg_blocks_become_one_conv_each_equal_to_the_closed_form():
    for seed in range(N_MODELS):
        model, shape = zoo.repvgg(seed, relu=True, blocks=2)
        fused = olsnet.fuse(model, torch.randn(2, *shape, dtype=torch.float64))
        X = torch.randn(4, *shape, dtype=torch.float64)
        with torch.no_grad():
            assert rel(fused(X), model(X)) <= 1e-12
        convs = [m for m in fused.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 2 and kinds(fused.olsnet_report) == ["fused into Conv2d"] * 2
        kernel, bias = zoo.repvgg_closed_form(model[0])
        torch.testing.assert_close(convs[0].weight, kernel, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(convs[0].bias, bias, rtol=1e-12, atol=1e-12)


def test_resnet_stacks_with_relu():
    for seed in range(N_MODELS):
        model, shape = zoo.resnet_stack(seed, relu=True)
        fused = olsnet.fuse(model)
        X = torch.randn(8, *shape, dtype=torch.float64)
        with torch.no_grad():
            assert rel(fused(X), model(X)) <= 1e-12
        assert fused.olsnet_report.flops_after <= fused.olsnet_report.flops_before


def test_a_bottleneck_is_kept_factored_and_the_report_says_so():
    model = nn.Sequential(nn.Linear(100, 4), nn.Linear(4, 100), nn.ReLU(), nn.Linear(100, 3))
    report = olsnet.fuse(model.eval()).olsnet_report
    kept = [r for r in report.runs if r.action == "kept"]
    assert kept and "rank 4 bottleneck" in kept[0].reason
    assert "kept" in str(report)


def test_conv_then_conv_fuses_only_where_exactly_equal():
    torch.manual_seed(0)
    exact = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1), nn.ReLU()).double().eval()
    fused = olsnet.fuse(exact, torch.randn(2, 3, 9, 9, dtype=torch.float64))
    assert kinds(fused.olsnet_report) == ["fused into Conv2d"]
    # zero padding of the middle map is not a padding of the input: not one conv
    borders = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 3, padding=1)).double()
    fused = olsnet.fuse(borders.eval(), torch.randn(2, 3, 9, 9, dtype=torch.float64))
    assert kinds(fused.olsnet_report) == ["kept"]
    X = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        assert rel(fused(X), borders(X)) <= 1e-12


def test_float32_modules_fuse_within_1e_5():
    model, shape = zoo.lora_mlp(1, relu=True)
    model = model.float()
    fused = olsnet.fuse(model)
    X = torch.randn(16, *shape)
    with torch.no_grad():
        assert rel(fused(X).double(), model(X).double()) <= 1e-5
    assert next(fused.parameters()).dtype == torch.float32


def test_conv_without_example_asks_for_the_shape():
    with pytest.raises(DimensionError, match="example_input"):
        olsnet.fuse(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).eval())


def test_the_original_module_is_untouched():
    model, _shape = zoo.lora_mlp(2, relu=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    olsnet.fuse(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_modules_are_computed_in_float64_and_cast_back(dtype):
    """The issue's bfloat16 crash: collapse and fuse work in float64 and return the map
    (float64) and a module in the original dtype; no raw TypeError."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)).eval()
    net = net.to(dtype)
    fused = olsnet.fuse(net)
    assert {p.dtype for p in fused.parameters()} == {dtype}
    X = torch.randn(32, 4).to(dtype)
    with torch.no_grad():
        assert rel(fused(X).double(), net(X).double()) <= 2e-2
    affine = olsnet.collapse(nn.Sequential(net[0], net[1]).eval())
    assert affine.weight.dtype == np.float64 and affine.certificate.passed
