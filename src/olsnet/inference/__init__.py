"""Inference for affine maps fitted to data: results, covariances, summaries, predictions.

NumPy and SciPy only; pandas is imported inside ``to_frame`` / ``summary_frame`` methods.
"""

from ._statistics import Stat
from ._table import NotAvailable, Table
from .hypothesis import ContrastResults, anova
from .influence import OLSInfluence
from .optimality import Optimality, result_at
from .prediction import PredictionResult
from .result import RegressionResult
from .summary import Summary

__all__ = [
    "ContrastResults",
    "NotAvailable",
    "OLSInfluence",
    "Optimality",
    "PredictionResult",
    "RegressionResult",
    "Stat",
    "Summary",
    "Table",
    "anova",
    "result_at",
]
