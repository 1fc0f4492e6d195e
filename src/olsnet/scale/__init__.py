"""Scale: the same exact fit from files larger than memory, every core, and Dask clusters.

Everything here folds rows into :class:`olsnet.solve.QRState` and merges states, so streaming,
threads and a dask tree reduction all give the in-memory answer up to rounding.
``import olsnet.scale`` stays light: pyarrow, dask and rich load inside the functions that
need them.
"""

from ._fold import fold_arrays
from .dask import DaskSource, as_source, predict_lazy, read_dask
from .stream import ProgressSource, progress
from .threads import ParallelSource, fit_state_threaded, parallel

__all__ = [
    "DaskSource",
    "ParallelSource",
    "ProgressSource",
    "as_source",
    "fit_state_threaded",
    "fold_arrays",
    "parallel",
    "predict_lazy",
    "progress",
    "read_dask",
]
