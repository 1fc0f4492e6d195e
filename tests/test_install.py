"""``pip install olsnet`` without extras, in a fresh virtual environment: arrays work, and every
command or feature that needs an optional dependency says which extra to install.

Slow (a venv and a pip install, about a minute): it runs in ``make test`` / ``.ci/run``. pip
uses the machine's configured package indexes; where none answers the test skips and says so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("torch", "pandas", "polars", "pyarrow", "formulaic", "dask", "onnx", "matplotlib")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("install")
    pkg = tmp / "pkg"  # the files a wheel is built from (not the developer's .venv, build, ...)
    pkg.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, pkg / name)
    shutil.copytree(
        ROOT / "src", pkg / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    pip = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(pkg)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if pip.returncode != 0:
        tail = pip.stderr.strip().splitlines()[-3:]
        if any(s in pip.stderr for s in ("No matching distribution", "Could not find", "connect")):
            pytest.skip(f"no package index reachable for the fresh install: {tail}")
        pytest.fail(f"pip install of olsnet without extras failed: {pip.stderr[-3000:]}")
    return env_dir


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


def test_plain_install_has_no_optional_dependency(venv: Path, tmp_path: Path) -> None:
    code = f"import importlib.util as u; print([m for m in {OPTIONAL!r} if u.find_spec(m)])"
    proc = _run(venv, "python", "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "needs", "extras"),
    [
        (["fit", "d.csv", "-y", "y"], "olsnet fit needs pyarrow", "frames"),
        (["fit", "d.csv", "-f", "y ~ x"], "pyarrow and formulaic", "frames"),
        (["train", "d.csv", "-y", "y"], "olsnet train needs pyarrow and torch", "frames,torch"),
        (["plot", "diagnostics", "d.csv", "-y", "y"], "matplotlib", "frames,plots"),
        (["collapse", "m.onnx"], "olsnet collapse needs onnx and onnxruntime", "onnx"),
        (["predict", "m.pt", "d.csv"], "olsnet predict needs pyarrow and torch", "frames,torch"),
        (["report", "d.csv", "-y", "y", "-o", "r.html"], "olsnet report", "frames,plots"),
        (["demo"], "olsnet demo needs torch and matplotlib", "torch,plots"),
    ],
)
def test_commands_name_the_extra(venv, tmp_path, args, needs, extras) -> None:
    (tmp_path / "d.csv").write_text("x,y\n1,2\n2,3\n3,5\n")
    proc = _run(venv, "olsnet", *args, cwd=tmp_path)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith("olsnet: error: ") and "\n" not in line and "Traceback" not in line
    assert needs in line
    assert f'pip install "olsnet[{extras}]"' in line


def test_library_names_the_extra_and_arrays_work(venv: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import numpy as np, olsnet
        from olsnet.errors import MissingDependencyError
        rng = np.random.default_rng(0)
        X = rng.normal(size=(50, 3)); y = 1 + X @ [1.0, -2.0, 0.5] + rng.normal(size=50)
        m = olsnet.LinearRegression(cov_type="HC3").fit(X, y)
        A = np.column_stack([np.ones(50), X])
        ref = np.linalg.lstsq(A, y, rcond=None)[0]
        assert np.allclose(m.result_.params, ref, rtol=1e-10), (m.result_.params, ref)
        assert "HC3" in m.summary().as_text()
        olsnet.save(m, "m.olsnet")
        assert np.allclose(olsnet.load("m.olsnet").coef_, m.coef_, rtol=0)
        checks = [
            (lambda: olsnet.read("d.csv", y="y"), "olsnet.read needs pyarrow", "frames"),
            (lambda: olsnet.ols("y ~ x", {"x": [1.0], "y": [2.0]}), "formulaic", "frames"),
            (lambda: m.summary().to_frame(), "to_frame (a pandas DataFrame) needs pandas",
             "frames"),
            (lambda: olsnet.LinearNetwork, "needs torch", "torch"),
            (lambda: __import__("olsnet.nn"), "olsnet.nn needs torch", "torch"),
            (lambda: olsnet.to_onnx(m, "m.onnx"), "olsnet.to_onnx needs onnx", "onnx"),
            (lambda: __import__("olsnet.plots").plots.plot_diagnostics(m.result_),
             "olsnet.plots needs matplotlib", "plots"),
        ]
        for call, needs, extra in checks:
            try:
                call()
            except MissingDependencyError as exc:
                assert isinstance(exc, ImportError) and isinstance(exc, olsnet.OlsnetError)
                assert needs in str(exc), str(exc)
                assert f'pip install "olsnet[{extra}]"' in str(exc), str(exc)
            else:
                raise AssertionError(f"{needs}: no error")
        print("ok")
        """
    )
    (tmp_path / "d.csv").write_text("x,y\n1,2\n2,3\n3,5\n")
    proc = _run(venv, "python", "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    helptext = _run(venv, "olsnet", "--help", cwd=tmp_path)
    assert helptext.returncode == 0 and "fit" in helptext.stdout
