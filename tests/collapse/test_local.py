"""collapse(net, at=x): the exact map of x's linear region, against torch autograd."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import olsnet  # noqa: E402
from olsnet.errors import DimensionError  # noqa: E402

N_MODELS = 30


def relu_mlp(seed):
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(2, 20)) for _ in range(int(rng.integers(3, 6)))]
    acts = [nn.ReLU, lambda: nn.LeakyReLU(0.05), nn.PReLU, nn.Hardtanh]
    layers = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(acts[int(rng.integers(0, len(acts)))]())
    net = nn.Sequential(*layers).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return net, (widths[0],)


def relu_cnn(seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 4))
    net = nn.Sequential(
        nn.Conv2d(c, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 3, padding=int(rng.integers(0, 2))),
        nn.LeakyReLU(0.1),
        nn.Flatten(),
        nn.LazyLinear(2),
    ).double()
    shape = (c, 8, 8)
    net(torch.zeros(1, *shape, dtype=torch.float64))  # materialise the lazy layer
    return net.eval(), shape


def jacobian(net, x):
    J = torch.autograd.functional.jacobian(lambda v: net(v[None]).reshape(-1), x)
    return J.reshape(J.shape[0], -1).numpy()


@pytest.mark.parametrize("make", [relu_mlp, relu_cnn])
def test_local_map_is_the_jacobian_and_exact_inside_the_radius(make):
    radii = []
    for seed in range(N_MODELS):
        net, shape = make(seed)
        x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        A = olsnet.collapse(net, at=x.reshape(1, *shape))
        W = jacobian(net, x)
        np.testing.assert_allclose(A.weight, W, rtol=1e-12, atol=1e-12 * np.abs(W).max())
        cert = A.certificate
        assert cert.passed and cert.radius > 0 and not cert.boundary
        radii.append(cert.radius / float(x.norm()))
        # points strictly inside the radius: the same map (module output == map output)
        rng = np.random.default_rng(seed)
        u = rng.standard_normal((20, x.numel()))
        u *= 0.99 * cert.radius / np.linalg.norm(u, axis=1, keepdims=True)
        Xs = x.numpy().reshape(1, -1) + u
        with torch.no_grad():
            y = net(torch.from_numpy(Xs).reshape(20, *shape)).reshape(20, -1).numpy()
        got = A.predict(Xs).reshape(20, -1)
        np.testing.assert_allclose(got, y, rtol=1e-10, atol=1e-10 * np.abs(y).max())
    assert np.median(radii) > 1e-6  # not vacuous (the benchmark reports the median)


def test_the_radius_is_tight_for_one_relu():
    """y = relu(w·x + c): the region boundary is the hyperplane; distance |w·x + c| / ‖w‖."""
    lin = nn.Linear(3, 1).double()
    net = nn.Sequential(lin, nn.ReLU()).eval()
    x = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    A = olsnet.collapse(net, at=x)
    w, c = lin.weight.detach().numpy()[0], float(lin.bias.detach()[0])
    want = abs(w @ x.numpy() + c) / np.linalg.norm(w)
    assert A.certificate.radius == pytest.approx(want, rel=1e-14)


def test_a_point_on_a_boundary_gets_radius_zero_and_says_so():
    lin = nn.Linear(2, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        lin.bias.zero_()
    net = nn.Sequential(lin, nn.ReLU(), nn.Linear(2, 1).double()).eval()
    A = olsnet.collapse(net, at=torch.tensor([1.0, 1.0], dtype=torch.float64))  # x1 - x2 = 0
    assert A.certificate.radius == 0.0 and "ReLU" in A.certificate.boundary
    assert "region boundary" in str(A.certificate)
    np.testing.assert_allclose(A.weight, jacobian(net, torch.tensor([1.0, 1.0]).double()))


def test_inference_at_and_compare_work_on_a_local_map():
    """Data from inside the region: the local map is the regression there; inference_at gives
    its statistics, compare sets it beside the exact fit."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)).double().eval()
    x = torch.tensor([0.2, -0.1, 0.4], dtype=torch.float64)
    A = olsnet.collapse(net, at=x)
    rng = np.random.default_rng(0)
    step = rng.uniform(-1, 1, (300, 3))
    X = x.numpy() + 0.5 * A.certificate.radius * step / np.linalg.norm(step, axis=1).max()
    with torch.no_grad():
        y = net(torch.from_numpy(X)).numpy()[:, 0] + 1e-4 * rng.standard_normal(300)
    res = olsnet.inference_at(A, X, y)
    exact = olsnet.LinearRegression().fit(X, y).result_
    np.testing.assert_allclose(res.params, exact.params, rtol=0.05, atol=0.05)
    assert np.all(np.isfinite(np.asarray(res.bse)))
    assert "coefficient" in str(olsnet.compare(A, X, y)).lower()


def test_at_must_be_one_point():
    net, shape = relu_mlp(0)
    with pytest.raises(DimensionError, match="one input"):
        olsnet.collapse(net, at=np.zeros((2, *shape)))
