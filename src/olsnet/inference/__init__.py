"""Inference for affine maps fitted to data: results, covariances, summaries, predictions.

NumPy and SciPy only; pandas is imported inside ``to_frame`` methods.
"""

from ._table import NotAvailable, Table

__all__ = ["NotAvailable", "Table"]
