"""``olsnet collapse`` and ``olsnet predict``: model files in, an affine map or predictions out.

Accepted model files, none of which can execute code when read:

* ``.onnx`` -- read with ``olsnet.from_onnx`` (affine graphs only);
* ``.pt`` / ``.pth`` -- a *state dict* of ``nn.Linear`` layers in sequence (keys ``0.weight``,
  ``0.bias``, ``1.weight``, ...), as ``torch.save(net.state_dict(), path)`` writes it, read with
  ``torch.load(weights_only=True)``; or a TorchScript file (``torch.jit.save`` of a scripted
  or traced ``nn.Sequential`` of ``nn.Linear`` layers), whose weights are read with
  ``torch.jit.load`` and rebuilt as a LinearNetwork. A pickled whole module
  (``torch.save(net)``) is refused: unpickling runs code from the file;
* anything else -- an olsnet archive (``olsnet.save``), read with ``olsnet.load``.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import typer

from .._deps import require
from .._fileutil import atomic_write, check_destination
from ..errors import FormatError
from ._app import FORMAT_OPT, MISSING_OPT, app, check_format, dumps, echo, needs, note, render


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in name or name.endswith("constants.pkl") for name in zf.namelist())
    except zipfile.BadZipFile:
        return False


def _network_from_state_dict(state: Any, path: Path) -> Any:
    """The LinearNetwork whose layers are the ``{i}.weight`` / ``{i}.bias`` tensors."""
    from ..nn import LinearNetwork

    if not isinstance(state, dict) or not state:
        raise FormatError(
            f"{path}: expected a state dict of nn.Linear layers, got {type(state).__name__}"
        )
    keys = [k.rsplit(".", 2)[-2:] for k in state]
    layers = sorted({int(k[0]) for k in keys if len(k) == 2 and k[0].isdigit()})
    expected = {f"{i}.{kind}" for i in layers for kind in ("weight", "bias")}
    suffixes = {".".join(k) for k in keys}
    if (
        not layers
        or not suffixes <= expected
        or layers != list(range(layers[0], layers[0] + len(layers)))
    ):
        raise FormatError(
            f"{path}: the state dict has keys {sorted(state)[:6]}; olsnet reads state dicts of "
            "nn.Linear layers in sequence ('0.weight', '0.bias', '1.weight', ...). Save other "
            "modules with torch.jit.save or export them to ONNX"
        )
    prefix = next(iter(state))[: -len(".".join(keys[0]))]
    weights = [state[f"{prefix}{i}.weight"] for i in layers]
    has_bias = f"{prefix}{layers[0]}.bias" in state
    widths = [int(weights[0].shape[1])] + [int(W.shape[0]) for W in weights]
    net = LinearNetwork(
        widths[0], widths[-1], tuple(widths[1:-1]), bias=has_bias, dtype=weights[0].dtype
    )
    try:
        net.load_state_dict({k[len(prefix) :]: v for k, v in state.items()})
    except RuntimeError as exc:
        raise FormatError(f"{path}: the layers do not chain: {str(exc).splitlines()[0]}") from None
    return net


def _network_from_torchscript(module: Any, path: Path) -> Any:
    """A TorchScript nn.Sequential of nn.Linear layers, as a LinearNetwork (its code is not
    run; only its structure and weights are read)."""
    children = [c.original_name for c in module.children()]
    if module.original_name != "Sequential" or not children or set(children) != {"Linear"}:
        raise FormatError(
            f"{path}: a TorchScript {module.original_name} with parts {children}; olsnet reads "
            "TorchScript files holding an nn.Sequential of nn.Linear layers. Export other "
            "modules to ONNX (olsnet collapses affine ONNX graphs)"
        )
    return _network_from_state_dict(dict(module.state_dict()), path)


def model_modules(*paths: Path | None) -> list[str]:
    """The optional modules reading or writing these model files needs, by extension."""
    out = []
    for path in paths:
        suffix = "" if path is None else path.suffix.lower()
        if suffix == ".onnx":
            out += ["onnx", "onnxruntime"]
        elif suffix in (".pt", ".pth"):
            out.append("torch")
    return out


def load_model(path: Path) -> Any:
    """A model from a file, read without executing anything from it (see module doc)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from ..io.onnx import from_onnx

        return from_onnx(path)
    if suffix in (".pt", ".pth"):
        import torch

        if _is_torchscript(path):
            return _network_from_torchscript(torch.jit.load(str(path), map_location="cpu"), path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            raise FormatError(
                f"{path}: not a state dict of tensors (a pickled module?); olsnet does not "
                "unpickle it, because unpickling runs code from the file. Save "
                "net.state_dict(), or use torch.jit.save or ONNX"
            ) from None
        return _network_from_state_dict(state, path)
    from ..io.archive import load

    return load(path)


def as_affine(model: Any) -> Any:
    """The affine map a model computes (Affine, regression, network or torch module)."""
    from ..affine import Affine

    if isinstance(model, Affine):
        return model
    if hasattr(model, "coef_") or hasattr(model, "params"):
        return _affine_of_regression(model)
    from ..nn import collapse

    return collapse(model)


def _affine_of_regression(model: Any) -> Any:
    """Affine map of a fitted LinearRegression or a RegressionResult (aliased terms as 0,
    as predictions treat them)."""
    from ..affine import Affine

    if hasattr(model, "coef_"):
        W = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))  # (q, p)
        b = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))  # (q,)
        result = getattr(model, "result_", None)
    else:
        result = model
        params = np.asarray(model.params, dtype=np.float64)
        params = params.reshape(params.shape[0], -1)  # (k, q)
        k0 = int(model.k_constant)
        W = params[k0:].T
        b = params[0] if k0 else np.zeros(params.shape[1])
    fnames = None if result is None else tuple(result.feature_names)
    tnames = None if result is None else tuple(result.target_names)
    return Affine(np.nan_to_num(W), np.nan_to_num(b), fnames, tnames)


