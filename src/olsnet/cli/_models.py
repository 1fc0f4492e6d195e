"""``olsnet collapse`` and ``olsnet predict``: model files in, an affine map or predictions out.

Accepted model files, none of which can execute code when read:

* ``.onnx`` -- read with ``olsnet.from_onnx`` (affine graphs only);
* ``.pt`` / ``.pth`` -- a *state dict* of ``nn.Linear`` layers, read with
  ``torch.load(weights_only=True)`` (:mod:`olsnet.io.torch_files`). TorchScript runs code from
  the file when loaded and is refused unless ``olsnet collapse --allow-torchscript``;
  a pickled whole module (``torch.save(net)``) is always refused;
* anything else -- an olsnet archive (``olsnet.save``), read with ``olsnet.load``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import typer

from .._fileutil import atomic_write, check_destination
from .._safe_open import check_regular
from ._app import (
    FORMAT_OPT,
    MISSING_OPT,
    app,
    check_format,
    dumps,
    echo,
    needs,
    note,
    refuse_overwriting,
    render,
)
from ._read_options import with_read_options

MAX_MODEL_FILE_BYTES = 2**36  # 64 GiB; each loader applies its own, smaller budget


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


def load_model(path: Path, *, allow_torchscript: bool = False) -> Any:
    """A model from a file, read without executing anything from it (see module doc)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    check_regular(path, MAX_MODEL_FILE_BYTES, what="a model file")  # not /dev/zero, not a FIFO
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from ..io.onnx import from_onnx

        return from_onnx(path)
    if suffix in (".pt", ".pth"):
        from ..io.torch_files import load_torch_file

        return load_torch_file(path, allow_torchscript=allow_torchscript)
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


ALLOW_TORCHSCRIPT_OPT = typer.Option(
    False,
    "--allow-torchscript",
    help="Load TorchScript .pt files. Loading TorchScript RUNS CODE from the file: only for "
    "files you trust.",
)
EQUATIONS_OPT = typer.Option(
    False, "--equations", help="Print every equation even with --out (default: one line)."
)
DTYPE_OPT = typer.Option(
    "auto",
    "--dtype",
    help="Element type of the written ONNX map: auto (the model's own), float32 or float64.",
)


@app.command()
def collapse(
    model: Path = COLLAPSE_MODEL_ARG,
    out: Path | None = COLLAPSE_OUT_OPT,
    fmt: str = FORMAT_OPT,
    equations: bool = EQUATIONS_OPT,
    dtype: str = DTYPE_OPT,
    allow_torchscript: bool = ALLOW_TORCHSCRIPT_OPT,
) -> None:
    """Collapse an affine network into one linear map y = W x + b and print it.

    With --out, an .onnx map keeps the input and output names, element types, shapes and
    opset of an .onnx model (a drop-in replacement); one summary line is printed unless
    --equations.
    """
    fmt = check_format(fmt)
    if dtype not in ("auto", "float32", "float64"):
        raise typer.BadParameter(f"--dtype {dtype!r}: use auto, float32 or float64")
    needs("collapse", *model_modules(model, out))
    if out is not None:
        check_destination(out)  # before the model is read and collapsed
        refuse_overwriting(out, "--out", None, None, model)
    loaded = load_model(model, allow_torchscript=allow_torchscript)
    affine = as_affine(loaded)
    if out is not None:
        _write_collapsed(affine, model, out, None if dtype == "auto" else dtype, loaded)
    if fmt == "json":
        echo(dumps(affine_dict(affine)))
    elif out is not None and not equations:
        cert = affine.certificate
        checked = "" if cert is None else f"; certificate max rel diff {cert.max_rel_diff:.2g}"
        echo(
            f"y = W x + b with {affine.n_features} features, {affine.n_outputs} output(s){checked}"
        )
    elif fmt == "html":
        from ._html import page, pre

        echo(page("Collapsed map", pre(affine_text(affine)), heading=True))
    else:
        echo(affine_text(affine, markdown=fmt == "markdown"))
    if out is not None:
        note(f"olsnet: collapsed map written to {out}")


