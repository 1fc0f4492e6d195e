"""Training reaches the exact optimum: OLS, reduced-rank and ridge, with every optimizer."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
from nn_helpers import max_rel, params_of

import olsnet
from olsnet.errors import OptionError, TrainingWarning


def ssr_of(net, X, Y) -> float:
    R = np.asarray(Y).reshape(len(X), -1) - olsnet.collapse(net).predict(X).reshape(len(X), -1)
    return float((R * R).sum())


def test_single_neuron_default_optimizer_reaches_ols(diabetes, diabetes_ols):
    X, y = diabetes
    ref, ssr = diabetes_ols
    net = olsnet.LinearNetwork(10, seed=0).fit(X, y)
    assert net.training_log_.converged
    assert max_rel(params_of(net), ref) <= 1e-9
    assert ssr_of(net, X, y) == pytest.approx(ssr, rel=1e-12)


@pytest.mark.parametrize("hidden", [(3,), (16, 16), (16, 16, 16)])
def test_hidden_layers_reach_ols(diabetes, diabetes_ols, hidden):
    X, y = diabetes
    ref, ssr = diabetes_ols
    net = olsnet.LinearNetwork(10, hidden=hidden, seed=1)
    log = olsnet.train(net, X, y)
    assert log.converged
    assert max_rel(params_of(net), ref) <= 1e-7
    assert ssr_of(net, X, y) == pytest.approx(ssr, rel=1e-12)


@pytest.mark.parametrize(
    ("optimizer", "options", "epochs"),
    [
        ("gd", {"momentum": 0.9}, 1000),  # step 1/L (plain GD needs about 8,000 epochs)
        ("adam", {"lr": 0.05}, 1500),
    ],
)
def test_first_order_optimizers_reach_ols(diabetes, diabetes_ols, optimizer, options, epochs):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)
        log = olsnet.train(net, X, y, optimizer=optimizer, max_epochs=epochs, **options)
    assert log.epochs <= epochs
    assert max_rel(params_of(net), diabetes_ols[0]) <= 1e-6


def test_plain_gd_contracts_at_the_rate_of_step_one_over_L(diabetes):
    """With step 1/L, GD on a quadratic shrinks J - J* at least by (1 - μ/L)² per epoch."""
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0)
    k = 300
    with pytest.warns(TrainingWarning, match="max_epochs"):
        log = olsnet.train(net, X, y, optimizer="gd", max_epochs=k, standardize=False)
    A = np.c_[np.ones(len(X)), X]
    H = A.T @ A / len(X)  # Hessian of J = ||r||² / (2n)
    ev = np.linalg.eigvalsh(H)
    assert log.lr == pytest.approx(1.0 / ev[-1], rel=1e-10)
    _, ssr_opt = np.linalg.lstsq(A, y, rcond=None)[:2]
    J_opt = float(ssr_opt[0]) / (2 * len(X))
    bound = (1 - ev[0] / ev[-1]) ** (2 * k) * (log.loss[0] - J_opt)
    assert log.loss[-1] - J_opt <= bound * (1 + 1e-9)
    assert np.all(np.diff(log.loss) <= 1e-12 * log.loss[0])  # monotone, as GD with 1/L is


def test_sgd_is_reproducible_with_a_seed_and_gets_close(diabetes, diabetes_ols):
    X, y = diabetes
    runs = []
    for _ in range(2):
        net = olsnet.LinearNetwork(10, seed=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingWarning)
            olsnet.train(net, X, y, optimizer="sgd", batch_size=64, max_epochs=30, seed=7)
        runs.append([t.detach().clone() for t in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
    net2 = olsnet.LinearNetwork(10, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)
        olsnet.train(net2, X, y, optimizer="sgd", batch_size=64, max_epochs=30, seed=8)
    assert not torch.equal(net2[0].weight, runs[0][0])
    # constant-step SGD (lr 0.1/L) hovers near the optimum, at a noise floor of about 1%
    ref_ssr = diabetes_ols[1]
    assert ssr_of(net2, X, y) == pytest.approx(ref_ssr, rel=2e-2)


def test_bottleneck_reaches_reduced_rank_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 10))
    Y = X @ rng.normal(size=(10, 3)) + 2.0 * rng.normal(size=(400, 3)) + 5.0
    rrr = olsnet.ReducedRankRegression(rank=2).fit(X, Y)
    ssr_rrr = float(((Y - rrr.predict(X)) ** 2).sum())
    net = olsnet.LinearNetwork(10, 3, hidden=(2,), seed=0).fit(X, Y)
    assert net.bottleneck == 2
    assert ssr_of(net, X, Y) == pytest.approx(ssr_rrr, rel=1e-8)
    # and strictly above OLS: the bottleneck binds
    ols = np.linalg.lstsq(np.c_[np.ones(400), X], Y, rcond=None)[1].sum()
    assert ssr_rrr > ols * (1 + 1e-3)


@pytest.mark.parametrize("weight_decay", [1e-3, 0.1])
def test_weight_decay_on_single_neuron_is_ridge(diabetes, weight_decay):
    from sklearn.linear_model import Ridge

    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0)
    olsnet.train(net, X, y, weight_decay=weight_decay)
    alpha = weight_decay * len(y)  # the correspondence documented in RidgeRegression
    A = net.collapse()
    for ref in (olsnet.RidgeRegression(alpha=alpha).fit(X, y), Ridge(alpha=alpha).fit(X, y)):
        np.testing.assert_allclose(
            A.weight[0], ref.coef_, rtol=1e-8, atol=1e-8 * np.abs(ref.coef_).max()
        )
        assert A.bias[0] == pytest.approx(ref.intercept_, rel=1e-10)
    # and it is not OLS: the penalty binds
    ols = olsnet.LinearRegression().fit(X, y)
    assert np.abs(A.weight[0] - ols.coef_).max() > 1e-3 * np.abs(ols.coef_).max()


def test_sample_weight_equals_repeated_rows(diabetes):
    X, y = diabetes
    rng = np.random.default_rng(1)
    k = rng.integers(1, 4, size=len(y))
    a = olsnet.LinearNetwork(10, seed=0).fit(X, y, sample_weight=k.astype(float))
    b = olsnet.LinearNetwork(10, seed=0).fit(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(params_of(a), params_of(b), rtol=1e-9)


def test_training_log_records_each_epoch_and_stop_reason(diabetes):
    X, y = diabetes
    seen = []
    net = olsnet.LinearNetwork(10, seed=0)
    with pytest.warns(TrainingWarning, match="max_epochs=40"):
        log = olsnet.train(
            net,
            X,
            y,
            optimizer="gd",
            max_epochs=40,
            callback=lambda epoch, lg: seen.append((epoch, lg.epochs, lg.loss.size)),
        )
    assert log.epochs == 40 and not log.converged
    assert log.loss.shape == log.grad_norm.shape == log.time.shape == (41,)
    assert seen == [(e, e, e + 1) for e in range(1, 41)]
    assert np.all(np.diff(log.time) >= 0)
    with pytest.raises(ValueError):
        log.loss[0] = 0.0  # read-only
    stop = olsnet.train(
        olsnet.LinearNetwork(10, seed=0),
        X,
        y,
        optimizer="gd",
        callback=lambda epoch, lg: epoch == 5,
    )
    assert stop.epochs == 5 and stop.stop_reason == "stopped by callback"


def test_max_time_and_loss_tol_stop(diabetes):
    X, y = diabetes
    with pytest.warns(TrainingWarning, match="max_time"):
        log = olsnet.train(
            olsnet.LinearNetwork(10, seed=0), X, y, optimizer="gd", max_time=0.05, max_epochs=10**9
        )
    assert 0 < log.epochs < 10**9
    log = olsnet.train(olsnet.LinearNetwork(10, seed=0), X, y, optimizer="gd", loss_tol=1e-3)
    assert log.converged and "loss_tol" in log.stop_reason
    rel = abs(log.loss[-1] - log.loss[-2]) / log.loss[-1]
    assert rel < 1e-3


def test_standardization_is_undone_and_other_units_give_same_fit(diabetes, diabetes_ols):
    """Rescaling a column by 1000 rescales its coefficient by 1/1000 and nothing else."""
    X, y = diabetes
    Xs = X.copy()
    Xs[:, 2] *= 1000.0
    net = olsnet.LinearNetwork(10, seed=0).fit(Xs, y + 1e4)
    ref = diabetes_ols[0].copy()
    ref[3] /= 1000.0
    ref[0] += 1e4
    assert max_rel(params_of(net), ref) <= 1e-9


def test_progress_bar_runs(diabetes):
    X, y = diabetes
    log = olsnet.train(olsnet.LinearNetwork(10, seed=0), X, y, progress=True)
    assert log.converged


def test_frame_names_reach_the_collapsed_map(diabetes):
    pd = pytest.importorskip("pandas")
    X, y = diabetes
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(10)])
    net = olsnet.LinearNetwork(10, seed=0).fit(frame, pd.Series(y, name="progression"))
    A = net.collapse()
    assert A.feature_names == tuple(frame.columns)
    assert A.target_names == ("progression",)


def test_float32_network_trains_in_float32(diabetes, diabetes_ols):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0, dtype=torch.float32).fit(X, y)
    assert net[0].weight.dtype == torch.float32
    # one dtype policy: the collapsed map is the float64 product of the float32 factors
    assert net.collapse().weight.dtype == np.float64
    assert max_rel(params_of(net), diabetes_ols[0]) <= 1e-2


def test_plain_torch_modules_train(diabetes, diabetes_ols):
    X, y = diabetes
    seq = torch.nn.Sequential(
        torch.nn.Linear(10, 4, dtype=torch.float64),
        torch.nn.Identity(),
        torch.nn.Linear(4, 1, dtype=torch.float64),
    )
    olsnet.train(seq, X, y)
    assert max_rel(params_of(seq), diabetes_ols[0]) <= 1e-7
    lin = torch.nn.Linear(10, 1, dtype=torch.float64)
    olsnet.train(lin, X, y)
    assert max_rel(params_of(lin), diabetes_ols[0]) <= 1e-9


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_reaches_ols(diabetes, diabetes_ols):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0, device="cuda").fit(X, y)
    assert net[0].weight.device.type == "cuda"
    assert max_rel(params_of(net), diabetes_ols[0]) <= 1e-9


def test_network_without_bias_is_regression_through_origin(diabetes):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, bias=False, seed=0).fit(X, y)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    assert max_rel(net.collapse().weight[0], ref) <= 1e-9
    np.testing.assert_array_equal(net.collapse().bias, [0.0])


def test_ill_conditioned_longley_reaches_statsmodels():
    """Longley's columns are nearly collinear (condition number ~4.9e9 unscaled)."""
    sm = pytest.importorskip("statsmodels.api")
    data = sm.datasets.longley.load_pandas()
    X, y = data.exog.to_numpy(), data.endog.to_numpy()
    ref = sm.OLS(y, sm.add_constant(X)).fit(method="qr").params
    net = olsnet.LinearNetwork(6, seed=0).fit(X, y)
    assert max_rel(params_of(net), ref) <= 1e-9


