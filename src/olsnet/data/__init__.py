"""Inputs to designs: arrays and frames (here), files (``olsnet.data.files``), formula text
(``olsnet.data.formula``), the model spec that encodes raw rows (``olsnet.data.model_spec``)
and a formula on a frame (``olsnet.data.formula_frame``); pyarrow and formulaic load only when
those are used."""

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
