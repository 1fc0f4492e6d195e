"""Every accepted option string, listed once; error messages are generated from these lists."""

from __future__ import annotations

from typing import Literal, get_args

from .errors import OptionError

CovType = Literal["nonrobust", "HC0", "HC1", "HC2", "HC3"]
COV_TYPES: tuple[str, ...] = get_args(CovType)

# with_cov also takes these; they need options (groups=, maxlags=) the estimator does not have
ResultCovType = Literal["nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster", "HAC"]
RESULT_COV_TYPES: tuple[str, ...] = get_args(ResultCovType)

Missing = Literal["raise", "drop"]
MISSING_POLICIES: tuple[str, ...] = get_args(Missing)

SolverPolicy = Literal["auto", "exact", "fast"]
SOLVER_POLICIES: tuple[str, ...] = get_args(SolverPolicy)

Optimizer = Literal["lbfgs", "gd", "adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)

TrainObjective = Literal["auto", "moments", "data"]
TRAIN_OBJECTIVES: tuple[str, ...] = get_args(TrainObjective)

OutputFormat = Literal["text", "markdown", "json", "html"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)

OnnxDtype = Literal["float64", "float32"]
ONNX_DTYPES: tuple[str, ...] = get_args(OnnxDtype)

OnnxLayers = Literal["collapsed", "separate"]
ONNX_LAYERS: tuple[str, ...] = get_args(OnnxLayers)


def check_option(name: str, value: object, accepted: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``accepted``, else raise an OptionError listing them."""
    if isinstance(value, str) and value in accepted:
        return value
    choices = ", ".join(repr(a) for a in accepted)
    raise OptionError(f"{name}={value!r} is not accepted; use one of {choices}")
