"""``olsnet fuse``: an ONNX model with its affine runs fused, as a drop-in replacement."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, echo, note

FUSE_MODEL_ARG = typer.Argument(..., help="MODEL.onnx (any graph: other nodes are kept).")
FUSE_OUT_OPT = typer.Option(..., "--out", "-o", help="Where to write the fused .onnx model.")
FUSE_REPORT_OPT = typer.Option(False, "--report", help="Print every run, not one summary line.")


@app.command()
def fuse(
    model: Path = FUSE_MODEL_ARG,
    out: Path = FUSE_OUT_OPT,
    report: bool = FUSE_REPORT_OPT,
) -> None:
    """Fuse the affine runs of an ONNX model (MatMul/Gemm/BatchNormalization/Conv chains,
    LoRA adapters, RepVGG branches) into single Gemm or Conv nodes.

    The written model keeps the input and output names, element types, shapes and opset, so
    an existing ONNX Runtime session takes the same feed.
    """
    from ..io.onnx import fuse_onnx

    _, fused = fuse_onnx(model, out, return_report=True)
    if report:
        echo(str(fused))
    else:
        runs = sum(r.action != "kept" for r in fused.runs)
        echo(
            f"fused {runs} of {len(fused.runs)} affine run(s): multiply-adds per sample "
            f"{fused.flops_before:,} -> {fused.flops_after:,}, parameters "
            f"{fused.params_before:,} -> {fused.params_after:,}; {fused.certificate}"
        )
    note(f"olsnet: fused model written to {out}")
