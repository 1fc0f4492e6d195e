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
    flag,
    in_memory,
    intercept_for,
    needs,
    note,
    refuse_overwriting,
    render,
)

HIDDEN_OPT = typer.Option([], "--hidden", help="Hidden width (repeat or '3,2' for layers).")
OPTIMIZER_OPT = typer.Option("lbfgs", "--optimizer", help=f"One of {', '.join(OPTIMIZERS)}.")
EPOCHS_OPT = typer.Option(None, "--epochs", help="Maximum epochs (optimizer's default if unset).")
SEED_OPT = typer.Option(0, "--seed", help="Seed of the initial weights and of the shuffling.")
LR_OPT = typer.Option(None, "--lr", help="Learning rate (default: the optimizer's own rule).")
MOMENTUM_OPT = typer.Option(0.0, "--momentum", help="Momentum of gd and sgd.")
BATCH_SIZE_OPT = typer.Option(
    None, "--batch-size", help="Rows per minibatch (sgd: default 32; adam: full batch if unset)."
)
WEIGHT_DECAY_OPT = typer.Option(0.0, "--weight-decay", help="L2 penalty on the weights.")
NO_STANDARDIZE_OPT = flag(
    "--no-standardize", "Train on the raw columns (gradient descent then crawls)."
)
DEVICE_OPT = typer.Option("cpu", "--device", help="torch device: cpu, cuda, cuda:1, mps, ...")
PLOT_OPT = typer.Option(
    None, "--plot", help="Write network.png and training.png (loss and coefficient paths) into DIR."
)
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
class TrainFlags:
    """The optimizer flags of ``olsnet train`` (passed on to ``olsnet.train``)."""

    lr: float | None = None
    momentum: float = 0.0
    batch_size: int | None = None
    weight_decay: float = 0.0
    standardize: bool = True
    device: str = "cpu"

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "momentum": self.momentum,
            "batch_size": self.batch_size,
            "weight_decay": self.weight_decay,
            "standardize": self.standardize,
        }
        if self.lr is not None:
            out["lr"] = self.lr
        return out


