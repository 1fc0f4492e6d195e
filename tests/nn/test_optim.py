"""olsnet.nn._optim: torch's optimizers without the torch._dynamo import, step for step equal
to torch's own classes (the reference)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from olsnet.nn import _optim  # noqa: E402


def _run(cls, steps=6, **kw):
    torch.manual_seed(0)
    A = torch.randn(8, 3, dtype=torch.float64)
    b = torch.randn(8, dtype=torch.float64)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = cls([x], **kw)

    def closure():
        opt.zero_grad()
        loss = ((A @ x - b) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return x.detach().clone(), opt


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("LBFGS", {"line_search_fn": "strong_wolfe", "max_iter": 3}),
        ("SGD", {"lr": 0.01, "momentum": 0.9}),
        ("SGD", {"lr": 0.01, "weight_decay": 0.1, "nesterov": True, "momentum": 0.5}),
        ("Adam", {"lr": 0.1}),
    ],
)
def test_bit_for_bit_equal_to_torch(name, kw):
    ours, opt = _run(getattr(_optim, name), **kw)
    ref, _ = _run(getattr(torch.optim, name), **kw)
    assert torch.equal(ours, ref)
    assert isinstance(opt, getattr(torch.optim, name))
    assert torch.is_grad_enabled()  # the step restores grad mode


def test_step_hooks_still_run():
    calls = []
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = _optim.SGD([x], lr=0.1)
    opt.register_step_post_hook(lambda *a: calls.append(1))
    x.sum().backward()
    opt.step()
    assert calls == [1]
