"""The torch optimizers training uses, one L-BFGS epoch, and its polish phase."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .. import _optim  # torch's optimizers without the torch._dynamo import
from .objective import Objective
from .options import TrainOptions

__all__ = ["LBFGS_SCALE", "LbfgsSteps", "make_optimizer", "restore"]

# torch's L-BFGS keeps a curvature pair only when yᵀs > 1e-10 (absolute), which freezes its
# memory once steps are below ~1e-5 in the standardised coordinates and leaves it converging
# linearly; scaling the objective by 1e10 keeps pairs down to steps of ~1e-10 (where they are
# still accurate to ~1e-6) and changes nothing else: directions and line-search steps are
# invariant to a constant factor on the objective.
LBFGS_SCALE = 1e10

WORKING_PRECISION = (
    "converged to working precision: L-BFGS cannot decrease the loss further in this dtype"
)


def make_optimizer(
    params: list[torch.Tensor], options: TrainOptions, lr: float
) -> torch.optim.Optimizer:
    if options.optimizer == "lbfgs":
        return _optim.LBFGS(
            params,
            lr=lr,
            max_iter=options.lbfgs_iter,
            history_size=options.history_size,
            # max |g| <= this implies ||g|| <= grad_tol on the scaled objective
            tolerance_grad=options.grad_tol
            * LBFGS_SCALE
            / math.sqrt(sum(t.numel() for t in params)),
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
    if options.optimizer == "adam":
        return _optim.Adam(params, lr=lr)
    return _optim.SGD(params, lr=lr, momentum=options.momentum)


def restore(params: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for t, v in zip(params, values, strict=True):
            t.copy_(v)


def lbfgs_epoch(
    opt: torch.optim.Optimizer,
    data_change: Callable[[], torch.Tensor],
    objective: Objective,
) -> bool:
    """One L-BFGS step on the loss change from the current point; whether parameters moved.

    data_change() : the change of the data term from the current point, differentiable.
    """
    params, weights, lam = objective.params, objective.weights, objective.lam
    with torch.no_grad():
        W0 = [W.detach().clone() for W in weights]
        before = [t.detach().clone() for t in params]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        change = data_change()
        if lam:
            change = change + lam * sum(
                ((W - V) * (0.5 * (W - V) + V)).sum() for W, V in zip(weights, W0, strict=True)
            )
        change = LBFGS_SCALE * change
        change.backward()
        return change

    opt.step(closure)  # type: ignore[arg-type]  # LBFGS closures return tensors
    return any(not torch.equal(t.detach(), b) for t, b in zip(params, before, strict=True))


class LbfgsSteps:
    """L-BFGS epochs, then a polish phase once the line search cannot resolve the loss.

    States: "search" (strong-Wolfe line search) → "polish" (unit quasi-Newton steps on the
    curvature pairs gathered so far, kept while the gradient norm falls) → done.
    """

    def __init__(self, opt: torch.optim.Optimizer, objective: Objective) -> None:
        self.opt, self.objective = opt, objective
        self.polish = False
        self.polish_gnorm = math.inf
        self.polish_start = list(objective.params)

    def step(self, gnorm: float, at: torch.Tensor) -> str:
        """One epoch from the point with gradient norm ``gnorm`` and outputs / A ``at``.

        Returns "" to go on, "undone" when polishing stopped helping (the parameters were
        restored to the last polish start), or "stuck" when L-BFGS cannot move.
        """
        if self.polish and gnorm >= self.polish_gnorm:
            restore(self.objective.params, self.polish_start)
            return "undone"
        if self.polish:
            self.polish_gnorm = gnorm
            self.polish_start = [t.detach().clone() for t in self.objective.params]
        if lbfgs_epoch(self.opt, self.objective.change_from(at), self.objective):
            return ""
        if self.polish:
            return "stuck"
        self.polish = True
        self.opt.param_groups[0]["line_search_fn"] = None
        return ""
