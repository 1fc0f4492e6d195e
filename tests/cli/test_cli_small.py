"""The small ones of issue 12, item 11: help, labels, number formats, one loss scale, the
README's example, and a bounded diagram for a wide network."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet.cli import main

pytest.importorskip("pyarrow")
ROOT = Path(__file__).resolve().parents[2]


def test_no_intercept_is_a_plain_flag_in_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["fit", "--help"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "--no-intercept" in x)
    assert "<bool>" not in line and "Fit without intercept." in line


def test_plot_diagnostics_labels_points_by_a_column(tmp_path, monkeypatch):
    import olsnet.plots as plots

    rng = np.random.default_rng(5)
    x = np.arange(12.0)
    y = 0.5 * x + rng.normal(size=12)
    y[7] += 8.0  # the outlier R would label: row 7
    states = [f"state_{chr(65 + i)}" for i in range(12)]
    path = tmp_path / "s.csv"
    lines = [f"{s},{a:.17g},{b:.17g}" for s, a, b in zip(states, x, y, strict=True)]
    path.write_text("state,x,y\n" + "\n".join(lines) + "\n")
    seen = {}
    original = plots.plot_diagnostics

    def spy(result, out=None, **kw):
        fig = original(result, out, **kw)
        seen["labels"] = kw.get("labels")
        seen["texts"] = {t.get_text() for ax in fig.axes for t in ax.texts}
        return fig

    monkeypatch.setattr(plots, "plot_diagnostics", spy)
    out = tmp_path / "d.png"
    args = ["plot", "diagnostics", str(path), "-y", "y", "-x", "x", "--label", "state"]
    assert main([*args, "-o", str(out)]) == 0
    assert seen["labels"] == states
    assert "state_H" in seen["texts"] and "7" not in seen["texts"]
    assert main([*args[:-1], "nope", "-o", str(out)]) == 2


def test_degrees_of_freedom_are_written_as_integers():
    rng = np.random.default_rng(0)
    n = 1_000_005
    X = rng.normal(size=(n, 1))
    y = X[:, 0] + rng.normal(size=n)
    text = olsnet.LinearRegression(cov_type="HC1").fit(X, y).summary().as_text()
    assert "Student's t with 1000003 df" in text  # "{:g}" wrote 1e+06


COLUMNS = ("coef", "std err", "t", "P>|t|", "[0.025", "0.975]")


def _column(text: str, header: str) -> list[str]:
    """The cells under ``header`` in the coefficient table of a text summary."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:1] == ["coef"])
    rows = []
    for line in lines[head + 2 :]:
        if line.startswith("="):
            break
        rows.append(line.split()[1:][COLUMNS.index(header)])  # the row's name comes first
    return rows


def test_each_column_has_one_number_format():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2)) * [1.0, 1e-4]
    y = 3e4 + X @ [2.0, 5e3] + rng.normal(size=40)
    text = olsnet.LinearRegression().fit(X, y).summary().as_text()
    for header in COLUMNS:
        cells = _column(text, header)
        sci = [("e+" in c or "e-" in c) for c in cells]
        assert all(sci) or not any(sci), (header, cells)
        if not any(sci):
            assert len({len(c.split(".")[1]) for c in cells}) == 1, (header, cells)


def test_adjusted_r_squared_has_the_digits_of_r_squared():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3))
    y = X @ [1.0, 0.5, 0.2] + rng.normal(size=30)
    res = olsnet.LinearRegression().fit(X, y).result_
    text = res.summary().as_text()
    r2 = re.search(r"R-squared:\s+(\S+)", text).group(1)
    adj = re.search(r"Adj\. R-squared:\s+(\S+)", text).group(1)
    assert len(r2.split(".")[1]) == len(adj.split(".")[1]) == 4
    assert float(r2) == pytest.approx(res.rsquared, abs=5e-5)
    assert float(adj) == pytest.approx(res.rsquared_adj, abs=5e-5)


def test_one_loss_scale_in_training_compare_and_inference_at():
    pytest.importorskip("torch")
    from olsnet.plots._training import reference_of

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=60)
    w = rng.uniform(0.5, 2.0, size=60)
    net = olsnet.LinearNetwork(3, hidden=(2,), seed=0).fit(X, y, w, max_epochs=3)
    a = net.collapse()
    e = y - (X @ a.weight[0] + a.bias[0])
    J = float(w @ e**2 / (2 * w.sum()))  # the stated scale: Σ w e² / 2 Σ w
    assert net.training_log_.final_loss == pytest.approx(J, rel=1e-9)
    notes = " ".join(olsnet.compare(net, X, y, w).notes)
    assert f"network {J:.15g}"[:20] in notes and "J = Σ w (y − ŷ)² / 2 Σ w" in notes
    assert olsnet.inference_at(net, X, y, w).optimality.loss == pytest.approx(J, rel=1e-12)
    ols = olsnet.LinearRegression().fit(X, y, w)
    J_opt = float(ols.result_.ssr / (2 * w.sum()))
    assert reference_of(ols).loss == pytest.approx(J_opt, rel=1e-12)
    assert olsnet.inference_at(net, X, y, w).optimality.loss_optimum == pytest.approx(
        J_opt, rel=1e-12
    )


def test_readme_example_prints_real_names_and_fit_returns_the_network():
    pytest.importorskip("torch")
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## The idea in ten lines\n\n```python\n(.*?)```", readme, re.S).group(1)
    assert "net.fit` returns the network" in readme
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nassert net.fit(X, y) is net\n"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("GNPDEFL", "GNP", "UNEMP", "ARMED", "POP", "YEAR"):
        assert re.search(rf"^{name}\s", proc.stdout, re.M), name
    assert not re.search(r"^x[1-6]\s", proc.stdout, re.M)


def test_wide_network_diagram_is_summarised(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from olsnet.plots import plot_network

    net = olsnet.LinearNetwork(64, 10, hidden=(32,), seed=0)
    fig = plot_network(net, tmp_path / "wide.png")
    w, h = (fig.get_size_inches() * 150).round()
    assert w <= 1800 and h <= 1600  # was 1800 x 14761
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "53 more" in texts and "21 more" in texts and "x64" in texts
    assert "more terms" in texts and "6 more outputs" in texts
