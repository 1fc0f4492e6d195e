"""A dense affine map too large for memory is refused with ResourceLimitError before any
allocation (collapse), and fuse keeps such a run with the reason (user report: a 224 x 224
Conv -> BatchNorm crashed with a raw numpy MemoryError asking for 169 GiB)."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import olsnet  # noqa: E402
from olsnet.errors import ResourceLimitError  # noqa: E402


def _convbn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, stride=2, padding=3), nn.BatchNorm2d(8), nn.ReLU()
    ).eval()


def test_collapse_of_a_large_image_model_is_refused_with_the_size() -> None:
    with pytest.raises(ResourceLimitError, match=r"150,528 features.*168\.8 GiB"):
        olsnet.collapse(nn.Conv2d(3, 8, 3), example_input=torch.randn(1, 3, 224, 224))


def test_fuse_keeps_a_run_too_large_to_map_and_fuses_it_from_a_small_example() -> None:
    torch.manual_seed(0)
    m = _convbn()
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    big = olsnet.fuse(m, example_input=torch.randn(1, 3, 224, 224))
    assert "kept" in str(big.olsnet_report) and "GiB" in str(big.olsnet_report)
    small = olsnet.fuse(m, example_input=torch.randn(1, 3, 8, 8))
    assert "1 of 1" in str(small.olsnet_report)
    x = torch.randn(2, 3, 224, 224)  # the fused conv is exact at the full size too
    torch.testing.assert_close(small(x), m(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(big(x), m(x), rtol=0, atol=0)


def test_an_example_input_of_the_wrong_width_is_a_dimension_error() -> None:
    from olsnet.errors import DimensionError

    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).eval()
    with pytest.raises(DimensionError, match=r"takes 4 features.*\(n_samples, 4\)"):
        olsnet.collapse(net, example_input=torch.randn(1, 5))
