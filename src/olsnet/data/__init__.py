"""Inputs to designs: arrays and frames (here), files and formulas (``olsnet.data.files``,
``olsnet.data.formula``, imported lazily because they need pyarrow / formulaic)."""

from ._arrays import (
    ArraySource,
    Design,
    as_design,
    as_matrix,
    check_finite,
    check_weights,
    iter_row_blocks,
)
from .source import Source

__all__ = [
    "ArraySource",
    "Design",
    "Source",
    "as_design",
    "as_matrix",
    "check_finite",
    "check_weights",
    "iter_row_blocks",
]
