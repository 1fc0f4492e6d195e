"""olsnet: exact linear regression, and the same model as a PyTorch linear network.

``import olsnet`` loads only NumPy and SciPy. Everything that needs torch, pandas, pyarrow,
matplotlib, dask or onnx is imported the first time one of its names is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import errors
from .affine import Affine, Certificate

# the package olsnet.collapse is light (NumPy only); binding its function here, after the
# package is imported, keeps ``olsnet.collapse`` the function whatever is imported later
from .collapse import collapse
from .errors import NotAffineError, OlsnetError

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "LinearRegression": "olsnet.estimator",
    "RegressionResult": "olsnet.inference",
    "Summary": "olsnet.inference",
    "QRState": "olsnet.solve",
    "anova": "olsnet.inference",
    "merge": "olsnet._incremental",
    # networks (torch)
    "LinearNetwork": "olsnet.nn",
    "train": "olsnet.nn",
    "TrainingLog": "olsnet.nn",
    "expand": "olsnet.nn",
    "compare": "olsnet.nn",
    "inference_at": "olsnet.nn",
    # closed-form references for networks (NumPy only)
    "ReducedRankRegression": "olsnet.reference",
    "RidgeRegression": "olsnet.reference",
    # files, formulas, frames
    "read": "olsnet.data.files",
    "ols": "olsnet.api",
    "from_formula": "olsnet.api",
    # model files and ONNX
    "save": "olsnet.io.archive",
    "load": "olsnet.io.archive",
    "to_onnx": "olsnet.io.onnx",
    "from_onnx": "olsnet.collapse",
    "fuse": "olsnet.collapse",
    "fuse_onnx": "olsnet.io.onnx",
}

# public name -> optional module it always needs (imported lazily inside the feature)
_NEEDS = {"read": "pyarrow", "ols": "formulaic", "to_onnx": "onnx", "from_onnx": "onnx"}

__all__ = [
    "Affine",
    "Certificate",
    "NotAffineError",
    "OlsnetError",
    "collapse",
    "errors",
    *_LAZY,
]


# subpackages reachable as attributes after ``import olsnet`` (imported on first use)
_SUBPACKAGES = ("api", "data", "inference", "io", "nn", "plots", "scale", "solve")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"olsnet.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'olsnet' has no attribute {name!r}")
    from ._deps import require

    if name in _NEEDS:
        require(_NEEDS[name], f"olsnet.{name}")
    value = getattr(require(module, f"olsnet.{name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
