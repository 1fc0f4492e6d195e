"""Collapse of convolutional and other generated models (tests/collapse/zoo.py), against the
modules' own outputs and autograd Jacobians; RepVGG against the paper's closed form; ONNX
import of the same models against the torch collapse."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import zoo  # noqa: E402

import olsnet  # noqa: E402
from olsnet.errors import DimensionError  # noqa: E402

N_MODELS = 30


def jacobian_map(model, shape):
    """(W (q, p), b (q,)) from torch autograd at a random point: an independent reference."""
    x = torch.randn(*shape, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: model(v[None]).reshape(-1), x, vectorize=True)
    W = J.reshape(J.shape[0], -1).numpy()
    with torch.no_grad():
        b = model(torch.zeros(1, *shape, dtype=torch.float64)).reshape(-1).numpy()
    return W, b


def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def check_zoo_model(model, shape, seed):
    A = olsnet.collapse(model, example_input=torch.randn(2, *shape, dtype=torch.float64))
    assert A.certificate.max_rel_diff <= 1e-12, (seed, A.certificate)
    W, b = jacobian_map(model, shape)
    assert rel(A.weight, W) <= 1e-12 and rel(A.bias, b) <= 1e-12
    X = torch.randn(5, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = model(X).reshape(5, -1).numpy()
    assert rel(A.predict(X.numpy()).reshape(5, -1), y) <= 1e-12
    return A


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_chains_collapse_to_their_jacobian(nd):
    for seed in range(N_MODELS):
        model, shape = zoo.conv_chain(nd, 1000 * nd + seed)
        A = check_zoo_model(model, shape, seed)
        assert A.input_shape == shape


@pytest.mark.parametrize("kind", ["lora_mlp", "resnet_stack"])
def test_affine_mlp_zoo(kind):
    for seed in range(N_MODELS):
        model, shape = getattr(zoo, kind)(seed)
        check_zoo_model(model, shape, seed)


def test_repvgg_blocks_equal_the_papers_reparameterisation():
    for seed in range(N_MODELS):
        model, shape = zoo.repvgg(seed)
        A = check_zoo_model(model, shape, seed)
        block = model[0]
        kernel, bias = zoo.repvgg_closed_form(block)
        stride = block.dense[0].stride
        X = torch.randn(4, *shape, dtype=torch.float64)
        fused = torch.nn.functional.conv2d(X, kernel, bias, stride=stride, padding=1)
        assert rel(A.predict(X.numpy()), fused.reshape(4, -1).numpy()) <= 1e-12


def test_float32_conv_chain_certificate_within_1e_5():
    for seed in range(N_MODELS):
        model, shape = zoo.conv_chain(2, 5000 + seed)
        model = model.float()
        A = olsnet.collapse(model, example_input=torch.randn(2, *shape))
        X = torch.randn(8, *shape)
        with torch.no_grad():
            y = model(X).reshape(8, -1).double().numpy()
        assert rel(A.predict(X.double().numpy()).reshape(8, -1), y) <= 1e-5
        assert A.weight.dtype == np.float64


def test_conv_without_example_asks_for_the_full_shape():
    model = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.Flatten(), nn.Linear(8 * 32, 2))
    with pytest.raises(DimensionError, match=r"example_input with the full shape"):
        olsnet.collapse(model.eval())


def test_the_issue_conv1d_model():
    model = nn.Sequential(
        nn.Conv1d(3, 8, 5, padding=2),
        nn.BatchNorm1d(8),
        nn.Conv1d(8, 4, 3),
        nn.Flatten(),
        nn.Linear(120, 5),
    ).eval()
    A = olsnet.collapse(model, example_input=torch.randn(1, 3, 32))
    assert (A.n_features, A.n_outputs, A.input_shape) == (96, 5, (3, 32))
    assert A.certificate.passed


def _export(model, shape, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, *shape, dtype=torch.float64),), str(path),
                          dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})  # fmt: skip
    return path


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_onnx_conv_import_equals_the_torch_collapse(nd, tmp_path):
    """NumPy convolutions of the ONNX front end against torch's own, model by model."""
    for seed in range(10):
        model, shape = zoo.conv_chain(nd, 7000 * nd + seed)
        if any(getattr(m, "padding_mode", "zeros") == "circular" for m in model.modules()):
            continue  # the TorchScript exporter writes circular padding as Concat of slices
        B = olsnet.collapse(model, example_input=torch.randn(2, *shape, dtype=torch.float64))
        A = olsnet.from_onnx(_export(model, shape, tmp_path / f"m{seed}.onnx"))
        assert A.input_shape == shape
        assert rel(A.weight, B.weight) <= 1e-12 and rel(A.bias, B.bias) <= 1e-12
        assert A.certificate.passed
