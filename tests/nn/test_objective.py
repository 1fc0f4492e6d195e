"""The trainer's objective by device (olsnet.nn.training.device / .objective): what "auto"
picks, and the moment matrix built where the network is."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_helpers import max_rel, params_of  # noqa: E402

import olsnet  # noqa: E402
from olsnet.errors import OptionError  # noqa: E402
from olsnet.nn.training.device import device_moment_matrix  # noqa: E402
from olsnet.nn.training.objective import choose_objective, moment_matrix  # noqa: E402

CPU = torch.device("cpu")


@pytest.mark.parametrize("weighted", [False, True])
def test_device_moment_matrix_equals_the_numpy_one(weighted):
    """The torch code path (run on the CPU here, on the GPU in the cuda test) against NumPy,
    and both against the definition M = Cᵀ Ω C computed directly."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 4)) * [1.0, 10.0, 0.1, 3.0] + 5.0
    Y = rng.standard_normal((5000, 2))
    w = rng.uniform(0.0, 3.0, 5000) if weighted else None
    kw = dict(x_mean=X.mean(0), x_scale=np.array([1.0, 8.0, 0.125, 2.0]), y_mean=0.5, y_scale=2.0)
    ref = moment_matrix(X, Y, w, **kw)
    scaling = (kw["x_mean"], kw["x_scale"], kw["y_mean"], kw["y_scale"])
    got = device_moment_matrix(X, Y, w, scaling, CPU, block_rows=1234)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    C = np.c_[np.ones(5000), (X - kw["x_mean"]) / kw["x_scale"], (Y - 0.5) / 2.0]
    om = np.full(5000, 1 / 5000) if w is None else w / w.sum()
    np.testing.assert_allclose(got, C.T @ (C * om[:, None]), rtol=1e-12, atol=1e-14)
    assert np.array_equal(got, got.T)


def _moments(smallest: float) -> np.ndarray:
    """A moment matrix of [1, x1, x2, y] whose [1, x] block has condition number 1/smallest."""
    return np.diag([1.0, 1.0, smallest, 1.0])


HESS = slice(0, 3)


def test_choose_objective_rules():
    def pick(requested, smallest=1.0, full_batch=True, device=CPU):
        M = _moments(smallest)
        return choose_objective(
            requested, full_batch=full_batch, moments=M, hess=HESS, device=device
        )

    assert pick("auto") == "moments"
    assert pick("auto", smallest=1e-9) == "data"  # condition 1e9 > 1e8
    assert pick("auto", full_batch=False) == "data"
    assert pick("data") == "data"
    assert pick("moments", smallest=1e-9) == "moments"


def test_auto_picks_data_on_a_device_without_float64(monkeypatch):
    from olsnet.nn.training import objective

    monkeypatch.setattr(objective, "has_float64", lambda device: False)
    mps = torch.device("cpu")  # stands in for Apple's MPS, which CI does not have
    M = _moments(1.0)
    got = choose_objective("auto", full_batch=True, moments=M, hess=HESS, device=mps)
    assert got == "data"
    with pytest.raises(OptionError, match="float64"):
        choose_objective("moments", full_batch=True, moments=M, hess=HESS, device=mps)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_auto_builds_moments_on_the_gpu(diabetes, diabetes_ols):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0, device="cuda").fit(X, y)
    assert net.training_log_.objective == "moments"
    assert max_rel(params_of(net), diabetes_ols[0]) <= 1e-9
    rng = np.random.default_rng(1)
    Xr, Yr = rng.standard_normal((3000, 5)), rng.standard_normal((3000, 1))
    kw = dict(x_mean=Xr.mean(0), x_scale=np.ones(5), y_mean=0.0, y_scale=1.0)
    np.testing.assert_allclose(
        moment_matrix(Xr, Yr, device="cuda", **kw),
        moment_matrix(Xr, Yr, **kw),
        rtol=1e-12,
        atol=1e-14,  # the centred columns' means are rounding noise around 0
    )
