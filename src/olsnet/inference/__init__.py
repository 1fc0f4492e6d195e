"""Inference for affine maps fitted to data: results, covariances, summaries, predictions.

NumPy and SciPy only; pandas is imported inside ``to_frame`` / ``summary_frame`` methods.
"""

from ._table import NotAvailable, Table
from .optimality import Optimality, result_at
from .prediction import PredictionResult
from .result import RegressionResult
from .summary import Summary

__all__ = [
    "NotAvailable",
    "Optimality",
    "PredictionResult",
    "RegressionResult",
    "Summary",
    "Table",
    "result_at",
]
