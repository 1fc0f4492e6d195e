"""Optional dependencies: which extra brings each one, and the one error when it is missing.

``pip install olsnet`` installs NumPy, SciPy, typer and rich only; everything else comes with
an extra of ``pyproject.toml`` (``olsnet[frames]``, ``olsnet[torch]``, ...). Every feature that
needs one of these modules imports it through :func:`require`, so a missing module is always a
:class:`~olsnet.errors.MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

# top-level module -> (distribution on PyPI, extra of olsnet that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch"),
    "pandas": ("pandas", "frames"),
    "polars": ("polars", "frames"),
    "pyarrow": ("pyarrow", "frames"),
    "formulaic": ("formulaic", "frames"),
    "duckdb": ("duckdb", "frames"),
    "fastexcel": ("fastexcel", "frames"),
    "python_calamine": ("python-calamine", "frames"),
    "dask": ("dask", "dask"),
    "distributed": ("distributed", "dask"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "matplotlib": ("matplotlib", "plots"),
}


def missing(module: str, feature: str | None = None) -> MissingDependencyError:
    """The error for a missing optional ``module`` (dotted names allowed), naming its extra."""
    top = module.split(".")[0]
    dist, extra = EXTRAS.get(top, (top, "all"))
    needs = f"{feature} needs {dist}" if feature else f"this feature needs {dist}"
    err = MissingDependencyError(
        f'{needs}, which is not installed; install it with: pip install "olsnet[{extra}]" '
        f'(or every optional feature: pip install "olsnet[all]")'
    )
    err.name = top
    return err


def require(module: str, feature: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``, or :class:`MissingDependencyError` naming the extra.

    ``feature`` (e.g. ``"olsnet.read"``) is named in the message. Only a missing ``module``
    itself is translated; an import error from inside an installed package propagates.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = as_missing(exc, feature)
        if error is None:
            raise
        raise error from None


def as_missing(
    exc: ModuleNotFoundError, feature: str | None = None
) -> MissingDependencyError | None:
    """The olsnet error for ``exc`` when it is about an optional dependency, else None."""
    if isinstance(exc, MissingDependencyError):
        return exc
    name = (exc.name or "").split(".")[0]
    return missing(name, feature) if name in EXTRAS else None
