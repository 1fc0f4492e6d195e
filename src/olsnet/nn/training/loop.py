"""The training loop: evaluate, record, decide whether to stop, take one epoch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from ...errors import ConvergenceError
from .log import History, TrainingLog
from .objective import DataObjective, Objective
from .optimizers import WORKING_PRECISION, LbfgsSteps, restore
from .options import TrainOptions

__all__ = ["DIVERGENCE_FACTOR", "Loop"]

# training has diverged once the objective exceeds this multiple of the larger of its starting
# value and the loss of the zero map: no optimizer that converges gets there (SGD noise and
# Adam's first steps stay within a few times the start), while an lr beyond 2/L grows the loss
# geometrically and crosses it within a few epochs (the SGD run: 1.4e4 -> 5e189)
DIVERGENCE_FACTOR = 1e6


class Loop:
    """One training run over ``objective`` with ``opt``; ``run()`` returns the log."""

    def __init__(
        self,
        options: TrainOptions,
        objective: Objective,
        opt: torch.optim.Optimizer,
        lr: float,
        user_factor: float,
        callback: Callable[[int, TrainingLog], Any] | None,
    ) -> None:
        self.options, self.objective, self.opt, self.lr = options, objective, opt, lr
        self.user_factor = user_factor  # J_user = c² J_standard when λ = 0 (c = 1 otherwise)
        self.callback = callback
        self.loss, self.grad_norm, self.time = History(), History(), History()
        self.lbfgs = LbfgsSteps(opt, objective) if options.optimizer == "lbfgs" else None
        self.gen = torch.Generator().manual_seed(0 if options.seed is None else options.seed)
        self.start = time.perf_counter()

    def snapshot(
        self, epochs: int, reason: str = "running", converged: bool = False
    ) -> TrainingLog:
        o = self.options
        series = (self.loss.view(), self.grad_norm.view(), self.time.view())
        return TrainingLog(
            o.optimizer, *series, epochs, reason, converged, float(self.lr), self.objective.name
        )

    def record(self, J: float, gnorm: float) -> None:
        self.loss.append(J * self.user_factor)
        self.grad_norm.append(gnorm)
        self.time.append(time.perf_counter() - self.start)

    def run(self, on_epoch: Callable[[int], Any] | None = None) -> TrainingLog:
        params = self.objective.params
        good = [t.detach().clone() for t in params]
        limit = DIVERGENCE_FACTOR * self.objective.zero_map_loss()
        epoch = 0
        while True:
            J, gnorm, at = self.objective.evaluate()
            if epoch == 0:
                limit = max(limit, DIVERGENCE_FACTOR * J)
            self._check_divergence(epoch, J, gnorm, limit, params, good)
            prev = self.loss.last() / self.user_factor if len(self.loss) else None
            self.record(J, gnorm)
            if on_epoch is not None:
                on_epoch(epoch)
            reason, converged = self._stop_reason(epoch, J, gnorm, prev)
            if reason:
                return self.snapshot(epoch, reason, converged)
            with torch.no_grad():
                for t, g in zip(params, good, strict=True):
                    g.copy_(t)
            if self.lbfgs is not None:
                state = self.lbfgs.step(gnorm, at)
                if state == "undone":  # this epoch's entry now describes the restored point
                    for h in (self.loss, self.grad_norm, self.time):
                        h.drop_last()
                    self.record(*self.objective.evaluate()[:2])
                if state:
                    return self.snapshot(epoch, WORKING_PRECISION, True)
            else:
                self._first_order_epoch()
            epoch += 1

    def _stop_reason(
        self, epoch: int, J: float, gnorm: float, prev: float | None
    ) -> tuple[str, bool]:
        o = self.options
        asked = (
            self.callback is not None
            and epoch > 0
            and bool(self.callback(epoch, self.snapshot(epoch)))
        )
        if gnorm <= o.grad_tol:
            return f"gradient norm {gnorm:.3g} <= grad_tol {o.grad_tol:.3g}", True
        if prev is not None and abs(prev - J) < o.loss_tol * max(abs(J), 1e-300):
            return f"relative loss change below loss_tol {o.loss_tol:.3g}", True
        if asked:
            return "stopped by callback", False
        if epoch >= o.epochs:
            return f"reached max_epochs={o.epochs}", False
        if o.max_time is not None and self.time.last() >= o.max_time:
            return f"reached max_time={o.max_time} s", False
        return "", False

    def _first_order_epoch(self) -> None:
        batch_size = self.options.batch_size
        if batch_size is None:
            self.opt.step()  # gradients from evaluate() at the current parameters
            return
        objective = self.objective
        if not isinstance(objective, DataObjective):  # options refuse minibatches of moments
            raise TypeError("minibatch training needs the data objective")
        n = objective.Z.shape[0]
        perm = torch.randperm(n, generator=self.gen).to(objective.Z.device)
        for i in range(0, n, batch_size):
            self.opt.zero_grad()
            objective.batch_loss(perm[i : i + batch_size]).backward()
            self.opt.step()

    def _check_divergence(
        self,
        epoch: int,
        J: float,
        gnorm: float,
        limit: float,
        params: list[torch.Tensor],
        good: list[torch.Tensor],
    ) -> None:
        """ConvergenceError naming the epoch once the loss is non-finite or far above its start."""
        finite = math.isfinite(J) and math.isfinite(gnorm)
        if finite and J <= limit:
            return
        restore(params, good)
        o = self.options
        start = self.loss.view()[0] if len(self.loss) else math.nan
        what = (
            f"the loss became {J * self.user_factor} (gradient norm {gnorm})"
            if not finite
            else f"the loss rose from {start:.3g} at the start to {J * self.user_factor:.3g}"
        )
        raise ConvergenceError(
            f"training diverged in epoch {epoch}: {what} with optimizer={o.optimizer!r}, "
            f"lr={self.lr:.3g}; the weights were reset to those after epoch {max(epoch - 1, 0)}. "
            f"Use a smaller lr (e.g. lr={self.lr / 10:.3g})"
            + ("" if o.standardize else " or standardize=True")
        )
