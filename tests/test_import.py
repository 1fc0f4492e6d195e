"""`import olsnet` stays light: the heavy optional libraries load only when a feature needs them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "torch",
    "pandas",
    "matplotlib",
    "dask",
    "onnx",
    "onnxruntime",
    "pyarrow",
    "polars",
    "formulaic",
    "sklearn",
    "statsmodels",
)


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_olsnet_is_light():
    assert _loaded_after("import olsnet") == []


def test_exact_fit_and_summary_never_import_torch():
    code = (
        "import numpy as np, olsnet\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.standard_normal((200, 3)); y = X @ [1.0, 2.0, 3.0] + rng.standard_normal(200)\n"
        "m = olsnet.LinearRegression().fit(X, y)\n"
        "str(m.summary()); m.result_.with_cov('HC3').bse"
    )
    assert _loaded_after(code) == []
