"""``olsnet train`` flags, its coefficient paths, and start-up without ``torch._dynamo``.

References: plain PyTorch (``torch.optim.SGD`` on the same loss from the same initial weights)
and torch's own optimizers step for step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet.cli import main

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

SRC = str(Path(olsnet.__file__).resolve().parents[1])


@pytest.fixture
def csv51(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    X = rng.normal(size=(51, 2)) * [1.0, 3.0] + [0.5, -1.0]
    y = 1.0 + X @ [0.8, -0.3] + 0.5 * rng.normal(size=51)
    path = tmp_path / "d51.csv"
    rows = [f"{a:.17g},{b:.17g},{t:.17g}" for (a, b), t in zip(X, y, strict=True)]
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    return path, X, y


def _plain_torch_gd(X, y, lr, momentum, epochs, seed):
    """Full-batch SGD on J = Σ(y − ŷ)² / 2n of a single neuron, raw columns, torch only."""
    net = olsnet.LinearNetwork(X.shape[1], seed=seed)  # the same initial weights as the CLI's
    layer = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(net[0].weight)
        layer.bias.copy_(net[0].bias)
    opt = torch.optim.SGD(layer.parameters(), lr=lr, momentum=momentum)
    Xt, yt = torch.tensor(X), torch.tensor(y)[:, None]
    for _ in range(epochs):
        opt.zero_grad()
        loss = ((layer(Xt) - yt) ** 2).sum() / (2 * len(X))
        loss.backward()
        opt.step()
    return np.r_[layer.bias.detach().numpy(), layer.weight.detach().numpy()[0]]


def test_gd_on_raw_columns_follows_plain_pytorch(csv51, tmp_path, capsys):
    path, X, y = csv51
    args = ["train", path, "-y", "y", "--optimizer", "gd", "--no-standardize", "--lr", "0.02"]
    args += ["--momentum", "0.5", "--epochs", "40", "--save", tmp_path / "net.olsnet"]
    status = main([str(a) for a in [*args, "--format", "json"]])
    out, err = capsys.readouterr()
    assert status == 0, err
    log = json.loads(out)["training"]
    assert log["optimizer"] == "gd" and log["lr"] == 0.02 and log["epochs"] == 40
    net = olsnet.load(tmp_path / "net.olsnet")
    a = net.collapse()
    got = np.r_[a.bias, a.weight[0]]
    expected = _plain_torch_gd(X, y, lr=0.02, momentum=0.5, epochs=40, seed=0)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    ols = olsnet.LinearRegression().fit(X, y)
    # the lesson: 40 epochs on raw columns are still far from the exact coefficients
    assert np.max(np.abs(got - np.r_[ols.intercept_, ols.coef_])) > 1e-3


def test_standardized_training_reaches_ols_and_weight_decay_is_ridge(csv51, tmp_path, capsys):
    path, X, y = csv51
    status = main(["train", str(path), "-y", "y", "--save", str(tmp_path / "n.olsnet")])
    assert status == 0, capsys.readouterr().err
    a = olsnet.load(tmp_path / "n.olsnet").collapse()
    ols = olsnet.LinearRegression().fit(X, y)
    np.testing.assert_allclose(a.weight[0], ols.coef_, rtol=1e-10)
    lam = 0.3
    args = ["train", path, "-y", "y", "--weight-decay", lam, "--save", tmp_path / "r.olsnet"]
    assert main([str(v) for v in args]) == 0
    r = olsnet.load(tmp_path / "r.olsnet").collapse()
    # J + λ/2 ‖w‖², J = Σ e² / 2n  <=>  ridge with penalty n λ on Σ e² / 2 (intercept free)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc + len(X) * lam * np.eye(2), Xc.T @ yc)
    np.testing.assert_allclose(r.weight[0], w, rtol=1e-8)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "8"], "batch_size is not accepted with optimizer='lbfgs'"),
        (["--device", "warp-drive"], "--device 'warp-drive' is not a torch device"),
        (["--device", "cuda:7"], "--device 'cuda:7' is not available"),
        (["--weight-decay", "-1"], "weight_decay=-1.0 is not accepted"),
    ],
)
def test_bad_training_flags_name_the_flag(csv51, capsys, extra, message):
    if extra[-1] == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    status = main(["train", str(csv51[0]), "-y", "y", *extra])
    assert status == 2
    assert message in capsys.readouterr().err


def test_sgd_minibatches_and_adam_accept_their_flags(csv51, capsys):
    path = str(csv51[0])
    for extra in (["--optimizer", "sgd", "--batch-size", "10", "--lr", "0.01"],
                  ["--optimizer", "adam", "--lr", "0.05", "--batch-size", "17"]):  # fmt: skip
        assert main(["train", path, "-y", "y", "--epochs", "5", "--format", "json", *extra]) == 0
        log = json.loads(capsys.readouterr().out)["training"]
        assert log["epochs"] == 5 and log["lr"] == float(extra[-1 if "sgd" in extra else 3])


def test_coefficient_paths_are_in_the_datas_units(csv51):
    from olsnet.cli._app import DataOptions
    from olsnet.cli._train import TrainFlags, train_from_file

    path, X, y = csv51
    data = DataOptions(str(path), ["y"], None, None, None, "raise")
    raw = TrainFlags(lr=0.02, standardize=False)
    t = train_from_file(data, (), "gd", 3, 0, live=False, flags=raw, record_paths=True)
    assert t.coef_paths.shape == (4, 3)
    for epochs in (1, 3):  # row k = the coefficients after k plain-PyTorch steps
        np.testing.assert_allclose(
            t.coef_paths[epochs], _plain_torch_gd(X, y, 0.02, 0.0, epochs, 0), rtol=1e-10
        )
    std = train_from_file(data, (3,), "lbfgs", None, 0, live=False, record_paths=True)
    a = std.net.collapse()
    np.testing.assert_allclose(std.coef_paths[-1], np.r_[a.bias, a.weight[0]], rtol=1e-9)
    assert std.coef_paths.shape[0] == len(std.log.loss)


def test_train_plot_draws_the_coefficient_panels(csv51, tmp_path, monkeypatch):
    import olsnet.plots as plots

    drawn = {}
    original = plots.plot_training

    def spy(log, path=None, **kw):
        fig = original(log, path, **kw)
        drawn["titles"] = [ax.get_title() for ax in fig.axes]
        return fig

    monkeypatch.setattr(plots, "plot_training", spy)
    assert main(["train", str(csv51[0]), "-y", "y", "--plot", str(tmp_path / "figs")]) == 0
    titles = " ".join(drawn["titles"])
    for name in ("Intercept", "a", "b", "OLS"):
        assert name in titles
    assert (tmp_path / "figs" / "training.png").stat().st_size > 10_000


def test_train_never_imports_torch_dynamo(csv51):
    code = (
        "import sys\nfrom olsnet.cli import main\n"
        f"for opt in ('lbfgs', 'gd', 'adam', 'sgd'):\n"
        f"    assert main(['train', {str(csv51[0])!r}, '-y', 'y', '--optimizer', opt,"
        " '--epochs', '3']) == 0\n"
        "print('torch._dynamo' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"
