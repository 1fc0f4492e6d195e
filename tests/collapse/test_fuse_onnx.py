"""fuse_onnx and ``olsnet fuse``: the fused graph is a drop-in replacement (ONNX Runtime, the
original feed) and passes onnx.checker's full check."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
nn = torch.nn

import zoo  # noqa: E402

import olsnet  # noqa: E402
from olsnet.cli import main  # noqa: E402


def export(model, shape, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, *shape),), str(path), dynamo=False,
                          input_names=["pixels"], output_names=["logits"],
                          dynamic_axes={"pixels": {0: "batch"}})  # fmt: skip
    return path


def interface(proto):
    def spec(v):
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        return v.name, v.type.tensor_type.elem_type, dims

    inits = {i.name for i in proto.graph.initializer}
    ins = [spec(v) for v in proto.graph.input if v.name not in inits]
    return (
        ins,
        [spec(v) for v in proto.graph.output],
        [(o.domain, o.version) for o in proto.opset_import],
    )


def run(path, X):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"pixels": X}
    )[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: zoo.lora_mlp(seed, relu=True),
        lambda seed: zoo.repvgg(seed, relu=True, blocks=2),
        lambda seed: zoo.resnet_stack(seed, relu=True),
    ],
)
def test_fused_graph_is_a_drop_in_replacement(make, tmp_path):
    for seed in range(6):
        model, shape = make(seed)
        model = model.float()
        src = export(model, shape, tmp_path / f"m{seed}.onnx")
        out = tmp_path / f"f{seed}.onnx"
        _proto, report = olsnet.fuse_onnx(src, out, return_report=True)
        fused = onnx.load(str(out))
        onnx.checker.check_model(fused, full_check=True)
        assert interface(fused) == interface(onnx.load(str(src)))
        X = np.random.default_rng(seed).standard_normal((7, *shape)).astype(np.float32)
        want, got = run(src, X), run(out, X)
        assert got.dtype == want.dtype and got.shape == want.shape
        scale = max(float(np.abs(want).max()), 1e-30)
        assert float(np.abs(got - want).max()) / scale <= 1e-5
        assert report.certificate.passed and report.flops_after <= report.flops_before
        assert len(fused.graph.node) <= len(onnx.load(str(src)).graph.node)


def test_repvgg_graph_becomes_conv_relu_only(tmp_path):
    model, shape = zoo.repvgg(4, relu=True, blocks=3)
    src = export(model.float(), shape, tmp_path / "rep.onnx")
    proto = olsnet.fuse_onnx(src)
    assert [n.op_type for n in proto.graph.node] == ["Conv", "Relu"] * 3


def test_cli_fuse_writes_the_model_and_prints_one_line(tmp_path, capsys):
    model, shape = zoo.lora_mlp(5, relu=True)
    src = export(model.float(), shape, tmp_path / "m.onnx")
    status = main(["fuse", str(src), "--out", str(tmp_path / "f.onnx")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert len(out.strip().splitlines()) == 1 and out.startswith("fused ")
    X = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    np.testing.assert_allclose(run(tmp_path / "f.onnx", X), run(src, X), rtol=1e-4, atol=1e-5)