@pytest.mark.parametrize("hidden", [(), (3,), (16, 16)])
def test_lbfgs_log_has_one_entry_per_epoch_plus_start(diabetes, hidden):
    X, y = diabetes
    log = olsnet.train(olsnet.LinearNetwork(10, hidden=hidden, seed=2), X, y)
    assert log.loss.shape == log.grad_norm.shape == log.time.shape == (log.epochs + 1,)
    assert log.loss[-1] <= log.loss[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hidden_layer_on_unscaled_longley_reaches_ols(seed):
    """A fresh network starts from PyTorch's initialisation in standardised units, so a column
    of size 4e5 (GNP) does not make the first layer's weights huge (where L-BFGS stalled)."""
    from olsnet.datasets import load_longley

    data = load_longley()
    ref = olsnet.LinearRegression().fit(data.X, data.y)
    net = olsnet.LinearNetwork(6, hidden=(3,), seed=seed)
    net.fit(data.X, data.y)
    affine = net.collapse()
    np.testing.assert_allclose(affine.weight[0], ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(affine.bias[0], ref.intercept_, rtol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("hidden", "tol"), [((), 1e-9), ((3,), 1e-7)])
def test_moments_and_data_objectives_reach_the_same_optimum(diabetes, weighted, hidden, tol):
    import statsmodels.api as sm

    X, y = diabetes
    w = np.random.default_rng(4).uniform(0.5, 3.0, size=len(y)) if weighted else None
    ref = sm.WLS(y, sm.add_constant(X), weights=1.0 if w is None else w).fit(method="qr").params
    fits = {}
    for objective in ("moments", "data"):
        net = olsnet.LinearNetwork(10, hidden=hidden, seed=1)
        log = olsnet.train(net, X, y, w, objective=objective)
        assert log.converged and log.objective == objective
        fits[objective] = params_of(net)
        assert max_rel(fits[objective], ref) <= tol
    assert max_rel(fits["moments"], fits["data"]) <= tol


@pytest.mark.parametrize(
    ("hidden", "q", "weighted"), [((), 1, False), ((3,), 1, True), ((4, 2), 3, True)]
)
def test_moments_gradient_equals_autograd_of_data_loss(hidden, q, weighted):
    """At random parameters, ½ tr(A M Aᵀ) and Σ w ||y - f(x)||² / (2 Σw) have the same
    gradient in every layer (the latter by autograd through the rows)."""
    from olsnet.nn.training import moment_matrix, moments_loss

    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 4.0, size=6) + 2.0
    Y = X @ rng.normal(size=(6, q)) + rng.normal(size=(300, q)) + 1.0
    w = rng.uniform(0.1, 2.0, size=300) if weighted else None
    net = olsnet.LinearNetwork(6, q, hidden=hidden, seed=6)
    layers = list(net)
    r2 = ((torch.as_tensor(Y) - net(torch.as_tensor(X))) ** 2).sum(dim=1)
    wt = torch.ones(300, dtype=torch.float64) if w is None else torch.as_tensor(w)
    data = 0.5 * (wt * r2).sum() / wt.sum()
    g_data = torch.autograd.grad(data, list(net.parameters()))
    M = torch.as_tensor(moment_matrix(X, Y, w, block_rows=64))  # several blocks
    mom = moments_loss(layers, M)
    g_mom = torch.autograd.grad(mom, list(net.parameters()))
    assert mom.item() == pytest.approx(data.item(), rel=1e-12)
    for a, b in zip(g_mom, g_data, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12 * b.abs().max())


def test_objective_option_errors_list_accepted_values(diabetes):
    X, y = diabetes
    with pytest.raises(OptionError, match="'auto', 'moments', 'data'"):
        olsnet.train(olsnet.LinearNetwork(10), X, y, objective="normal")
    with pytest.raises(OptionError, match="full batch"):
        olsnet.train(olsnet.LinearNetwork(10), X, y, optimizer="sgd", objective="moments")


def test_auto_objective_is_moments_for_full_batch_else_data(diabetes):
    X, y = diabetes
    assert olsnet.train(olsnet.LinearNetwork(10, seed=0), X, y).objective == "moments"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)
        log = olsnet.train(
            olsnet.LinearNetwork(10, seed=0), X, y, optimizer="adam", batch_size=64, max_epochs=1
        )
    assert log.objective == "data"
    # nearly collinear columns: the standardised moments are too ill-conditioned (> 1e8)
    rng = np.random.default_rng(2)
    Xc = rng.normal(size=(200, 3))
    Xc[:, 2] = Xc[:, 0] + 1e-5 * rng.normal(size=200)
    yc = Xc @ [1.0, 2.0, 3.0] + rng.normal(size=200)
    with pytest.warns(TrainingWarning, match="max_epochs=1"):
        log = olsnet.train(olsnet.LinearNetwork(3, seed=0), Xc, yc, max_epochs=1)
    assert log.objective == "data"


def test_divergence_is_reported_naming_the_epoch():
    """SGD with a step far beyond 2/L on unscaled data: the loss grows geometrically; training
    stops with ConvergenceError naming the epoch, instead of returning the weights."""
    rng = np.random.default_rng(3)
    X = 100.0 * rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.standard_normal(200)
    net = olsnet.LinearNetwork(3, seed=0)
    with pytest.raises(olsnet.errors.ConvergenceError) as info:
        olsnet.train(net, X, y, optimizer="sgd", lr=1e-2, standardize=False, max_epochs=200)
    message = str(info.value)
    assert re.search(r"diverged in epoch \d+: the loss rose from", message)
    epoch = int(re.search(r"epoch (\d+)", message).group(1))
    assert 0 < epoch < 20  # caught within a few epochs of geometric growth, not after 200
    assert "smaller lr" in message and "standardize=True" in message
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_converging_sgd_is_not_called_divergent(diabetes):
    X, y = diabetes
    net = olsnet.LinearNetwork(10, seed=0)
    with pytest.warns(TrainingWarning, match="max_epochs=30"):
        log = olsnet.train(net, X, y, optimizer="sgd", max_epochs=30)  # default lr 0.1 / L
    assert log.epochs == 30 and np.isfinite(log.final_loss)
