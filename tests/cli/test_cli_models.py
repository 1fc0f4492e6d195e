"""``olsnet train``, ``collapse``, ``predict`` and ``plot``: references are statsmodels (the
exact fit) and the torch module itself (its forward pass)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.cli import main

torch = pytest.importorskip("torch")
sm = pytest.importorskip("statsmodels.api")


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    n = 150
    df = pd.DataFrame(
        rng.normal(size=(n, 3)) * [1.0, 3.0, 0.5] + [0.0, 2.0, -1.0], columns=["x1", "x2", "x3"]
    )
    df["y"] = 0.5 + 1.5 * df.x1 - 0.7 * df.x2 + 2.0 * df.x3 + rng.normal(size=n)
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_train_hidden_layer_reaches_ols_and_writes_plots(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(
        [
            "train",
            data_csv,
            "-y",
            "y",
            "--hidden",
            "3",
            "--format",
            "json",
            "--plot",
            tmp_path / "figs",
            "--save",
            tmp_path / "net.olsnet",
        ],
        capsys,
    )
    assert status == 0, err
    report = json.loads(out)
    df = pd.read_csv(data_csv)
    ref = sm.OLS(df["y"], sm.add_constant(df[["x1", "x2", "x3"]])).fit()
    exact_loss = ref.ssr / (2 * len(df))
    np.testing.assert_allclose(report["training"]["exact_loss"], exact_loss, rtol=1e-12)
    np.testing.assert_allclose(report["training"]["final_loss"], exact_loss, rtol=1e-10)
    net = olsnet.load(tmp_path / "net.olsnet")
    assert net.hidden == (3,)
    affine = olsnet.collapse(net)
    np.testing.assert_allclose(affine.weight[0], ref.params.to_numpy()[1:], rtol=1e-7)
    np.testing.assert_allclose(affine.bias[0], ref.params.iloc[0], rtol=1e-7)
    for name in ("network.png", "training.png"):
        assert (tmp_path / "figs" / name).stat().st_size > 10_000


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
def test_collapse_state_dict_and_torchscript_then_predict(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(3, 4, dtype=torch.float64),
        torch.nn.Linear(4, 2, dtype=torch.float64),
        torch.nn.Linear(2, 1, dtype=torch.float64),
    )
    X = pd.read_csv(data_csv)[["x1", "x2", "x3"]].to_numpy()
    with torch.no_grad():
        want = seq(torch.from_numpy(X)).numpy()[:, 0]  # the module's own forward pass
    torch.save(seq.state_dict(), tmp_path / "sd.pt")
    torch.jit.trace(seq, torch.zeros(2, 3, dtype=torch.float64)).save(str(tmp_path / "ts.pt"))
    for model in ("sd.pt", "ts.pt"):
        trust = ["--allow-torchscript"] if model == "ts.pt" else []
        status, out, err = _run(
            [
                "collapse",
                tmp_path / model,
                "--format",
                "json",
                "--out",
                tmp_path / "map.onnx",
                *trust,
            ],
            capsys,
        )
        assert status == 0, err
        m = json.loads(out)
        np.testing.assert_allclose(
            X @ np.asarray(m["weight"]).T[:, 0] + m["bias"][0], want, rtol=1e-12, atol=1e-12
        )
        out = tmp_path / "pred.parquet"
        args = ["predict", tmp_path / "map.onnx", data_csv, *"-x x1 -x x2 -x x3 -o".split(), out]
        status, _, err = _run(args, capsys)
        assert status == 0, err
        got = pd.read_parquet(tmp_path / "pred.parquet")
        assert list(got.columns) == ["predicted_y"]
        np.testing.assert_allclose(got["predicted_y"].to_numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning")
def test_torchscript_is_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seq = torch.nn.Sequential(torch.nn.Linear(3, 1, dtype=torch.float64))
    torch.jit.trace(seq, torch.zeros(2, 3, dtype=torch.float64)).save(str(tmp_path / "ts.pt"))
    status, out, err = _run(["collapse", tmp_path / "ts.pt"], capsys)
    assert status == 2 and out == ""
    assert "runs code" in err and "--allow-torchscript" in err


def test_collapse_out_onnx_is_a_drop_in_replacement_with_a_one_line_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: a float32 ONNX model with input 'x' collapsed to m.onnx keeps the
    name and type, so the original feed runs; the terminal gets one line, not the equations."""
    import onnx
    import onnxruntime as ort

    from olsnet.io.onnx import to_onnx

    rng = np.random.default_rng(0)
    proto = to_onnx(olsnet.Affine(rng.normal(size=(10, 64)), rng.normal(size=10)), None,
                    dtype="float32")  # fmt: skip
    proto.graph.input[0].name = "x"
    proto.graph.node[0].input[0] = "x"
    onnx.save(proto, tmp_path / "model.onnx")
    status, out, err = _run(["collapse", tmp_path / "model.onnx", "--out", tmp_path / "m.onnx"],
                            capsys)  # fmt: skip
    assert status == 0, err
    assert len(out.strip().splitlines()) == 1 and "64 features" in out
    feed = {"x": rng.normal(size=(5, 64)).astype(np.float32)}
    want = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, feed)[0]
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, feed)[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"), full_check=True)
    status, out, _ = _run(["collapse", tmp_path / "model.onnx", "--out", tmp_path / "m.onnx",
                           "--equations", "--dtype", "float64"], capsys)  # fmt: skip
    assert status == 0 and len(out.strip().splitlines()) == 11  # 10 equations + certificate
    assert onnx.load(tmp_path / "m.onnx").graph.input[0].type.tensor_type.elem_type == 11


def test_pickled_module_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save(torch.nn.Linear(3, 1), tmp_path / "whole.pt")
    status, out, err = _run(["collapse", tmp_path / "whole.pt"], capsys)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "does not unpickle" in err


def test_predict_from_fit_archive_matches_estimator(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "reg.olsnet"
    status, _, err = _run(
        ["fit", data_csv, "-y", "y", "-x", "x1", "-x", "x3", "--save", archive, "--format", "json"],
        capsys,
    )
    assert status == 0 and archive.exists(), err
    status, out, err = _run(["predict", archive, data_csv, "--format", "json"], capsys)
    assert status == 0, err
    df = pd.read_csv(data_csv)
    ref = sm.OLS(df["y"], sm.add_constant(df[["x1", "x3"]])).fit()
    np.testing.assert_allclose(
        np.asarray(json.loads(out)["predictions"])[:, 0], ref.fittedvalues.to_numpy(), rtol=1e-10
    )
    status, _, err = _run(["predict", archive, data_csv, "-x", "x1"], capsys)
    assert status == 2 and "takes 2 features" in err


def test_plot_diagnostics_and_network(
    data_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "diag.png"
    status, _, err = _run(["plot", "diagnostics", data_csv, "-y", "y", "-o", out], capsys)
    assert status == 0 and out.stat().st_size > 10_000, err
    archive = tmp_path / "reg.olsnet"
    olsnet.save(olsnet.LinearRegression().fit(olsnet.read(data_csv, y="y")), archive)
    svg = tmp_path / "net.svg"
    status, _, err = _run(["plot", "network", archive, "-o", svg], capsys)
    assert status == 0 and svg.read_text().lstrip().startswith("<?xml"), err


@pytest.mark.slow
def test_demo_json_numbers_on_stdout_story_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(["demo", "--quick", "--outdir", tmp_path, "--format", "json"], capsys)
    assert status == 0, err
    numbers = json.loads(out)
    ols = np.asarray(numbers["ols"])
    assert numbers["ols_vs_certified"] < 1e-10  # NIST's certified Longley values
    np.testing.assert_allclose(numbers["neuron"], ols, rtol=1e-9)
    np.testing.assert_allclose(numbers["hidden"], ols, rtol=1e-7)
    for path in numbers["figures"].values():
        assert Path(path).parent == tmp_path and Path(path).stat().st_size > 10_000
    assert "regression" in err.lower()  # the story went to stderr