def torch_device(name: str) -> Any:
    """``--device NAME`` as a torch.device that exists on this machine."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise typer.BadParameter(
            f"--device {name!r} is not a torch device; use cpu, cuda, cuda:N or mps"
        ) from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available()
        and (device.index is None or device.index < torch.cuda.device_count()),
        "mps": torch.backends.mps.is_available(),
    }.get(device.type, False)
    if not available:
        raise typer.BadParameter(
            f"--device {name!r} is not available on this machine (torch {torch.__version__}); "
            "use --device cpu"
        )
    return device


@dataclass(frozen=True)
class Trained:
    net: Any
    log: Any
    X: np.ndarray  # (n, p)
    y: np.ndarray  # (n,) or (n, q)
    weights: np.ndarray | None  # (n,)
    optimum: float  # the objective J at the exact optimum (OLS, or reduced rank for bottlenecks)
    reference: Any  # the exact fit (LinearRegression, or ReducedRankRegression for bottlenecks)
    coef_paths: np.ndarray | None = None  # (epochs + 1, 1 + p) intercept first, one output only


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
    flags: TrainFlags | None = None,
    record_paths: bool = False,
) -> Trained:
    """Read the data, train ``LinearNetwork(hidden)`` with a live bar (loss, gap to J*).

    ``record_paths``: also collect the collapsed coefficients after each epoch, in the data's
    units (one output only), for the coefficient panels of the training figure.
    """
    from ..nn import LinearNetwork, train

    flags = flags or TrainFlags()
    optimizer = check_option("--optimizer", optimizer, OPTIMIZERS)
    device = torch_device(flags.device)
    source = data.source()
    fit_intercept = intercept_for(source, False)
    X, yy, w = in_memory(source)
    net = LinearNetwork.from_names(
        source.feature_names, source.target_names, hidden, bias=fit_intercept, seed=seed
    ).to(device)
    optimum, reference = exact_optimum(X, yy, w, fit_intercept, net.bottleneck)
    options: dict[str, Any] = {"optimizer": optimizer, "seed": seed, **flags.options()}
    if epochs is not None:
        options["max_epochs"] = epochs
    recorder = _PathRecorder(net, X, yy, w, flags) if record_paths and net.n_outputs == 1 else None
    with _LiveBar(optimizer, epochs, optimum, live) as bar:
        log = train(net, X, yy, w, callback=_both(recorder, bar), **options)
    paths = None if recorder is None else recorder.finish(net, log)
    return Trained(net, log, X, yy, w, optimum, reference, paths)


def _both(recorder: _PathRecorder | None, bar: _LiveBar) -> Any:
    if recorder is None:
        return bar.update

    def callback(epoch: int, log: Any) -> bool:
        recorder.record(epoch, log)
        return bar.update(epoch, log)

    return callback


class _PathRecorder:
    """The collapsed coefficients (intercept first) after every epoch, in the data's units.

    During training the layers hold standardised parameters (``olsnet.train``: x ↦ (x − m)/d,
    y ↦ (y − m_y)/c); each collapsed map is taken back by ``W_u = c W_s / d``,
    ``b_u = c (b_s − W_s m / d) + m_y`` with the scaling training itself computed. The last
    row must match the trained network (mapped back by ``train``); otherwise the paths are
    dropped with a note, never drawn wrong.
    """

    def __init__(
        self, net: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, flags: TrainFlags
    ) -> None:
        import torch

        from ..nn.network import linear_layers
        from ..nn.training import affine_of
        from ..nn.training.scaling import scaling_of

        def multiply() -> tuple[Any, Any]:
            with torch.no_grad():
                W, b = affine_of(linear_layers(net))
            return W.detach(), b.detach()

        self._multiply = multiply
        Y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        ww = np.full(len(X), 1.0 / len(X)) if w is None else w / w.sum()
        self.bias = all(layer.bias is not None for layer in linear_layers(net))
        self.s = scaling_of(
            X, Y, ww, center=flags.standardize and self.bias,
            scale=flags.standardize and flags.weight_decay == 0.0,
        )  # fmt: skip
        self.rows: list[np.ndarray] = []
        self.record(0, None)  # the start: training reads the initial weights as standardised

    def record(self, epoch: int, log: Any) -> None:
        W, b = self._multiply()
        Ws = W.double().cpu().numpy()[0]  # (p,) standardised units
        bs = float(b.double().cpu().numpy()[0])
        m, d, my, c = self.s.x_mean, self.s.x_scale, float(self.s.y_mean[0]), self.s.y_scale
        self.rows.append(np.r_[c * (bs - Ws @ (m / d)) + my, c * Ws / d])

    def finish(self, net: Any, log: Any) -> np.ndarray | None:
        W, b = self._multiply()
        final = np.r_[b.double().cpu().numpy(), W.double().cpu().numpy()[0]]
        rows = self.rows[: len(np.asarray(log.loss))]
        if len(rows) < 2 or not np.allclose(rows[-1], final, rtol=1e-6, atol=1e-12):
            note("olsnet: coefficient paths left out (they do not end at the trained network)")
            return None
        return np.array(rows) if self.bias else np.array(rows)[:, 1:]  # no intercept: no b


class _LiveBar:
    """A rich progress bar on stderr: epoch, loss and its relative gap to the exact optimum."""

    def __init__(self, optimizer: str, epochs: int | None, optimum: float, live: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.optimum = optimum
        self.live = live
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
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def update(self, epoch: int, log: Any) -> bool:
        if not self.live:
            return False
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
    plots.plot_training(
        trained.log,
        paths[1],
        reference=training_reference(trained),
        coef_paths=trained.coef_paths,
        coef_names=coef_names(trained),
    )
    return paths


def coef_names(trained: Trained) -> tuple[str, ...] | None:
    """Names of the coefficient paths (intercept first); None for a bottleneck (no OLS)."""
    if trained.net.bottleneck:
        return None
    names = tuple(str(n) for n in trained.net.feature_names)
    return ("Intercept", *names) if trained.reference.fit_intercept else names


@app.command()
@data_command
def train(
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
    plot: Path | None = PLOT_OPT,
    save: Path | None = SAVE_OPT,
    fmt: str = FORMAT_OPT,
) -> None:
    """Train the linear network (PyTorch) live, then compare it with the exact regression.

    The bar shows the loss and its relative gap to the exact optimum; the table compares
    coefficients and losses. Try --optimizer gd --no-standardize to watch gradient descent
    crawl on raw columns.
    """
    fmt = check_format(fmt)
    needs("train", *data.modules(), "torch", *(["matplotlib"] if plot is not None else []))
    from ..nn import compare

    if save is not None:
        check_destination(save)  # before the training, not after it
        refuse_overwriting(save, "--save", data.data, data.read_options)
    flags = TrainFlags(lr, momentum, batch_size, weight_decay, not no_standardize, device)
    trained = train_from_file(
        data,
        parse_hidden(hidden),
        optimizer,
        epochs,
        seed,
        flags=flags,
        record_paths=plot is not None,
    )
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

        save_model(trained.net.cpu(), save)
        note(f"olsnet: network written to {save}")
