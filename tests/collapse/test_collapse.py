"""collapse_module against the modules themselves (their forward pass and autograd Jacobian)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from olsnet.collapse._torch import collapse_module  # noqa: E402
from olsnet.errors import NotAffineError, TrainingWarning  # noqa: E402


def max_rel_diff(module, affine, X):
    """max |module(X) - affine(X)| / max |module(X)| on inputs X (n, p), in float64."""
    with torch.no_grad():
        y = module(torch.as_tensor(X)).double().numpy().reshape(len(X), -1)
    got = affine.predict(X).reshape(len(X), -1)
    return np.abs(y - got).max() / np.abs(y).max()


# ---- 200 random affine models ----------------------------------------------------------------


class Residual(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.l1, self.l2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x):
        return x + self.l2(self.l1(x))


class Concat(nn.Module):
    def __init__(self, width, a, b):
        super().__init__()
        self.left, self.right = nn.Linear(width, a), nn.Linear(width, b, bias=False)

    def forward(self, x):
        return torch.cat([self.left(x), self.right(x)], dim=1)


class Scale(nn.Module):
    def __init__(self, width, rng):
        super().__init__()
        self.c = float(rng.uniform(0.5, 2.0))
        self.register_buffer("d", torch.as_tensor(rng.uniform(0.5, 2.0, width)))

    def forward(self, x):
        return 3.0 - (x * self.c) / self.d


class LoRA(nn.Module):
    def __init__(self, width, out, rank):
        super().__init__()
        self.base = nn.Linear(width, out)
        self.A = nn.Parameter(torch.randn(rank, width))
        self.B = nn.Parameter(torch.randn(out, rank))

    def forward(self, x):
        return self.base(x) + 0.5 * (x @ self.A.T) @ self.B.T


def random_affine_model(rng):
    """A float64 module of depth 1-6 mixing every affine building block."""
    torch.manual_seed(int(rng.integers(2**31)))
    p = int(rng.integers(1, 7))
    width, blocks = p, []
    for _ in range(int(rng.integers(1, 7))):
        kind = rng.choice(
            [
                "linear",
                "bn",
                "dropout",
                "identity",
                "residual",
                "concat",
                "scale",
                "lora",
                "flatten",
            ]
        )
        if kind == "linear":
            out = int(rng.integers(1, 8))
            blocks.append(nn.Linear(width, out, bias=bool(rng.integers(2))))
            width = out
        elif kind == "bn":
            bn = nn.BatchNorm1d(width)
            with torch.no_grad():
                bn.running_mean.copy_(torch.randn(width))
                bn.running_var.copy_(torch.rand(width) + 0.5)
                bn.weight.copy_(torch.randn(width))
                bn.bias.copy_(torch.randn(width))
            blocks.append(bn)
        elif kind == "dropout":
            blocks.append(nn.Dropout(0.5))
        elif kind == "identity":
            blocks.append(nn.Identity())
        elif kind == "residual":
            blocks.append(Residual(width, int(rng.integers(1, 6))))
        elif kind == "concat":
            a, b = int(rng.integers(1, 5)), int(rng.integers(1, 5))
            blocks.append(Concat(width, a, b))
            width = a + b
        elif kind == "scale":
            blocks.append(Scale(width, rng))
        elif kind == "lora":
            out = int(rng.integers(1, 8))
            blocks.append(LoRA(width, out, int(rng.integers(1, 3))))
            width = out
        else:
            blocks.append(nn.Flatten())
    blocks.append(nn.Linear(width, int(rng.integers(1, 4))))
    return nn.Sequential(*blocks).double().eval(), p


def test_200_random_affine_models_collapse_within_1e_12():
    rng = np.random.default_rng(20240611)
    worst = 0.0
    for _ in range(200):
        model, p = random_affine_model(rng)
        affine = collapse_module(model)
        assert affine.certificate.max_rel_diff < 1e-12
        held_back = rng.standard_normal((50, p)) * 3.0  # not the certificate's probes
        worst = max(worst, max_rel_diff(model, affine, held_back))
    assert worst < 1e-12


def test_map_equals_autograd_jacobian_and_value_at_zero():
    rng = np.random.default_rng(7)
    for _ in range(10):
        model, p = random_affine_model(rng)
        affine = collapse_module(model)
        x0 = torch.zeros(1, p, dtype=torch.float64)
        J = torch.autograd.functional.jacobian(model, x0).reshape(affine.n_outputs, p)  # (q, p)
        np.testing.assert_allclose(affine.weight, J.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            affine.bias, model(x0).detach().reshape(-1).numpy(), rtol=1e-12, atol=1e-12
        )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_collapse_of_a_sequence_is_the_composition_of_collapses(seed):
    rng = np.random.default_rng(seed)
    first, _ = random_affine_model(rng)
    width = first[-1].out_features
    torch.manual_seed(seed)
    second = nn.Sequential(nn.Linear(width, 3), Residual(3, 2)).double().eval()
    whole = collapse_module(nn.Sequential(first, second).eval())
    parts = collapse_module(first).then(collapse_module(second))
    assert whole.allclose(parts, rtol=1e-10, atol=1e-12)


# ---- forms of affine code ---------------------------------------------------------------------


class Forms(nn.Module):
    """Functional and method forms: F.linear, W @ x.T, slices, view, neg, sum, squeeze."""

    def __init__(self):
        super().__init__()
        self.register_buffer("M", torch.randn(4, 3, dtype=torch.float64))
        self.w = nn.Parameter(torch.randn(2, 4, dtype=torch.float64))

    def forward(self, x):
        h = (self.M @ x.T).T  # (n, 4)
        h = F.linear(h, self.w, torch.ones(2, dtype=torch.float64))  # (n, 2)
        h = torch.cat([h, -h[:, :1], x[:, 1:3] - 1.0], dim=-1).view(x.size(0), -1)  # (n, 5)
        return h.sum(dim=1, keepdim=True).squeeze(-1) / 2 + h[:, 0]  # (n,)


def test_functional_forms_and_one_dimensional_output():
    model = Forms().eval()
    X = np.random.default_rng(1).standard_normal((20, 3))
    with pytest.raises(ValueError, match="example_input"):  # nothing declares the width
        collapse_module(model)
    affine = collapse_module(model, example_input=X[:2])
    assert affine.weight.shape == (1, 3)
    assert max_rel_diff(model, affine, X) < 1e-13
    assert affine.predict(X).shape == (20,)


def test_training_mode_warns_collapses_as_eval_and_restores_modes():
    bn = nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
        bn.running_var.copy_(torch.tensor([2.0, 0.5, 1.5]))
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.9), bn, nn.Linear(3, 1)).double()
    assert model.training
    with pytest.warns(TrainingWarning, match="training mode") as record:
        affine = collapse_module(model)
    assert record[0].filename == __file__  # points at the user's line
    assert model.training and all(m.training for m in model.modules())
    X = np.random.default_rng(2).standard_normal((30, 2))
    assert max_rel_diff(model.eval(), affine, X) < 1e-13


def test_shape_dependent_branch_falls_back_to_torch_export():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

        def forward(self, x):
            return self.a(x) * 2 if x.shape[1] == 3 else self.b(x)

    model = Branchy().double().eval()
    affine = collapse_module(model, torch.randn(5, 3, dtype=torch.float64))
    assert "torch.export" in affine.certificate.source
    X = np.random.default_rng(3).standard_normal((10, 3))
    assert max_rel_diff(model, affine, X) < 1e-13


def test_float32_module_collapses_in_float64_and_checks_in_float64():
    model = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 2)).eval()  # float32
    affine = collapse_module(model)
    assert affine.dtype == np.float64
    W = (model[1].weight.double() @ model[0].weight.double()).detach().numpy()
    np.testing.assert_allclose(affine.weight, W, rtol=1e-14, atol=0)
    assert affine.certificate.tolerance == 1e-10


def test_linear_network_collapse_agrees_with_olsnet_collapse():
    import olsnet

    net = olsnet.LinearNetwork(4, 2, hidden=(5, 3), seed=0).eval()
    direct = olsnet.collapse(net)
    traced = collapse_module(net)
    assert traced.allclose(direct, rtol=1e-12, atol=1e-14)


def test_certificate_catches_state_the_trace_cannot_see():
    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.calls = nn.Linear(3, 1), 0

        def forward(self, x):
            self.calls += 1  # traced once as a constant; the module changes on every call
            return self.lin(x) * self.calls

    with pytest.raises(NotAffineError, match="does not reproduce"):
        collapse_module(Counter().double().eval())


# ---- every non-affine operation is refused, naming node, operation and module path ----------


class Block(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.lin, self.op = nn.Linear(3, 3), op

    def forward(self, x):
        return self.op(self.lin(x))


def refused(model):
    with pytest.raises(NotAffineError) as info:
        collapse_module(model.double().eval())
    return str(info.value)


def test_relu_module_is_refused():
    msg = refused(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)))
    assert "ReLU" in msg and "module '1'" in msg and "node '_1'" in msg


def test_gelu_is_refused():
    msg = refused(nn.Sequential(nn.Identity(), Block(F.gelu)))
    assert "gelu" in msg and "module '1'" in msg


def test_tanh_is_refused():
    msg = refused(nn.Sequential(Block(torch.tanh)))
    assert "tanh" in msg and "module '0'" in msg and "node 'tanh'" in msg


def test_softmax_is_refused():
    msg = refused(Block(lambda h: h.softmax(dim=-1)))
    assert "softmax" in msg and "(top level)" in msg


def test_layer_norm_is_refused():
    msg = refused(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)))
    assert "LayerNorm" in msg and "module '1'" in msg


def test_square_of_the_input_is_refused():
    msg = refused(Block(lambda h: h * h))
    assert "x * x" in msg and "node 'mul'" in msg


def test_abs_is_refused():
    msg = refused(nn.Sequential(Block(torch.abs)))
    assert "abs" in msg and "module '0'" in msg


def test_data_dependent_control_flow_is_refused():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            if x.sum() > 0:
                return self.lin(x)
            return -self.lin(x)

    msg = refused(nn.Sequential(Gate()))
    assert "data-dependent control flow" in msg and "if x.sum() > 0" in msg
    assert "module '0' (Gate)" in msg


def test_batch_statistics_and_random_dropout_are_refused():
    msg = refused(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, track_running_stats=False)))
    assert "running statistics" in msg
    msg = refused(Block(lambda h: F.dropout(h, 0.5, training=True)))
    assert "dropout" in msg and "random" in msg


def test_warning_free_for_eval_modules():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        collapse_module(nn.Linear(2, 2).double().eval())


def test_torch_export_graphs_give_the_same_map():
    """The ATen rules (torch.export fallback) on the random models, against their forward."""
    from olsnet.affine import Affine
    from olsnet.collapse._trace import evaluate

    rng = np.random.default_rng(99)
    for _ in range(8):
        model, p = random_affine_model(rng)
        exported = torch.export.export(
            model, (torch.randn(7, p, dtype=torch.float64),), strict=False
        ).module()
        lin = evaluate(exported, p, "torch.export", batch_size=7)
        assert max_rel_diff(model, Affine(lin.W, lin.b), rng.standard_normal((30, p))) < 1e-12


def test_olsnet_collapse_is_the_function_after_the_implementation_is_imported():
    import olsnet
    import olsnet.collapse

    net = nn.Sequential(nn.Linear(3, 2), Residual(2, 2)).double().eval()
    assert olsnet.collapse(net).allclose(collapse_module(net), rtol=0, atol=0)