def _write_collapsed(affine: Any, model: Path, out: Path, dtype: str | None, loaded: Any) -> None:
    """Write the map: ONNX like the source graph (or plain), else an olsnet archive."""
    if out.suffix.lower() != ".onnx":
        from ..io.archive import save

        save(affine, out)
        return
    from ..io.onnx import to_onnx, to_onnx_like

    if model.suffix.lower() == ".onnx":
        from ..collapse import read_onnx

        to_onnx_like(affine, read_onnx(model), out, dtype=dtype)
        return
    params = getattr(loaded, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    default = "float32" if first is not None and str(first.dtype) == "torch.float32" else "float64"
    to_onnx(affine, out, dtype=dtype or default)


def _feature_names(model: Any, affine: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(affine, "feature_names", None)
    return None if names is None else [str(n) for n in names]


def _write_table(out: Path, blocks: Any) -> int:
    """Write prediction tables (pyarrow) to CSV or Parquet all at once (``atomic_write``:
    nothing half-written, mode from the umask). Returns the number of rows."""
    rows = 0
    writer: Any = None
    with atomic_write(out) as fh:
        try:
            for table in blocks:
                if writer is None:
                    if out.suffix.lower() in (".parquet", ".pq"):
                        import pyarrow.parquet as pq

                        writer = pq.ParquetWriter(fh, table.schema, write_page_checksum=True)
                    else:
                        import pyarrow.csv as pcsv

                        writer = pcsv.CSVWriter(fh, table.schema)
                writer.write_table(table)
                rows += table.num_rows
        finally:  # closed while its file is open (an error: the temporary file is removed)
            if writer is not None:
                writer.close()
    return rows


PREDICT_ID_OPT = typer.Option(
    None, "--id", help="A key column passed through beside the predictions."
)


@app.command()
@with_read_options
def predict(
    model: Path = PREDICT_MODEL_ARG,
    data: str = PREDICT_DATA_ARG,
    out: Path | None = PREDICT_OUT_OPT,
    x: list[str] | None = PREDICT_X_OPT,
    missing: str = MISSING_OPT,
    id_column: str | None = PREDICT_ID_OPT,
    fmt: str = FORMAT_OPT,
    read_options: dict[str, Any] | None = None,
) -> None:
    """Predict from a saved model for every row of DATA (streamed).

    A formula model reads the raw columns of its formula (levels, dates and transforms as in
    training). One output row per input row: with --missing drop a row with a missing value
    gets an empty prediction (R's na.exclude) and is counted. DATA is read with the options
    olsnet fit reads with (--sep, --decimal, --encoding, --na-values, --skip-rows, --comment,
    --sheet); --id KEY passes a key column through beside the predictions.
    """
    from ..api import model_spec_of, predict_files
    from ..data.files import read_features

    fmt = check_format(fmt)
    needs("predict", "pyarrow", *model_modules(model))
    if out is not None:
        check_destination(out)
        refuse_overwriting(out, "--out", data, read_options, model)
    loaded = load_model(model)
    affine = as_affine(loaded)
    spec = model_spec_of(loaded)
    names = list(x) if x else _feature_names(loaded, affine)
    if spec is not None and x:
        raise typer.BadParameter("a formula model reads its own columns; drop -x")
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
    columns = [*((id_column,) if id_column else ()), *(f"predicted_{t}" for t in targets)]
    reading = dict(read_options or {})
    if "sql" in reading:  # a DuckDB query: its rows, in the query's order
        if spec is not None or id_column:
            raise typer.BadParameter(
                "--sql is not supported with a formula model or --id; write the query's "
                "result to Parquet (COPY ... TO 'f.parquet') and predict on that file"
            )
        source = read_features(data, names, missing=missing, **reading)
        blocks: Any = (
            _Block(X @ W.T + b)
            for X, _, _ in source.blocks()  # (b, q) each
        )
    else:  # CSV dialect options (--sep, --decimal, ...) as olsnet fit reads with
        blocks = predict_files(
            W,
            b,
            data,
            spec=spec,
            feature_names=names,
            missing=missing,
            id_column=id_column,
            **reading,
        )
    counted = {"missing": 0}

    def tables() -> Any:
        import pyarrow as pa

        schema = None
        for block in blocks:
            counted["missing"] += block.n_missing
            cols = [] if block.ids is None else [pa.array(block.ids, from_pandas=True)]
            cols += [pa.array(block.predictions[:, j], from_pandas=True) for j in range(W.shape[0])]
            table = pa.table(cols, names=columns)
            schema = schema or table.schema
            yield table if table.schema == schema else _conform(table, schema, id_column)

    if out is not None:
        rows = _write_table(out, tables())
        note(f"olsnet: {rows} prediction(s) written to {out}")
    else:
        table = _concat(list(tables()), columns)
        _echo_table(table, columns, fmt)
    if counted["missing"]:
        note(
            f"olsnet: {counted['missing']} row(s) with missing values could not be predicted; "
            "their predictions are empty (NaN), one output row per input row"
        )


@dataclasses.dataclass(frozen=True)
class _Block:
    """Predictions of a block read with a CSV dialect (rows with missing values dropped)."""

    predictions: np.ndarray
    ids: Any = None
    n_missing: int = 0


def _conform(table: Any, schema: Any, id_column: str | None) -> Any:
    """``table`` in the first table's ``schema`` (one output table); the key column of one
    file stored as int64 and of another as text is cast, a key that cannot be is refused."""
    import pyarrow as pa

    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise typer.BadParameter(
            f"--id {id_column!r} is {schema.field(0).type} in the first file(s) and "
            f"{table.schema.field(0).type} in a later one, with values that are not "
            f"{schema.field(0).type}; store the key column with one type in every file"
        ) from None


def _concat(tables: list[Any], columns: list[str]) -> Any:
    import pyarrow as pa

    if not tables:
        return pa.table({c: pa.array([], pa.float64()) for c in columns})
    return pa.concat_tables(tables)


def _echo_table(table: Any, columns: list[str], fmt: str) -> None:
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    if fmt == "json":
        echo(dumps({"columns": columns, "predictions": [[None if v == "NA" else v for v in r]
                                                        for r in rows]}))  # fmt: skip
    elif fmt in ("markdown", "html"):
        from ..inference import Table

        shown = Table(
            title="Predictions",
            header=tuple(columns),
            rows=tuple(tuple(v if isinstance(v, str) else f"{v:.10g}" for v in r) for r in rows),
        )
        echo(shown.as_markdown() if fmt == "markdown" else render(shown, fmt))
    else:
        echo(",".join(columns))
        echo("\n".join(",".join(v if isinstance(v, str) else repr(v) for v in r) for r in rows))


def _cell(v: Any) -> Any:
    """A table cell for output: floats as floats, missing as "NA" (R's spelling), ids as text."""
    if v is None or (isinstance(v, float) and v != v):
        return "NA"
    return v if isinstance(v, float) else str(v)
