"""``olsnet train``: train the linear network on a file, live, and compare it with the regression."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer

from .._fileutil import check_destination
from .._types import OPTIMIZERS, check_option
from ._app import (
    FORMAT_OPT,
    DataOptions,
    app,
    check_format,
    data_command,
    dumps,
    echo,
    in_memory,
    intercept_for,
    note,
    render,
)

HIDDEN_OPT = typer.Option([], "--hidden", help="Hidden width (repeat or '3,2' for layers).")
OPTIMIZER_OPT = typer.Option("lbfgs", "--optimizer", help=f"One of {', '.join(OPTIMIZERS)}.")
EPOCHS_OPT = typer.Option(None, "--epochs", help="Maximum epochs (optimizer's default if unset).")
SEED_OPT = typer.Option(0, "--seed", help="Seed of the initial weights and of the shuffling.")
PLOT_OPT = typer.Option(None, "--plot", help="Write network.png and training.png into DIR.")
SAVE_OPT = typer.Option(None, "--save", help="Write the trained network (olsnet.save).")


def parse_hidden(values: list[str]) -> tuple[int, ...]:
    """``["3", "2"]`` or ``["3,2"]`` -> (3, 2); widths must be positive integers."""
    widths: list[int] = []
    for value in values:
        for part in str(value).replace(" ", "").split(","):
            if not part:
                continue
            if not part.isdigit() or int(part) < 1:
                raise typer.BadParameter(
                    f"--hidden {value!r}: widths must be positive integers, "
                    "as in --hidden 3 or --hidden 3,2"
                )
            widths.append(int(part))
    return tuple(widths)


@dataclass(frozen=True)
class Trained:
    net: Any
    log: Any
    X: np.ndarray  # (n, p)
    y: np.ndarray  # (n,) or (n, q)
    weights: np.ndarray | None  # (n,)
    optimum: float  # the objective J at the exact optimum (OLS, or reduced rank for bottlenecks)
    reference: Any  # the exact fit (LinearRegression, or ReducedRankRegression for bottlenecks)


def exact_optimum(
    X: np.ndarray, y: np.ndarray, w: np.ndarray | None, fit_intercept: bool, rank: int | None
) -> tuple[float, Any]:
    """(J*, the exact fit): J* = Σ w ||y - ŷ||² / (2 Σ w) at the exact optimum (the training
    objective without weight decay); reduced-rank regression when the network has a bottleneck
    of width ``rank``."""
    from ..estimator import LinearRegression

    if rank is None:
        model: Any = LinearRegression(fit_intercept=fit_intercept).fit(X, y, w)
    else:
        from ..reference import ReducedRankRegression

        model = ReducedRankRegression(rank=rank).fit(X, y, w)
    resid = np.asarray(y, dtype=np.float64).reshape(len(X), -1) - np.asarray(
        model.predict(X)
    ).reshape(len(X), -1)
    ww = np.ones(len(X)) if w is None else w
    return float(ww @ (resid * resid).sum(axis=1) / (2.0 * ww.sum())), model


def train_from_file(
    data: DataOptions,
    hidden: tuple[int, ...],
    optimizer: str,
    epochs: int | None,
    seed: int,
    live: bool = True,
) -> Trained:
    """Read the data, train ``LinearNetwork(hidden)`` with a live bar (loss, gap to J*)."""
    from ..nn import LinearNetwork, train

    optimizer = check_option("--optimizer", optimizer, OPTIMIZERS)
    source = data.source()
    fit_intercept = intercept_for(source, False)
    X, yy, w = in_memory(source)
    net = LinearNetwork.from_names(
        source.feature_names, source.target_names, hidden, bias=fit_intercept, seed=seed
    )
    optimum, reference = exact_optimum(X, yy, w, fit_intercept, net.bottleneck)
    options: dict[str, Any] = {"optimizer": optimizer, "seed": seed}
    if epochs is not None:
        options["max_epochs"] = epochs
    if not live:
        return Trained(net, train(net, X, yy, w, **options), X, yy, w, optimum, reference)
    with _LiveBar(optimizer, epochs, optimum) as bar:
        log = train(net, X, yy, w, callback=bar.update, **options)
    return Trained(net, log, X, yy, w, optimum, reference)


class _LiveBar:
    """A rich progress bar on stderr: epoch, loss and its relative gap to the exact optimum."""

    def __init__(self, optimizer: str, epochs: int | None, optimum: float) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.optimum = optimum
        self.progress = Progress(
            TextColumn(f"training ({optimizer})"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  gap {task.fields[gap]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("train", total=epochs, loss="-", gap="-")

    def __enter__(self) -> _LiveBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, epoch: int, log: Any) -> bool:
        loss = float(log.loss[-1])
        gap = (loss - self.optimum) / self.optimum if self.optimum > 0 else loss - self.optimum
        self.progress.update(self.task, completed=epoch, loss=f"{loss:.10g}", gap=f"{gap:.2e}")
        return False


def log_dict(log: Any, optimum: float) -> dict[str, Any]:
    """The training log in JSON-able form (per-epoch series included)."""
    return {
        "optimizer": log.optimizer,
        "epochs": int(log.epochs),
        "seconds": float(log.seconds),
        "stop_reason": log.stop_reason,
        "converged": bool(log.converged),
        "lr": float(log.lr),
        "final_loss": float(log.final_loss),
        "exact_loss": optimum,
        "relative_gap": (float(log.final_loss) - optimum) / optimum if optimum > 0 else None,
        "loss": np.asarray(log.loss).tolist(),
        "grad_norm": np.asarray(log.grad_norm).tolist(),
    }


def training_reference(trained: Trained) -> Any:
    """What plot_training compares with: the exact regression, or J* for a bottleneck."""
    return trained.optimum if trained.net.bottleneck else trained.reference


def write_training_plots(trained: Trained, outdir: Path) -> list[Path]:
    """network.png and training.png in ``outdir`` (olsnet.plots)."""
    from .. import plots

    outdir.mkdir(parents=True, exist_ok=True)
    paths = [outdir / "network.png", outdir / "training.png"]
    plots.plot_network(trained.net, paths[0])
    plots.plot_training(trained.log, paths[1], reference=training_reference(trained))
    return paths


@app.command()
@data_command
def train(
    data: DataOptions,
    hidden: list[str] = HIDDEN_OPT,
    optimizer: str = OPTIMIZER_OPT,
    epochs: int | None = EPOCHS_OPT,
    seed: int = SEED_OPT,
    plot: Path | None = PLOT_OPT,
    save: Path | None = SAVE_OPT,
    fmt: str = FORMAT_OPT,
) -> None:
    """Train the linear network (PyTorch) live, then compare it with the exact regression.

    The bar shows the loss and its relative gap to the exact optimum; the table compares
    coefficients and losses.
    """
    from ..nn import compare

    fmt = check_format(fmt)
    if save is not None:
        check_destination(save)  # before the training, not after it
    trained = train_from_file(data, parse_hidden(hidden), optimizer, epochs, seed)
    table = compare(trained.net, trained.X, trained.y, trained.weights)
    if fmt == "json":
        echo(
            dumps(
                {"training": log_dict(trained.log, trained.optimum), "comparison": table.to_dict()}
            )
        )
    else:
        note(f"olsnet: {trained.log}")
        echo(render(table, fmt))
    if plot is not None:
        for path in write_training_plots(trained, plot):
            note(f"olsnet: wrote {path}")
    if save is not None:
        from ..io.archive import save as save_model

        save_model(trained.net, save)
        note(f"olsnet: network written to {save}")
