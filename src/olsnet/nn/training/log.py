"""What training records: the per-epoch series and the final :class:`TrainingLog`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["History", "TrainingLog"]


@dataclass(frozen=True, eq=False)
class TrainingLog:
    """What happened during training.

    Attributes
    ----------
    optimizer : str
    loss : ndarray of shape (epochs + 1,)
        The objective J (in the user's units) at the start and after each epoch.
    grad_norm : ndarray of shape (epochs + 1,)
        Euclidean norm of the gradient of the objective in the standardised coordinates the
        optimizer works in.
    time : ndarray of shape (epochs + 1,)
        Seconds since training started, when each entry was recorded.
    epochs : int
        Epochs run (full passes for "gd", "adam" and "sgd"; L-BFGS steps for "lbfgs").
    stop_reason : str
        Why training stopped, in words.
    converged : bool
        Whether it stopped on a convergence criterion (not on epochs, time or the callback).
    lr : float
        Learning rate used (for "gd" the default is 1 / L, L the largest eigenvalue of the
        scaled Gram matrix).
    objective : str
        How the loss was evaluated: "moments" or "data" (what "auto" chose).
    """

    optimizer: str
    loss: np.ndarray
    grad_norm: np.ndarray
    time: np.ndarray
    epochs: int
    stop_reason: str
    converged: bool
    lr: float
    objective: str = "data"

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    @property
    def final_grad_norm(self) -> float:
        return float(self.grad_norm[-1])

    @property
    def seconds(self) -> float:
        return float(self.time[-1])

    def __str__(self) -> str:
        return (
            f"{self.optimizer} ({self.objective}): {self.epochs} epochs in {self.seconds:.3g} s, loss "
            f"{self.final_loss:.10g}, gradient norm {self.final_grad_norm:.3g}; "
            f"{self.stop_reason}"
        )


class History:
    """Growing float64 buffer for one logged series; ``view()`` is read-only, O(1)."""

    def __init__(self) -> None:
        self._buf = np.empty(64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, v: float) -> None:
        if self._n == self._buf.size:
            self._buf = np.concatenate([self._buf, np.empty(self._buf.size)])
        self._buf[self._n] = v
        self._n += 1

    def last(self) -> float:
        return float(self._buf[self._n - 1])

    def drop_last(self) -> None:
        self._n -= 1

    def view(self) -> np.ndarray:
        v = self._buf[: self._n]
        v.flags.writeable = False
        return v
