"""Optional dependencies: which extra brings each one, and the one error when it is missing.

``pip install olsnet`` installs NumPy, SciPy, typer and rich only; everything else comes with
an extra of ``pyproject.toml`` (``olsnet[frames]``, ``olsnet[torch]``, ...). Every feature that
needs one of these modules imports it through :func:`require`, so a missing module is always a
:class:`~olsnet.errors.MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

from .errors import MissingDependencyError

# top-level module -> (distribution on PyPI, extra of olsnet that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "torch"),
    "pandas": ("pandas", "frames"),
    "polars": ("polars", "frames"),
    "pyarrow": ("pyarrow", "frames"),
    "formulaic": ("formulaic", "frames"),
    "duckdb": ("duckdb", "sql"),
    "fastexcel": ("fastexcel", "frames"),
    "python_calamine": ("python-calamine", "frames"),
    "dask": ("dask", "dask"),
    "distributed": ("distributed", "dask"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "matplotlib": ("matplotlib", "plots"),
}


def missing(module: str | Sequence[str], feature: str | None = None) -> MissingDependencyError:
    """The error for missing optional module(s) (dotted names allowed), naming the extras."""
    tops = list(
        dict.fromkeys(m.split(".")[0] for m in ([module] if isinstance(module, str) else module))
    )
    dists = [EXTRAS.get(top, (top, "all"))[0] for top in tops]
    extras = ",".join(dict.fromkeys(EXTRAS.get(top, (top, "all"))[1] for top in tops))
    what = " and ".join(dists)
    one = len(dists) == 1
    needs = f"{feature} needs {what}" if feature else f"this feature needs {what}"
    err = MissingDependencyError(
        f"{needs}, which {'is' if one else 'are'} not installed; install "
        f'{"it" if one else "them"} with: pip install "olsnet[{extras}]" '
        '(or every optional feature: pip install "olsnet[all]")'
    )
    err.name = tops[0]
    return err


def require_all(modules: Iterable[str], feature: str) -> None:
    """Check up front that every module a command needs is installed (without importing
    them), so one error names every extra to install, not the first one missing."""
    absent = [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None]
    if absent:
        raise missing(absent, feature)


def require(module: str, feature: str | None = None) -> ModuleType:
    """The module ``module``, or :class:`MissingDependencyError` naming the extra.

    ``feature`` (e.g. ``"olsnet.read"``) is named in the message. Only a missing ``module``
    itself is translated; an import error from inside an installed package propagates.
    """
    try:
        __import__(module)  # the import statement's path: ``python -X importtime`` sees it
    except ModuleNotFoundError as exc:
        error = as_missing(exc, feature)
        if error is None:
            raise
        raise error from None
    return sys.modules[module]


def as_missing(
    exc: ModuleNotFoundError, feature: str | None = None
) -> MissingDependencyError | None:
    """The olsnet error for ``exc`` when it is about an optional dependency, else None."""
    if isinstance(exc, MissingDependencyError):
        return exc
    name = (exc.name or "").split(".")[0]
    return missing(name, feature) if name in EXTRAS else None
