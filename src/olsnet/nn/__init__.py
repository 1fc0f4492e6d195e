"""Linear regression as a PyTorch network: build, train, collapse, expand, compare.

Importing this package imports torch.
"""

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
