"""Old import path of :mod:`olsnet.nn.training` (kept for user code)."""

from .training import (
    TrainingLog,
    affine_of,
    largest_eigenvalue,
    loss_change,
    moment_matrix,
    moments_loss,
    train,
)

__all__ = [
    "TrainingLog",
    "affine_of",
    "largest_eigenvalue",
    "loss_change",
    "moment_matrix",
    "moments_loss",
    "train",
]
