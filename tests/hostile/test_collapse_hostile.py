"""Hostile model files for ``olsnet collapse`` / ``from_onnx`` (issue 13 items 1, 5, 6).

Each case runs in a fresh child under the harness's memory cap and timeout; the hostile files
are built here, in the test's temporary folder.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from hostile_harness import assert_no_files_outside, olsnet_cli

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

# ---- item 1: TorchScript runs code when loaded ----------------------------------------------

EVIL_TORCHSCRIPT = """
import torch
from torch import nn

class Evil(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, 3, dtype=torch.float64))

    def forward(self, x):
        return x @ self.w.T

    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        print("CODE_RAN_ON_LOAD")  # what a hostile __setstate__ could do instead: anything
        self.w = state[0]
        self.training = state[1]

torch.jit.script(Evil()).save({path!r})
"""


def _build_evil_torchscript(run_capped, path: Path) -> None:
    """Script the module in a child (torch.jit.script reads its source from a file)."""
    (path.parent / "evil_builder.py").write_text(EVIL_TORCHSCRIPT.format(path=str(path)))
    code = f"import sys\nsys.path.insert(0, {str(path.parent)!r})\nimport evil_builder"
    run_capped(code, timeout_s=60).assert_ok()


def test_torchscript_is_not_loaded_without_the_opt_in(run_capped, tmp_path, folder_watch):
    evil = tmp_path / "evil.pt"
    _build_evil_torchscript(run_capped, evil)
    run = run_capped(olsnet_cli("collapse", str(evil)), timeout_s=30)
    assert "CODE_RAN_ON_LOAD" not in run.stdout + run.stderr
    assert run.returncode == 2 and "--allow-torchscript" in run.stderr
    assert_no_files_outside(run, tmp_path, folder_watch)
    api = run_capped(f"from olsnet.io.torch_files import load_torch_file\nload_torch_file({str(evil)!r})",
                     timeout_s=30)  # fmt: skip
    api.assert_error("FormatError", "TorchScript", "runs code")
    assert "CODE_RAN_ON_LOAD" not in api.stdout


def test_the_marker_proves_the_payload_would_run_with_the_opt_in(run_capped, tmp_path):
    """The same file with --allow-torchscript: the payload runs (so the test above can fail)."""
    evil = tmp_path / "evil.pt"
    _build_evil_torchscript(run_capped, evil)
    run = run_capped(olsnet_cli("collapse", str(evil), "--allow-torchscript"), timeout_s=30)
    assert "CODE_RAN_ON_LOAD" in run.stdout


def test_a_pickled_module_never_runs_its_reduce(run_capped, tmp_path, marker):
    """torch.save of an object whose __reduce__ would create the marker file: refused by
    torch.load(weights_only=True), the file never appears."""
    path = tmp_path / "pickled.pt"
    build = textwrap.dedent(f"""
        import builtins, torch
        class Payload:
            def __reduce__(self):
                return (builtins.open, ({str(marker.path)!r}, "w"))
        torch.save({{"0.weight": Payload()}}, {str(path)!r})
    """)
    run_capped(build, timeout_s=60).assert_ok()
    assert not marker.path.exists()
    run = run_capped(olsnet_cli("collapse", str(path)), timeout_s=30)
    assert run.returncode == 2 and "does not unpickle" in run.stderr
    assert not marker.path.exists()


# ---- item 5: ONNX graphs that would allocate without bound ----------------------------------


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _collapse_capped(run_capped, path: Path):
    code = f"import olsnet\nolsnet.from_onnx({str(path)!r})\nprint('collapsed')"
    return run_capped(code, timeout_s=20)


def test_identity_on_a_30000_wide_input_is_refused_before_allocating(run_capped, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 30000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 30000])
    onnx.save(_model([helper.make_node("Identity", ["x"], ["y"])], [x], [y]), tmp_path / "m.onnx")
    run = _collapse_capped(run_capped, tmp_path / "m.onnx")
    run.assert_error("ResourceLimitError", "input 'x'", "30000 x 30000", "max_bytes")
    run.assert_bounded()


def test_a_fixed_batch_of_1e8_rows_does_not_size_the_probes(run_capped, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [100_000_000, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [100_000_000, 2])
    W = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "W")
    node = helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)
    onnx.save(_model([node], [x], [y], [W]), tmp_path / "m.onnx")
    run = _collapse_capped(run_capped, tmp_path / "m.onnx")
    run.assert_ok()
    assert "collapsed" in run.stdout
    run.assert_bounded()


def test_34_chained_concats_of_a_constant_are_refused(run_capped, tmp_path):
    nodes = [helper.make_node("Constant", [], ["c0"], value=numpy_helper.from_array(np.ones(1)))]
    for i in range(34):
        nodes.append(helper.make_node("Concat", [f"c{i}", f"c{i}"], [f"c{i + 1}"], axis=0))
    nodes.append(helper.make_node("Shape", ["c34"], ["s"]))
    nodes.append(helper.make_node("Identity", ["x"], ["y"]))
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 2])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 2])
    onnx.save(_model(nodes, [x], [y]), tmp_path / "m.onnx")
    run = _collapse_capped(run_capped, tmp_path / "m.onnx")
    run.assert_error("ResourceLimitError", "Concat", "max_bytes")
    run.assert_bounded()


def test_an_outer_product_of_constants_is_refused(run_capped, tmp_path):
    a = numpy_helper.from_array(np.ones((40000, 1)), "a")
    b = numpy_helper.from_array(np.ones((1, 40000)), "b")
    nodes = [helper.make_node("Mul", ["a", "b"], ["c"]), helper.make_node("Identity", ["x"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 2])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 2])
    onnx.save(_model(nodes, [x], [y], [a, b]), tmp_path / "m.onnx")
    run = _collapse_capped(run_capped, tmp_path / "m.onnx")
    run.assert_error("ResourceLimitError", "Mul", "max_bytes")
    run.assert_bounded()


def test_the_budget_is_settable(tmp_path):
    import olsnet
    from olsnet.errors import ResourceLimitError

    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 300])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 300])
    proto = _model([helper.make_node("Identity", ["x"], ["y"])], [x], [y])
    with pytest.raises(ResourceLimitError, match="max_bytes=100000"):
        olsnet.from_onnx(proto, max_bytes=100_000)
    assert olsnet.from_onnx(proto).certificate.passed  # 300 x 300 fits the default


# ---- item 6: external data only from beside the model ---------------------------------------


def _external_model(tmp_path: Path, location: str) -> Path:
    W = numpy_helper.from_array(np.arange(6, dtype=np.float64).reshape(2, 3), "W")
    W.data_location = TensorProto.EXTERNAL
    W.ClearField("raw_data")
    entry = W.external_data.add()
    entry.key, entry.value = "location", location
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 2])
    node = helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(_model([node], [x], [y], [W]).SerializeToString())
    return path


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("absolute", "absolute"),
        ("dotdot", "'..'"),
        ("missing", "missing"),
        ("link", "outside the model's folder"),
    ],
)
def test_external_data_is_read_only_from_beside_the_model(run_capped, tmp_path, where, message):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(6, dtype=np.float64).tobytes())
    location = {
        "absolute": str(secret),
        "dotdot": "../secret.bin",
        "missing": "weights.bin",
        "link": "link.bin",
    }[where]
    path = _external_model(tmp_path, location)
    if where == "link":
        (path.parent / "link.bin").symlink_to(secret)
    run = _collapse_capped(run_capped, path)
    run.assert_error("FormatError", "'W'" if where == "missing" else "external data", message)
    run.assert_bounded()


def test_external_data_beside_the_model_is_read(tmp_path):
    import olsnet

    path = _external_model(tmp_path, "weights.bin")
    (path.parent / "weights.bin").write_bytes(np.arange(6, dtype=np.float64).tobytes())
    A = olsnet.from_onnx(path)
    np.testing.assert_array_equal(A.weight, np.arange(6.0).reshape(2, 3))


def test_a_model_proto_whose_external_data_was_not_loaded_is_refused(tmp_path):
    import olsnet
    from olsnet.errors import FormatError

    path = _external_model(tmp_path, "weights.bin")
    (path.parent / "weights.bin").write_bytes(np.arange(6, dtype=np.float64).tobytes())
    proto = onnx.load(str(path), load_external_data=False)
    with pytest.raises(FormatError, match="was not loaded"):
        olsnet.from_onnx(proto)
