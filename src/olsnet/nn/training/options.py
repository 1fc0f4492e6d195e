"""Training options: defaults per optimizer and every check, in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

from ..._types import OPTIMIZERS, TRAIN_OBJECTIVES, check_option
from ...errors import OptionError

__all__ = ["MAX_EPOCHS", "TrainOptions"]

# defaults per optimizer: epochs (an L-BFGS epoch is one step of up to `lbfgs_iter` iterations)
MAX_EPOCHS = {"lbfgs": 100, "gd": 20_000, "adam": 20_000, "sgd": 200}
# minibatch rows of "sgd" when batch_size is not given
SGD_BATCH_SIZE = 32


@dataclass(frozen=True)
class TrainOptions:
    """Checked options of :func:`olsnet.train` (see there), defaults per optimizer filled in.

    Raises OptionError naming the first bad option; ``batch_size`` None is full batch.
    """

    optimizer: str
    objective: str
    lr: float | None
    weight_decay: float
    max_epochs: int | None
    grad_tol: float
    loss_tol: float
    max_time: float | None
    batch_size: int | None
    momentum: float
    standardize: bool
    seed: int | None
    lbfgs_iter: int
    history_size: int

    def __post_init__(self) -> None:
        optimizer = check_option("optimizer", self.optimizer, OPTIMIZERS)
        objective = check_option("objective", self.objective, TRAIN_OBJECTIVES)
        weight_decay, batch_size, lr = self.weight_decay, self.batch_size, self.lr
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise OptionError(f"weight_decay={weight_decay!r} is not accepted; use a number >= 0")
        if batch_size is not None and optimizer in ("gd", "lbfgs"):
            raise OptionError(
                f"batch_size is not accepted with optimizer={optimizer!r}, which is full batch; "
                "use optimizer='sgd' or 'adam' for minibatches"
            )
        if optimizer == "sgd" and batch_size is None:
            batch_size = SGD_BATCH_SIZE
        if batch_size is not None and (
            isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1
        ):
            raise OptionError(f"batch_size={batch_size!r} is not accepted; use a positive int")
        if objective == "moments" and batch_size is not None:
            raise OptionError(
                f"objective='moments' is full batch and is not accepted with "
                f"optimizer={optimizer!r}, batch_size={batch_size}; use objective='data' or "
                "'auto' for minibatches"
            )
        if lr is not None and not (math.isfinite(lr) and lr > 0):
            raise OptionError(f"lr={lr!r} is not accepted; use a positive number")
        max_epochs = MAX_EPOCHS[optimizer] if self.max_epochs is None else self.max_epochs
        for name, value in (
            ("optimizer", optimizer),
            ("objective", objective),
            ("batch_size", batch_size),
            ("max_epochs", max_epochs),
        ):
            object.__setattr__(self, name, value)

    @property
    def epochs(self) -> int:
        """``max_epochs`` with the optimizer's default filled in."""
        return cast(int, self.max_epochs)

    @property
    def full_batch(self) -> bool:
        return self.batch_size is None
