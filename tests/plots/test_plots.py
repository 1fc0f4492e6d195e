"""The three figures: what they draw (checked against independent computations), that they save
as PNG and SVG, carry the column names, and refuse bad input clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import olsnet
from olsnet.data import ArraySource, Design
from olsnet.datasets import load_longley
from olsnet.errors import (
    DataError,
    DimensionError,
    InputTypeError,
    OptionError,
    OutputPathError,
)
from olsnet.plots import plot_diagnostics, plot_network, plot_training
from olsnet.plots._diagnostics import diagnostics
from olsnet.plots._network import network_layers
from olsnet.plots._training import reference_of

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def longley():
    return load_longley()


@pytest.fixture(scope="module")
def fitted(longley):
    d = longley
    source = ArraySource(
        Design(np.array(d.X), np.array(d.y)[:, None], None, d.feature_names, (d.target_name,), 1)
    )
    return olsnet.LinearRegression().fit(source)


@pytest.fixture(scope="module")
def statsmodels_fit(longley):
    return sm.OLS(np.array(longley.y), sm.add_constant(np.array(longley.X))).fit()


def _texts(fig) -> str:
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def _assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > min_bytes


# -- network ---------------------------------------------------------------------------------
def test_network_diagram_of_a_linear_network_collapses_to_its_forward_pass(longley, tmp_path):
    net = olsnet.LinearNetwork(
        6,
        hidden=(3,),
        seed=1,
        feature_names=longley.feature_names,
        target_names=[longley.target_name],
    )
    layers = network_layers(net)
    assert [W.shape for W, _ in layers.layers] == [(3, 6), (1, 3)]
    probes = np.random.default_rng(0).normal(size=(20, 6))
    with torch.no_grad():
        expected = net(torch.as_tensor(probes)).numpy()[:, 0]  # PyTorch's own forward pass
    np.testing.assert_allclose(layers.collapsed.predict(probes), expected, rtol=1e-12, atol=1e-12)
    fig = plot_network(net, tmp_path / "net.png")
    _assert_png(tmp_path / "net.png")
    text = _texts(fig)
    for name in (*longley.feature_names, longley.target_name, "h1", "h3", "collapsed"):
        assert name in text


def test_network_diagram_of_a_regression_is_its_coefficients(fitted, statsmodels_fit, tmp_path):
    for model in (fitted, fitted.result_):
        layers = network_layers(model)
        ((W, b),) = layers.layers
        np.testing.assert_allclose(W[0], statsmodels_fit.params[1:], rtol=1e-7)
        np.testing.assert_allclose(b[0], statsmodels_fit.params[0], rtol=1e-7)
        assert layers.feature_names == ("GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR")
        assert layers.target_names == ("TOTEMP",)
    plot_network(fitted, tmp_path / "neuron.svg")
    svg = (tmp_path / "neuron.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "GNPDEFL" in svg and "TOTEMP" in svg  # text is kept as text in the SVG


def test_network_diagram_of_a_chain_of_affines_and_feature_names(tmp_path):
    rng = np.random.default_rng(2)
    first = olsnet.Affine(rng.normal(size=(2, 3)), rng.normal(size=2))
    second = olsnet.Affine(rng.normal(size=(1, 2)), rng.normal(size=1))
    layers = network_layers([first, second], feature_names=["a", "b", "c"])
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(
        layers.collapsed.predict(x), second.predict(first.predict(x)), rtol=1e-13
    )
    fig = plot_network([first, second], feature_names=["a", "b", "c"])
    assert "a" in _texts(fig)
    with pytest.raises(DimensionError, match="2 names; the model takes 3"):
        plot_network(first, feature_names=["a", "b"])
    with pytest.raises(InputTypeError, match="plot_network draws"):
        plot_network("not a model")


def test_network_diagram_refuses_a_non_linear_network():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)).eval()
    with pytest.raises(olsnet.NotAffineError):
        plot_network(net)


# -- training ------------------------------------------------------------------------------------
def test_training_reference_is_the_optimal_loss_and_a_trained_neuron_reaches_it(
    longley, fitted, statsmodels_fit, tmp_path
):
    ref = reference_of(fitted)
    assert ref.loss == pytest.approx(statsmodels_fit.ssr / (2 * 16), rel=1e-12)
    np.testing.assert_allclose(ref.params, statsmodels_fit.params, rtol=1e-7)
    assert ref.names[0] == "Intercept" and ref.names[1:] == longley.feature_names
    net = olsnet.LinearNetwork(6, seed=0)
    paths = []

    def record(epoch, log):  # std coordinates during training: only the count matters here
        paths.append(np.r_[net[0].bias.detach().numpy(), net[0].weight.detach().numpy()[0]])

    log = olsnet.train(net, np.array(longley.X), np.array(longley.y), callback=record)
    assert log.final_loss == pytest.approx(ref.loss, rel=1e-10)
    fig = plot_training(
        log, tmp_path / "training.png", reference=fitted, coef_paths=np.array([*paths, paths[-1]])
    )
    _assert_png(tmp_path / "training.png")
    text = _texts(fig)
    for name in ("Intercept", *longley.feature_names, "exact optimum"):
        assert name in text


def test_training_checks_coefficient_paths(longley, fitted):
    net = olsnet.LinearNetwork(6, seed=0)
    log = olsnet.train(net, np.array(longley.X), np.array(longley.y))
    with pytest.raises(DimensionError, match="coef_paths has 2 rows"):
        plot_training(log, reference=fitted, coef_paths=np.zeros((2, 7)))
    with pytest.raises(DimensionError, match="reference has 7 coefficients"):
        plot_training(
            log,
            reference=fitted,
            coef_paths=np.zeros((log.epochs + 1, 3)),
            coef_names=["a", "b", "c"],
        )
    with pytest.raises(InputTypeError, match="reference must be"):
        plot_training(log, reference="OLS")
    fig = plot_training(log, reference=1.0)  # a bare optimal loss is enough for the loss panels
    assert "exact optimum 1" in _texts(fig)


def test_training_reference_with_two_outputs_sums_their_losses(longley):
    X, y = np.array(longley.X), np.array(longley.y)
    Y = np.column_stack([y, X[:, 0] + 0.5 * y])
    Xs = X[:, 1:]
    two = olsnet.LinearRegression().fit(Xs, Y)
    ssr = sum(sm.OLS(Y[:, j], sm.add_constant(Xs)).fit().ssr for j in range(2))
    ref = reference_of(two)
    assert ref.n_outputs == 2 and ref.params is None
    assert ref.loss == pytest.approx(ssr / (2 * 16), rel=1e-10)
    net = olsnet.LinearNetwork(5, n_outputs=2, seed=0)
    log = olsnet.train(net, Xs, Y)
    assert log.final_loss == pytest.approx(ref.loss, rel=1e-9)
    plot_training(log, reference=two)  # loss panels only
    with pytest.raises(DimensionError, match="reference has 2 outputs"):
        plot_training(log, reference=two, coef_paths=np.zeros((log.epochs + 1, 6)))


# -- diagnostics ---------------------------------------------------------------------------------
def test_diagnostics_match_statsmodels_influence(fitted, statsmodels_fit, longley, tmp_path):
    infl = statsmodels_fit.get_influence()
    for d in (
        diagnostics(fitted),  # rows from the result's own data source
        diagnostics(fitted.result_, X=np.array(longley.X), y=np.array(longley.y)),
    ):
        np.testing.assert_allclose(d.fitted, statsmodels_fit.fittedvalues, rtol=1e-9)
        np.testing.assert_allclose(d.resid, statsmodels_fit.resid, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(d.hat, infl.hat_matrix_diag, rtol=1e-9)
        np.testing.assert_allclose(d.std_resid, infl.resid_studentized_internal, rtol=1e-6)
        np.testing.assert_allclose(d.cooks, infl.cooks_distance[0], rtol=1e-6)
    years = [str(int(v)) for v in longley.X[:, -1]]
    fig = plot_diagnostics(fitted, tmp_path / "diag.png", labels=years)
    _assert_png(tmp_path / "diag.png")
    text = _texts(fig)
    assert "TOTEMP ~ GNPDEFL + GNP" in text and "Cook's distance 0.5" in text
    worst = years[int(np.argmax(infl.cooks_distance[0]))]
    assert worst in text  # the most influential year is labelled


def test_diagnostics_weighted_rows_match_whitened_statsmodels(tmp_path):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 2))
    y = X @ [2.0, -1.0] + rng.normal(size=30)
    w = rng.uniform(0.5, 2.0, 30)
    w[3] = 0.0  # a zero-weight row is not an observation: left out, as in R
    model = olsnet.LinearRegression().fit(X, y, sample_weight=w)
    keep = w > 0
    sw = np.sqrt(w[keep])
    ref = sm.OLS(y[keep] * sw, sm.add_constant(X[keep]) * sw[:, None]).fit().get_influence()
    d = diagnostics(model, X=X, y=y, sample_weight=w)
    assert d.hat.shape == (29,) and "3" not in d.labels
    np.testing.assert_allclose(d.hat, ref.hat_matrix_diag, rtol=1e-10)
    np.testing.assert_allclose(d.std_resid, ref.resid_studentized_internal, rtol=1e-8)


def test_diagnostics_without_data_say_how_to_pass_them(fitted):
    from olsnet.inference import RegressionResult
    from olsnet.solve import exact_lstsq

    d = load_longley()
    sol = exact_lstsq(np.array(d.X), np.array(d.y)[:, None], None, True)
    bare = RegressionResult.from_solution(sol, None, feature_names=d.feature_names)
    with pytest.raises(DataError, match="X=X, y=y"):
        plot_diagnostics(bare)
    with pytest.raises(DimensionError, match="labels has 2 entries for 16 rows"):
        plot_diagnostics(fitted, labels=["a", "b"])


# -- saving --------------------------------------------------------------------------------------
def test_saving_refuses_unknown_extensions_and_missing_folders(fitted, tmp_path):
    with pytest.raises(OptionError, match=r"'\.jpg' is not one of \.png, \.svg, \.pdf"):
        plot_network(fitted, tmp_path / "net.jpg")
    with pytest.raises(OutputPathError, match="does not exist"):
        plot_network(fitted, tmp_path / "missing" / "net.png")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    plot_network(fitted, tmp_path / "net.png")
    assert [p.name for p in tmp_path.iterdir()] == ["net.png"]  # no temporary file left
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "net.png").stat().st_mode & 0o777 == 0o666 & ~mask  # as open() makes it


def test_plots_import_no_matplotlib_until_drawing_and_never_pyplot():
    code = (
        "import sys, warnings\n"
        "import olsnet.plots\n"
        "assert 'matplotlib' not in sys.modules, 'olsnet.plots imported matplotlib'\n"
        "import numpy as np\n"
        "from olsnet import Affine\n"
        "olsnet.plots.plot_network(Affine(np.ones((1, 2)), np.zeros(1)))\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    with warnings.catch_warnings():
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 0, out.stderr


def test_training_reference_from_any_fitted_estimator(longley, statsmodels_fit):
    from sklearn.linear_model import LinearRegression as SkLinearRegression

    sk = SkLinearRegression().fit(np.array(longley.X), np.array(longley.y))
    ref = reference_of(sk)
    assert ref.loss is None and ref.names[0] == "Intercept" and len(ref.names) == 7
    np.testing.assert_allclose(ref.params, statsmodels_fit.params, rtol=1e-5)
