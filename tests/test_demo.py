"""``olsnet demo`` end to end (quick mode: fewer gradient-descent epochs, everything else real),
and the shipped Longley data against NIST's file and statsmodels' copy."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from olsnet.datasets import load_longley

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

NIST_LONGLEY = Path(__file__).parent / "data" / "nist" / "Longley.dat"


def test_longley_csv_is_the_nist_data_and_statsmodels_copy():
    d = load_longley()
    assert d.X.shape == (16, 6) and d.y.shape == (16,)
    assert d.columns == ("TOTEMP", "GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR")
    assert not d.X.flags.writeable and not d.y.flags.writeable
    sm_data = sm.datasets.longley.load_pandas().data
    np.testing.assert_array_equal(d.y, sm_data["TOTEMP"].to_numpy())
    np.testing.assert_array_equal(d.X, sm_data[list(d.feature_names)].to_numpy())
    if NIST_LONGLEY.exists():  # NIST's own file: data rows are lines 61-76
        from olsnet._nist import read_nist

        rows = NIST_LONGLEY.read_text().splitlines()[60:76]
        nist = np.array([[float(v) for v in r.split()] for r in rows])
        np.testing.assert_array_equal(np.column_stack([d.y, d.X]), nist)
        np.testing.assert_array_equal(d.certified_params, read_nist(NIST_LONGLEY).params)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``olsnet demo --outdir DIR`` through the CLI, with the demo switched to quick mode."""
    import olsnet.demo
    from olsnet.cli import main

    outdir = tmp_path_factory.mktemp("demo")
    captured: dict = {}
    real_run = olsnet.demo.run

    def quick_run(outdir, *, console=None, quick=False):
        from rich.console import Console

        console = Console(record=True, width=100, file=io.StringIO())
        captured["result"] = real_run(outdir, console=console, quick=True)
        captured["text"] = console.export_text()
        return captured["result"]

    mp = pytest.MonkeyPatch()
    mp.setattr(olsnet.demo, "run", quick_run)
    mp.setattr(warnings, "showwarning", warnings.showwarning)  # the CLI replaces it
    try:
        status = main(["demo", "--outdir", str(outdir)])
    finally:
        mp.undo()
    return status, captured["result"], captured["text"], outdir


def test_demo_exits_zero_and_writes_three_figures(demo_run):
    status, result, text, outdir = demo_run
    assert status == 0
    for name in ("network", "training", "diagnostics"):
        path = outdir / f"{name}.png"
        assert result["figures"][name] == str(path)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000, f"{name}.png is only {len(data)} bytes"
        assert str(path.resolve()) in text.replace("\n", "")  # says where


def test_demo_networks_reach_the_regression(demo_run):
    _, result, text, _ = demo_run
    d = load_longley()
    ref = sm.OLS(np.array(d.y), sm.add_constant(np.array(d.X))).fit().params  # statsmodels
    np.testing.assert_allclose(result["ols"], ref, rtol=1e-8)
    np.testing.assert_allclose(result["ols"], d.certified_params, rtol=1e-12)  # NIST
    assert result["ols_vs_certified"] <= 1e-12
    np.testing.assert_allclose(result["neuron"], ref, rtol=1e-8)  # the single neuron
    np.testing.assert_allclose(result["hidden"], ref, rtol=1e-7)  # 6-3-1, collapsed
    np.testing.assert_allclose(result["cW"], result["c"] @ result["W"], rtol=1e-15)
    np.testing.assert_allclose(result["cW"][0], ref[1:], rtol=1e-7)  # cᵀW is the regression
    for name in ("TOTEMP", *d.feature_names, "R-squared", "Network vs OLS", "cᵀW"):
        assert name in text


def test_demo_gradient_descent_crawls_on_raw_columns(demo_run):
    _, result, text, _ = demo_run
    raw = result["gd"]["raw"]
    assert raw["epochs"] == 300
    assert raw["rel_err"] > 0.5 and raw["loss_gap"] > 1.0  # far from the optimum
    assert result["gd"]["standardized"]["loss_gap"] < raw["loss_gap"]
    assert result["seconds"] < 60
    assert "gradient descent, raw columns" in text


def test_demo_relu_network_is_a_local_regression(demo_run):
    """Part (e): the local map equals torch autograd's Jacobian of the ReLU network at x."""
    import torch

    _, result, text, _ = demo_run
    local = result["local"]
    x = torch.from_numpy(local["x"])
    J = torch.autograd.functional.jacobian(local["net"], x).numpy()  # (1, p)
    np.testing.assert_allclose(local["weight"], J, rtol=1e-12, atol=0)
    assert local["radius"] > 0
    assert "(e) a ReLU network is, around each input, a linear regression" in text