def affine_dict(affine: Any) -> dict[str, Any]:
    cert = getattr(affine, "certificate", None)
    return {
        "weight": np.asarray(affine.weight).tolist(),
        "bias": np.asarray(affine.bias).tolist(),
        "feature_names": list(affine.feature_names) if affine.feature_names else None,
        "target_names": list(affine.target_names) if affine.target_names else None,
        "certificate": None if cert is None else dataclasses.asdict(cert),
    }


def affine_text(affine: Any, markdown: bool = False) -> str:
    """One equation per output: ``y = b + w1 x1 + ...``, then the certificate."""
    W = np.atleast_2d(np.asarray(affine.weight))  # (q, p)
    b = np.atleast_1d(np.asarray(affine.bias))  # (q,)
    q, p = W.shape
    fnames = list(affine.feature_names or [f"x{j + 1}" for j in range(p)])
    tnames = list(affine.target_names or (["y"] if q == 1 else [f"y{i + 1}" for i in range(q)]))
    lines = []
    for i in range(q):
        terms = " ".join(
            f"{'-' if W[i, j] < 0 else '+'} {abs(W[i, j]):.10g}*{fnames[j]}" for j in range(p)
        )
        lines.append(f"{tnames[i]} = {b[i]:.10g} {terms}")
    cert = getattr(affine, "certificate", None)
    if cert is not None:
        lines.append(
            f"certificate: max |module - map| = {cert.max_abs_diff:.3g} "
            f"(relative {cert.max_rel_diff:.3g}) on {cert.n_probes} probes"
        )
    if markdown:
        return "\n".join(["```", *lines, "```"])
    return "\n".join(lines)


COLLAPSE_MODEL_ARG = typer.Argument(
    ..., help="MODEL.onnx, MODEL.pt (state dict or TorchScript) or an olsnet archive."
)
COLLAPSE_OUT_OPT = typer.Option(None, "--out", "-o", help="Write the map (.onnx or archive).")
PREDICT_MODEL_ARG = typer.Argument(..., help="An olsnet archive (olsnet.save), .onnx or .pt.")
PREDICT_DATA_ARG = typer.Argument(..., help="CSV or Parquet file, directory or glob.")
PREDICT_OUT_OPT = typer.Option(None, "--out", "-o", help="Write predictions (.csv/.parquet).")
PREDICT_X_OPT = typer.Option(
    None,
    "-x",
    "--x",
    help="Feature columns in the model's order (default: the model's feature names).",
)


