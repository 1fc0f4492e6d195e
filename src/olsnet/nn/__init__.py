"""Linear regression as a PyTorch network: build, train, collapse, expand, compare.

Importing this package imports torch.
"""

from .._deps import require

require("torch", "olsnet.nn")

# ruff: noqa: E402  (torch is checked first, so a missing torch names the extra to install)

from ..collapse import collapse
from .compare import compare, inference_at
from .expand import expand
from .network import LinearNetwork
from .training import TrainingLog, train

__all__ = [
    "LinearNetwork",
    "TrainingLog",
    "collapse",
    "compare",
    "expand",
    "inference_at",
    "train",
]
