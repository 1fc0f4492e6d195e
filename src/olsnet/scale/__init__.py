"""Scale: the same exact fit from files larger than memory, every core, and Dask clusters.

Only orchestration lives here (the kernels are ``olsnet.solve``'s, the sources'
``fit_state`` / ``residual_pass`` are the one protocol of ``olsnet.data.Source``): threads over
arrays, dask collections as sources, and a progress bar as an ``on_batch`` callback.
``import olsnet.scale`` stays light: pyarrow, dask and rich load inside the functions that
need them.
"""

from ..solve import fold_arrays
from .dask import DaskSource, as_source, predict_lazy, read_dask
from .progress import RichProgress
from .threads import fit_state_threaded

__all__ = [
    "DaskSource",
    "RichProgress",
    "as_source",
    "fit_state_threaded",
    "fold_arrays",
    "predict_lazy",
    "read_dask",
]
