"""``olsnet plot network|training|diagnostics`` and ``olsnet demo`` (olsnet.plots, olsnet.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._deps import require
from .._fileutil import check_destination
from ._app import (
    FORMAT_OPT,
    DataOptions,
    app,
    check_format,
    data_command,
    dumps,
    echo,
    flag,
    needs,
    note,
)
from ._fit import NO_INTERCEPT_OPT, fit_model
from ._models import model_modules
from ._train import (
    BATCH_SIZE_OPT,
    DEVICE_OPT,
    EPOCHS_OPT,
    HIDDEN_OPT,
    LR_OPT,
    MOMENTUM_OPT,
    NO_STANDARDIZE_OPT,
    OPTIMIZER_OPT,
    SEED_OPT,
    WEIGHT_DECAY_OPT,
    TrainFlags,
    coef_names,
    parse_hidden,
    train_from_file,
    training_reference,
)

plot_app = typer.Typer(
    help="Draw a figure (PNG, SVG or PDF, by the file's extension).", no_args_is_help=True
)
app.add_typer(plot_app, name="plot")


def _out(default: str) -> Any:
    return typer.Option(Path(default), "--out", "-o", help="Figure file (.png, .svg or .pdf).")


NETWORK_OUT = _out("network.png")
MODEL_ARG = typer.Argument(
    ..., help="A saved network or regression (olsnet archive), .onnx or .pt."
)
OUTDIR_OPT = typer.Option(Path("olsnet-demo"), "--outdir", help="Where the figures go.")
QUICK_OPT = flag("--quick", "Fewer gradient-descent epochs.")
TRAINING_OUT = _out("training.png")
DIAGNOSTICS_OUT = _out("diagnostics.png")
LABEL_OPT = typer.Option(
    None, "--label", help="Column whose values label the extreme points (default: row number)."
)


def wrote(path: Path, fmt: str) -> None:
    """Say where the figure went: a note on stderr, or ``{"figure": path}`` for --format json."""
    if check_format(fmt) == "json":
        echo(dumps({"figure": str(path)}))
    else:
        note(f"olsnet: wrote {path}")


@plot_app.command("network")
def plot_network(
    model: Path = MODEL_ARG,
    out: Path = NETWORK_OUT,
    fmt: str = FORMAT_OPT,
) -> None:
    """The network diagram: nodes, weighted edges, equations and the collapsed regression."""
    from .. import plots
    from ._models import load_model

    needs("plot network", "matplotlib", *model_modules(model))
    plots.plot_network(load_model(model), out)
    wrote(out, fmt)


@plot_app.command("training")
@data_command
def plot_training(
    data: DataOptions,
    hidden: list[str] = HIDDEN_OPT,
    optimizer: str = OPTIMIZER_OPT,
    epochs: int | None = EPOCHS_OPT,
    lr: float | None = LR_OPT,
    momentum: float = MOMENTUM_OPT,
    batch_size: int | None = BATCH_SIZE_OPT,
    weight_decay: float = WEIGHT_DECAY_OPT,
    no_standardize: bool = NO_STANDARDIZE_OPT,
    device: str = DEVICE_OPT,
    seed: int = SEED_OPT,
    out: Path = TRAINING_OUT,
    fmt: str = FORMAT_OPT,
) -> None:
    """Train the network on DATA, then draw the loss against epoch with the exact optimum
    and each coefficient's path to its OLS value (the flags are those of olsnet train)."""
    from .. import plots

    needs("plot training", *data.modules(), "torch", "matplotlib")
    check_destination(out)
    flags = TrainFlags(lr, momentum, batch_size, weight_decay, not no_standardize, device)
    trained = train_from_file(
        data, parse_hidden(hidden), optimizer, epochs, seed, flags=flags, record_paths=True
    )
    plots.plot_training(
        trained.log,
        out,
        reference=training_reference(trained),
        coef_paths=trained.coef_paths,
        coef_names=coef_names(trained),
    )
    wrote(out, fmt)


@plot_app.command("diagnostics")
@data_command
def plot_diagnostics(
    data: DataOptions,
    no_intercept: bool = NO_INTERCEPT_OPT,
    label: str | None = LABEL_OPT,
    out: Path = DIAGNOSTICS_OUT,
    fmt: str = FORMAT_OPT,
) -> None:
    """Fit the regression and draw R's four diagnostic plots (as plot.lm).

    The most extreme points are labelled by 0-based row number, or by the values of --label
    COLUMN (e.g. a name or id column, text allowed).
    """
    from .. import plots

    needs("plot diagnostics", *data.modules(), "matplotlib")
    check_destination(out)
    model, source = fit_model(data, no_intercept)
    labels = None if label is None else row_labels(source, label, model.result_)
    plots.plot_diagnostics(model.result_, out, labels=labels)
    wrote(out, fmt)


def row_labels(source: Any, column: str, result: Any) -> list[str]:
    """The values of ``column`` for the fitted rows, read from the source's files as text."""
    pa = require("pyarrow", "olsnet plot diagnostics --label")
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    dropped = max(result.n_dropped, getattr(source, "n_dropped", 0) or 0)
    if dropped:
        raise typer.BadParameter(
            f"--label {column!r}: {dropped} row(s) with missing values were dropped from the fit, "
            "so labels cannot be matched to rows; remove those rows from the file first"
        )
    values: list[str] = []
    for path in getattr(source, "paths", ()):
        if path.suffix.lower() in (".parquet", ".pq"):
            names = pq.read_schema(path).names
            table = pq.read_table(path, columns=[column]) if column in names else None
        else:
            names = pcsv.open_csv(path).schema.names
            table = (
                pcsv.read_csv(
                    path,
                    convert_options=pcsv.ConvertOptions(
                        include_columns=[column], column_types={column: pa.string()}
                    ),
                )
                if column in names
                else None
            )
        if table is None:
            raise typer.BadParameter(
                f"--label {column!r} is not a column of {path}; its columns are {', '.join(names)}"
            )
        text = pc.fill_null(table.column(column).cast(pa.string()), "")
        values.extend(text.to_pylist())
    return values


@app.command()
def demo(
    outdir: Path = OUTDIR_OPT,
    quick: bool = QUICK_OPT,
    fmt: str = FORMAT_OPT,
) -> None:
    """The story of olsnet in one run, with three figures.

    The exact regression, the single neuron, the hidden layer and its collapse, conditioning.
    With --format json the story goes to stderr and its numbers to stdout.
    """
    from rich.console import Console

    from ..demo import run

    as_json = check_format(fmt) == "json"
    needs("demo", "torch", "matplotlib")
    numbers = run(outdir=outdir, console=Console(stderr=as_json), quick=quick)
    if as_json:
        echo(dumps(numbers))