@app.command()
def collapse(
    model: Path = COLLAPSE_MODEL_ARG,
    out: Path | None = COLLAPSE_OUT_OPT,
    fmt: str = FORMAT_OPT,
) -> None:
    """Collapse an affine network into one linear map y = W x + b and print it."""
    fmt = check_format(fmt)
    needs("collapse", *model_modules(model, out))
    if out is not None:
        check_destination(out)
    affine = as_affine(load_model(model))
    if fmt == "json":
        echo(dumps(affine_dict(affine)))
    elif fmt == "html":
        from ._html import page, pre

        echo(page("Collapsed map", pre(affine_text(affine)), heading=True))
    else:
        echo(affine_text(affine, markdown=fmt == "markdown"))
    if out is not None:
        if out.suffix.lower() == ".onnx":
            from ..io.onnx import to_onnx

            to_onnx(affine, out)
        else:
            from ..io.archive import save

            save(affine, out)
        note(f"olsnet: collapsed map written to {out}")


def _feature_names(model: Any, affine: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(affine, "feature_names", None)
    return None if names is None else [str(n) for n in names]


def _write_table(out: Path, names: list[str], blocks: Any) -> int:
    """Write prediction blocks to CSV or Parquet all at once (``atomic_write``: nothing
    half-written). Returns the number of rows."""
    pa = require("pyarrow", "olsnet predict -o")
    rows = 0
    writer: Any = None
    with atomic_write(out) as fh:
        for P in blocks:
            table = pa.table({n: P[:, j] for j, n in enumerate(names)})
            if writer is None:
                if out.suffix.lower() in (".parquet", ".pq"):
                    import pyarrow.parquet as pq

                    writer = pq.ParquetWriter(fh, table.schema, write_page_checksum=True)
                else:
                    import pyarrow.csv as pcsv

                    writer = pcsv.CSVWriter(fh, table.schema)
            writer.write_table(table)
            rows += P.shape[0]
        if writer is not None:
            writer.close()
    return rows


@app.command()
def predict(
    model: Path = PREDICT_MODEL_ARG,
    data: str = PREDICT_DATA_ARG,
    out: Path | None = PREDICT_OUT_OPT,
    x: list[str] | None = PREDICT_X_OPT,
    missing: str = MISSING_OPT,
    fmt: str = FORMAT_OPT,
) -> None:
    """Predict from a saved model for every row of DATA (streamed)."""
    from ..data.files import read_features

    fmt = check_format(fmt)
    needs("predict", "pyarrow", *model_modules(model))
    if out is not None:
        check_destination(out)
    loaded = load_model(model)
    affine = as_affine(loaded)
    names = list(x) if x else _feature_names(loaded, affine)
    if names is None:
        raise typer.BadParameter(
            "the model does not record its feature names; name the "
            "columns in order with -x COL -x COL ..."
        )
    W = np.atleast_2d(np.asarray(affine.weight))  # (q, p)
    if len(names) != W.shape[1]:
        raise typer.BadParameter(
            f"the model takes {W.shape[1]} features; got {len(names)} columns ({', '.join(names)})"
        )
    b = np.atleast_1d(np.asarray(affine.bias))  # (q,)
    targets = list(
        affine.target_names
        or (["y"] if W.shape[0] == 1 else [f"y{i + 1}" for i in range(W.shape[0])])
    )
    columns = [f"predicted_{t}" for t in targets]
    source = read_features(data, names, missing=missing)
    blocks = (X @ W.T + b for X, _, _ in source.blocks())  # (b, q) each
    if out is not None:
        rows = _write_table(out, columns, blocks)
        note(f"olsnet: {rows} prediction(s) written to {out}")
        return
    P = np.concatenate(list(blocks))
    if fmt == "json":
        echo(dumps({"columns": columns, "predictions": P.tolist()}))
    elif fmt in ("markdown", "html"):
        from ..inference import Table

        table = Table(
            title="Predictions",
            header=tuple(columns),
            rows=tuple(tuple(f"{v:.10g}" for v in row) for row in P),
        )
        echo(table.as_markdown() if fmt == "markdown" else render(table, fmt))
    else:
        echo(",".join(columns))
        echo("\n".join(",".join(repr(float(v)) for v in row) for row in P))
