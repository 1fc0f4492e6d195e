"""``olsnet fit``: the exact regression of a file, streamed batch by batch, and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._fileutil import check_destination
from .._types import COV_TYPES, check_option
from ._app import (
    FORMAT_OPT,
    DataOptions,
    app,
    check_format,
    data_command,
    echo,
    flag,
    intercept_for,
    needs,
    note,
    render,
)
from ._deadline import time_budget

NO_INTERCEPT_OPT = flag("--no-intercept", "Fit without intercept.")
COV_OPT = typer.Option("nonrobust", "--cov", help=f"Covariance: {', '.join(COV_TYPES)}.")
SAVE_OPT = typer.Option(None, "--save", help="Write the fitted model (olsnet.save).")
TIMEOUT_OPT = typer.Option(
    None,
    "--timeout",
    help="Stop with an error after this many seconds (reading, fit, summary and --save); "
    "progress lines show the stage every tenth of it.",
)


def cov_option(value: str) -> str:
    """``--cov hc3`` -> "HC3" (case-insensitive), checked against the accepted list."""
    by_lower = {c.lower(): c for c in COV_TYPES}
    return check_option("--cov", by_lower.get(value.lower(), value), COV_TYPES)


def fit_model(
    data: DataOptions, no_intercept: bool, cov_type: str = "nonrobust"
) -> tuple[Any, Any]:
    """(LinearRegression fitted to the streamed file, the file source).

    Batches are folded on every core, at most 8 (``olsnet.scale``); a rich progress bar (rows,
    MB, rows/s) shows on an interactive stderr.
    """
    from rich.console import Console

    from ..estimator import LinearRegression

    source = data.source()
    model = LinearRegression(
        fit_intercept=intercept_for(source, no_intercept), cov_type=cov_type, missing=data.missing
    )
    from ..scale import RichProgress

    console = Console(stderr=True)
    if not console.is_terminal:  # no bar: every core (at most 8) folds the batches
        return model.fit(source), source
    with RichProgress(console, _disk_bytes(source)) as bar:  # every core folds here too
        return model.fit(source, on_batch=bar), source


def _disk_bytes(source: Any) -> int | None:
    """Total size on disk of a file source's files (None when unknown)."""
    import os

    try:
        return sum(os.path.getsize(p) for p in getattr(source, "paths", ()))
    except (OSError, TypeError):  # a SQL source's "path" is its query
        return None


@app.command()
@data_command
def fit(
    data: DataOptions,
    no_intercept: bool = NO_INTERCEPT_OPT,
    cov: str = COV_OPT,
    fmt: str = FORMAT_OPT,
    save: Path | None = SAVE_OPT,
    timeout: float | None = TIMEOUT_OPT,
) -> None:
    """Fit the exact least-squares regression and print its summary.

    Files are streamed batch by batch (memory stays bounded); torch is never loaded.
    """
    fmt = check_format(fmt)
    needs("fit", *data.modules())
    if save is not None:
        check_destination(save)  # a typo in the folder fails now, not after the fit
    with time_budget(timeout):
        _fit(data, no_intercept, cov, fmt, save)


def _fit(data: DataOptions, no_intercept: bool, cov: str, fmt: str, save: Path | None) -> None:
    model, source = fit_model(data, no_intercept, cov_option(cov))
    result = model.result_
    echo(render(result.summary(), fmt) if fmt != "json" else render(result, fmt))
    dropped = max(result.n_dropped, getattr(source, "n_dropped", 0) or 0)
    if dropped:
        note(f"olsnet: {dropped} row(s) with missing values were dropped")
    if save is not None:
        from ..io.archive import save as save_model

        save_model(model, save)
        note(f"olsnet: model written to {save}")
