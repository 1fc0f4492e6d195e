"""The training objective and its gradient against closed forms and extended precision."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import olsnet
from olsnet.errors import TrainingWarning
from olsnet.nn.training import loss_change


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_logged_loss_and_gradient_match_closed_form(diabetes, weight_decay):
    """J = ||y - Xβ - b||² / (2n) + λ/2 ||β||², ∇J = -[1 X]ᵀ r / n + λ [0, β] (no scaling)."""
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=4)
    beta = net[0].weight.detach().numpy()[0].copy()
    b = float(net[0].bias.detach()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)
        log = olsnet.train(
            net, X, y, optimizer="gd", max_epochs=0, standardize=False, weight_decay=weight_decay
        )
    r = y - X @ beta - b  # (n,)
    n = len(y)
    J = r @ r / (2 * n) + 0.5 * weight_decay * beta @ beta
    grad = -np.r_[r.sum(), X.T @ r] / n + weight_decay * np.r_[0.0, beta]
    assert log.loss[0] == pytest.approx(J, rel=1e-13)
    assert log.grad_norm[0] == pytest.approx(np.linalg.norm(grad), rel=1e-11)


def test_loss_change_is_exact_and_has_the_mse_gradient():
    rng = np.random.default_rng(0)
    n, p, q = 200, 4, 2
    X = rng.normal(size=(n, p))
    Y = rng.normal(size=(n, q)) * 100.0
    W0 = rng.normal(size=(q, p))
    W1 = W0 + 1e-9 * rng.normal(size=(q, p))  # a tiny step, as near the optimum
    o0 = X @ W0.T
    e0 = torch.as_tensor(o0 - Y)
    Wt = torch.tensor(W1, requires_grad=True)
    change = loss_change(torch.as_tensor(X) @ Wt.T, torch.as_tensor(o0), e0, None)
    change.backward()
    # reference in extended precision: difference of the two mean squared errors
    L = np.longdouble
    Xl, Yl = X.astype(L), Y.astype(L)
    J = [((Yl - Xl @ W.astype(L).T) ** 2).sum() / (2 * n) for W in (W0, W1)]
    exact = float(J[1] - J[0])
    # resolved to rounding of the outputs, eps · |o| / |o - o0| (about 1e-7 here)
    assert float(change.detach()) == pytest.approx(exact, rel=1e-5)
    # naive float64 difference of losses loses those digits
    naive = float(((Y - X @ W1.T) ** 2).sum() / (2 * n) - ((Y - X @ W0.T) ** 2).sum() / (2 * n))
    assert abs(naive - exact) > 100 * abs(float(change.detach()) - exact)
    # gradient equals autograd of the plain MSE objective and the closed form
    Wm = torch.tensor(W1, requires_grad=True)
    mse = 0.5 * ((torch.as_tensor(X) @ Wm.T - torch.as_tensor(Y)) ** 2).sum(dim=1).mean()
    mse.backward()
    torch.testing.assert_close(Wt.grad, Wm.grad, rtol=1e-12, atol=1e-12)
    closed = -(Y - X @ W1.T).T @ X / n  # (q, p)
    np.testing.assert_allclose(Wt.grad.numpy(), closed, rtol=1e-10, atol=1e-10)


def test_weighted_loss_change_matches_weighted_mse():
    rng = np.random.default_rng(1)
    n = 50
    out0, out = torch.tensor(rng.normal(size=(n, 1))), torch.tensor(rng.normal(size=(n, 1)))
    y = torch.tensor(rng.normal(size=(n, 1)))
    w = torch.tensor(rng.uniform(0.1, 2.0, size=n))
    change = loss_change(out, out0, out0 - y, w)

    def J(o):
        return 0.5 * (w * ((o - y) ** 2).sum(dim=1)).sum() / w.sum()

    assert float(change) == pytest.approx(float(J(out) - J(out0)), rel=1e-12, abs=1e-15)
