"""to_onnx against ONNX Runtime, from_onnx against ONNX Runtime and the torch collapse."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import olsnet  # noqa: E402
from olsnet.collapse._torch import collapse_module  # noqa: E402
from olsnet.errors import NotAffineError, OptionError  # noqa: E402
from olsnet.io.onnx import from_onnx, to_onnx  # noqa: E402


def run_ort(proto, X):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: X})[0], dtype=np.float64)


def rel(a, b):
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = (
        X @ rng.standard_normal((4, 2))
        + rng.standard_normal(2)
        + 0.1 * rng.standard_normal((200, 2))
    )
    return X, Y


def exported_models(X, Y):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["age", "height", "weight", "dose"])
    reg = olsnet.LinearRegression().fit(frame, Y[:, 0])
    multi = olsnet.LinearRegression(fit_intercept=False).fit(X, Y)
    net = olsnet.LinearNetwork(4, 2, hidden=(6, 3), seed=1)
    rng = np.random.default_rng(1)
    affine = olsnet.Affine(rng.standard_normal((3, 4)), rng.standard_normal(3))
    return [
        (reg, lambda Z: reg.predict(pd.DataFrame(Z, columns=frame.columns)), "collapsed"),
        (reg.result_, lambda Z: reg.predict(pd.DataFrame(Z, columns=frame.columns)), "collapsed"),
        (multi, multi.predict, "collapsed"),
        (net, net.predict, "collapsed"),
        (net, net.predict, "separate"),
        (affine, affine.predict, "collapsed"),
    ]


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_onnx_runtime_predictions_equal_olsnet_predictions(data, tmp_path, dtype, tol):
    X, Y = data
    for i, (model, predict, layers) in enumerate(exported_models(X, Y)):
        path = tmp_path / f"m{i}.onnx"
        proto = to_onnx(model, path, dtype=dtype, layers=layers)
        onnx.checker.check_model(onnx.load(path), full_check=True)
        assert proto.opset_import[0].version == onnx.defs.onnx_opset_version()
        got = run_ort(proto, X.astype(dtype))
        assert rel(got, predict(X)) < tol, (type(model).__name__, layers)


def test_exported_names_and_graph_shape(data, tmp_path):
    X, Y = data
    (reg, _, _), _, _, (net, _, _), *_ = exported_models(X, Y)
    proto = to_onnx(reg, tmp_path / "reg.onnx")
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["olsnet.feature_names"] == '["age", "height", "weight", "dose"]'
    assert "age, height, weight, dose" in proto.doc_string
    assert [i.name for i in proto.graph.input] == ["X"]
    assert [n.op_type for n in proto.graph.node] == ["Gemm"]
    assert [n.op_type for n in to_onnx(net, None, layers="separate").graph.node] == ["Gemm"] * 3
    back = from_onnx(tmp_path / "reg.onnx")
    assert back.feature_names == ("age", "height", "weight", "dose")
    with pytest.raises(OptionError, match="'float64', 'float32'"):
        to_onnx(reg, None, dtype="float16")


def test_to_onnx_then_from_onnx_is_the_same_map(tmp_path):
    rng = np.random.default_rng(5)
    affine = olsnet.Affine(rng.standard_normal((2, 5)), rng.standard_normal(2))
    back = from_onnx(to_onnx(affine, tmp_path / "a.onnx"))
    assert back.allclose(affine, rtol=0, atol=0)
    assert back.certificate.max_rel_diff < 1e-15


# ---- graphs built node by node ----------------------------------------------------------------


def graph_model(nodes, inits, p=3, q=None, dtype=TensorProto.DOUBLE):
    out = helper.make_tensor_value_info("y", dtype, None)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", dtype, ["N", p])],
        [out],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def check_against_ort(proto, p=3):
    affine = from_onnx(proto)
    X = np.random.default_rng(11).standard_normal((40, p))
    assert rel(affine.predict(X), run_ort(proto, X)) < 1e-13
    return affine


@pytest.mark.parametrize("transA", [0, 1])
@pytest.mark.parametrize("transB", [0, 1])
def test_gemm_in_every_orientation(transA, transB):
    rng = np.random.default_rng(transA * 2 + transB)
    W = rng.standard_normal((3, 4))  # (p, q) for transB=0
    C = rng.standard_normal(4)
    nodes = []
    first = "x"
    if transA:  # feed A transposed, so that transA restores (N, p)
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]))
        first = "xt"
    nodes.append(
        helper.make_node(
            "Gemm",
            [first, "W", "C"],
            ["y"],
            name="gemm",
            alpha=0.5,
            beta=-2.0,
            transA=transA,
            transB=transB,
        )
    )
    proto = graph_model(nodes, {"W": W.T.copy() if transB else W, "C": C})
    affine = check_against_ort(proto)
    np.testing.assert_allclose(affine.weight, 0.5 * W.T, rtol=1e-15)
    np.testing.assert_allclose(affine.bias, -2.0 * C, rtol=1e-15)


def test_gemm_with_the_input_as_second_operand():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((2, 3))
    nodes = [
        helper.make_node("Gemm", ["M", "x"], ["yt"], transB=1),  # M @ x.T: (2, N)
        helper.make_node("Transpose", ["yt"], ["y"], perm=[1, 0]),
    ]
    affine = check_against_ort(graph_model(nodes, {"M": M}))
    np.testing.assert_allclose(affine.weight, M, rtol=1e-15)


def test_mixed_graph_of_every_supported_operation():
    rng = np.random.default_rng(4)
    inits = {
        "W1": rng.standard_normal((3, 4)),
        "b1": rng.standard_normal(4),
        "two": np.array(2.0),
        "s": rng.uniform(1, 2, 4),
        "scale": rng.standard_normal(4),
        "bias": rng.standard_normal(4),
        "mean": rng.standard_normal(4),
        "var": rng.uniform(0.5, 2, 4),
        "W2": rng.standard_normal((7, 2)),
        "shape": np.array([0, -1], dtype=np.int64),
        "b2": rng.standard_normal(2),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h2"]),
        helper.make_node("Mul", ["two", "h2"], ["h3"]),
        helper.make_node("Div", ["h3", "s"], ["h4"]),
        helper.make_node(
            "BatchNormalization", ["h4", "scale", "bias", "mean", "var"], ["h5"], epsilon=1e-3
        ),
        helper.make_node("Dropout", ["h5"], ["h6"]),
        helper.make_node("Identity", ["h6"], ["h7"]),
        helper.make_node("Sub", ["h7", "h1"], ["h8"]),
        helper.make_node("Flatten", ["x"], ["xf"], axis=1),
        helper.make_node("Concat", ["h8", "xf"], ["h9"], axis=1),
        helper.make_node("Reshape", ["h9", "shape"], ["h10"]),
        helper.make_node("Gemm", ["h10", "W2", "b2"], ["y"]),
    ]
    check_against_ort(graph_model(nodes, inits))


def test_float32_graph_is_certified_at_float32_tolerance():
    W = np.random.default_rng(8).standard_normal((3, 2)).astype(np.float32)
    proto = graph_model(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], {"W": W}, dtype=TensorProto.FLOAT
    )
    affine = from_onnx(proto)
    assert affine.certificate.tolerance == 1e-4
    np.testing.assert_array_equal(affine.weight, W.T.astype(np.float64))


@pytest.mark.parametrize("op", ["Relu", "Tanh", "Abs", "Softmax"])
def test_non_affine_node_is_named(op):
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="first"),
        helper.make_node(op, ["h"], ["y"], name="the_bad_one"),
    ]
    proto = graph_model(nodes, {"W": np.eye(3)})
    with pytest.raises(NotAffineError, match=f"node 'the_bad_one' \\(op_type {op}\\)"):
        from_onnx(proto)


def test_product_of_two_input_dependent_values_is_refused():
    nodes = [helper.make_node("Mul", ["x", "x"], ["y"], name="square")]
    with pytest.raises(NotAffineError, match=r"'square'.*quadratic"):
        from_onnx(graph_model(nodes, {}))


# ---- torch.onnx.export round trip -------------------------------------------------------------


def torch_export(model, n_features, path):
    """torch.onnx.export (TorchScript exporter: onnxscript, needed by the dynamo one, is absent)."""
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is deprecated
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.randn(5, n_features, dtype=torch.float64),),
            str(path),
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "N"}},
        )
    return path


def test_torch_onnx_export_round_trip_equals_the_torch_collapse(tmp_path):
    nn = torch.nn
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(5)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    model = (
        nn.Sequential(
            nn.Linear(4, 5),
            bn,
            nn.Dropout(0.3),
            nn.Flatten(),
            nn.Linear(5, 3),
            nn.Identity(),
            nn.Linear(3, 2),
        )
        .double()
        .eval()
    )
    path = torch_export(model, 4, tmp_path / "torch.onnx")
    from_file = from_onnx(path)
    from_torch = collapse_module(model)
    assert from_file.allclose(from_torch, rtol=1e-12, atol=1e-14)
    assert from_file.certificate.max_rel_diff < 1e-12


def test_torch_export_of_view_slices_and_concatenation(tmp_path):
    nn = torch.nn

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            h = self.a(x).view(x.size(0), -1)  # exported as Shape, Gather, Concat, Reshape
            return self.b(torch.cat([h[:, :2] * 2, h[:, 2:] - 1], dim=1)) + x[:, :1]

    torch.manual_seed(1)
    model = Mixed().double().eval()
    path = torch_export(model, 3, tmp_path / "mixed.onnx")
    assert {"Shape", "Gather", "Slice"} <= {n.op_type for n in onnx.load(path).graph.node}
    assert from_onnx(path).allclose(collapse_module(model), rtol=1e-12, atol=1e-14)
