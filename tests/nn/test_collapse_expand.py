"""collapse multiplies layers out exactly; expand factors a map back with balanced layers."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import olsnet
from olsnet.errors import NotAffineError, RankError


def random_affine(rng: np.random.Generator, q: int, p: int, rank: int) -> olsnet.Affine:
    W = rng.normal(size=(q, rank)) @ rng.normal(size=(rank, p))  # (q, p) of rank `rank`
    return olsnet.Affine(W, rng.normal(size=q))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    p=st.integers(1, 7),
    q=st.integers(1, 5),
    depth=st.integers(1, 5),
    extra=st.lists(st.integers(0, 4), min_size=4, max_size=4),
    basis_seed=st.one_of(st.none(), st.integers(0, 100)),
)
def test_collapse_of_expand_is_identity(seed, p, q, depth, extra, basis_seed):
    rng = np.random.default_rng(seed)
    rank = int(rng.integers(0, min(p, q) + 1))
    A = random_affine(rng, q, p, rank) if rank else olsnet.Affine(np.zeros((q, p)), np.ones(q))
    hidden = tuple(rank + e if rank + e > 0 else 1 for e in extra[: depth - 1])
    net = olsnet.expand(A, hidden=hidden, seed=basis_seed)
    assert net.depth == depth and net.hidden == hidden
    B = olsnet.collapse(net)
    scale = max(np.abs(A.weight).max(), 1e-300)
    assert np.abs(B.weight - A.weight).max() <= 1e-13 * scale
    assert np.abs(B.bias - A.bias).max() <= 1e-13 * max(np.abs(A.bias).max(), scale)
    # balanced: W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ (Arora et al. 2018)
    Ws = [layer.weight.detach().numpy() for layer in net]
    for lo, hi in pairwise(Ws):
        np.testing.assert_allclose(hi.T @ hi, lo @ lo.T, atol=1e-12 * max(scale, 1.0))


def test_expand_splits_singular_values_equally():
    rng = np.random.default_rng(0)
    A = random_affine(rng, 3, 5, 3)
    net = olsnet.expand(A, hidden=(4, 6))
    s = np.linalg.svd(A.weight, compute_uv=False)
    for layer in net:
        sl = np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[:3]
        np.testing.assert_allclose(sl, s ** (1 / 3), rtol=1e-12)


def test_expand_refuses_width_below_rank():
    rng = np.random.default_rng(1)
    A = random_affine(rng, 4, 6, 3)
    with pytest.raises(RankError, match=r"hidden width 2 .*rank 3"):
        olsnet.expand(A, hidden=(5, 2))
    olsnet.expand(A, hidden=(3, 3))  # width == rank is enough


def test_linear_regression_to_network_and_back(diabetes):
    X, y = diabetes
    lr = olsnet.LinearRegression().fit(X, y)
    for model in (lr, lr.result_):
        net = olsnet.expand(model, hidden=(5, 3))
        A = net.collapse()
        np.testing.assert_allclose(A.weight[0], lr.coef_, rtol=1e-13)
        assert A.bias[0] == pytest.approx(lr.intercept_, rel=1e-13)
        np.testing.assert_allclose(net.predict(X), lr.predict(X), rtol=1e-12)
    net = olsnet.LinearNetwork.from_regression(lr, hidden=(2,))
    assert net.hidden == (2,)  # rank of a single-output map is 1


def test_collapse_matches_forward_pass_and_certifies():
    rng = np.random.default_rng(2)
    net = olsnet.LinearNetwork(6, 2, hidden=(5, 4), seed=0)
    A = olsnet.collapse(net)
    X = rng.normal(size=(50, 6))
    with torch.no_grad():
        out = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(A.predict(X), out, rtol=1e-13, atol=1e-14)
    # the product of the layer matrices, computed independently in NumPy
    Ws = [layer.weight.detach().numpy() for layer in net]
    bs = [layer.bias.detach().numpy() for layer in net]
    W = Ws[2] @ Ws[1] @ Ws[0]
    b = Ws[2] @ (Ws[1] @ bs[0] + bs[1]) + bs[2]
    np.testing.assert_allclose(A.weight, W, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(A.bias, b, rtol=1e-13, atol=1e-15)
    assert A.certificate is not None and A.certificate.passed
    assert A.certificate.max_rel_diff <= 1e-14


def test_collapse_of_plain_sequential_and_linear():
    seq = torch.nn.Sequential(
        torch.nn.Linear(3, 4, dtype=torch.float64),
        torch.nn.Identity(),
        torch.nn.Linear(4, 2, dtype=torch.float64),
    )
    A = olsnet.collapse(seq)
    x = torch.randn(7, 3, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_allclose(A.predict(x.numpy()), seq(x).numpy(), rtol=1e-13, atol=1e-14)
    lin = torch.nn.Linear(3, 1, dtype=torch.float64, bias=False)
    B = olsnet.collapse(lin)
    np.testing.assert_array_equal(B.weight, lin.weight.detach().numpy())
    np.testing.assert_array_equal(B.bias, [0.0])


def test_collapse_refuses_nonlinear_layer():
    seq = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).eval()
    with pytest.raises(NotAffineError, match=r"(?i)relu"):
        olsnet.collapse(seq, torch.randn(5, 3))


def test_to_torch_round_trip():
    rng = np.random.default_rng(3)
    A = random_affine(rng, 2, 4, 2)
    layer = olsnet.expand(A, hidden=(3,)).collapse().to_torch()
    np.testing.assert_allclose(layer.weight.detach().numpy(), A.weight, rtol=1e-13)
