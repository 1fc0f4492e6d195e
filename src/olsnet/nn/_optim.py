"""torch's own optimizers, constructed and stepped without importing ``torch._dynamo``.

In torch 2.x every ``Optimizer`` method that TorchDynamo must not trace is wrapped by
``torch._disable_dynamo`` (``add_param_group``, ``zero_grad``) or, for SGD and Adam, by
``_use_grad_for_differentiable`` (``step``); both wrappers import ``torch._dynamo`` on their
first call, about 1.2 s of a 51-row ``olsnet train`` (``python -X importtime``, 2026-11-30,
torch 2.13 CPU; ``benchmarks/bench_cli.py``). olsnet never compiles its training loop, and
outside ``torch.compile`` these wrappers only call the function they wrap (``_use_grad`` also
sets grad mode to the optimizer's ``differentiable`` flag, done here too). The subclasses below
call those wrapped functions directly: the arithmetic is torch's own, unchanged, and nothing in
torch is patched (no global state changes). If a torch version drops ``__wrapped__``, the
inherited (dynamo-importing) method is used as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import _use_grad_for_differentiable

__all__ = ["LBFGS", "SGD", "Adam"]


def _wrapped(method: Callable[..., Any]) -> Callable[..., Any]:
    """The function under a ``torch._disable_dynamo`` wrapper (or the method itself)."""
    return getattr(method, "__wrapped__", method)


_USE_GRAD_CODE = _use_grad_for_differentiable(lambda self: None).__code__


def _eager_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` without ``_use_grad_for_differentiable``'s dynamo import (same grad mode)."""
    raw = getattr(step, "__wrapped__", None)
    if raw is None or getattr(step, "__code__", None) is not _USE_GRAD_CODE:
        return step

    def eager_step(self: torch.optim.Optimizer, closure: Any = None) -> Any:
        with torch.set_grad_enabled(bool(self.defaults["differentiable"])):
            return raw(self, closure)

    eager_step.__doc__ = raw.__doc__
    return eager_step


_BASE = {
    "add_param_group": _wrapped(torch.optim.Optimizer.add_param_group),
    "zero_grad": _wrapped(torch.optim.Optimizer.zero_grad),
}


def _eager(cls: type[torch.optim.Optimizer]) -> Any:
    step = cls.__dict__["step"]
    if getattr(step, "hooked", False):  # torch wrapped it for the profiler (another instance)
        step = step.__wrapped__
    return type(cls.__name__, (cls,), {**_BASE, "step": _eager_step(step), "__module__": __name__})


LBFGS: type[torch.optim.LBFGS] = _eager(torch.optim.LBFGS)
SGD: type[torch.optim.SGD] = _eager(torch.optim.SGD)
Adam: type[torch.optim.Adam] = _eager(torch.optim.Adam)
