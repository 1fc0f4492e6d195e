"""``olsnet fit``: the exact regression of a file, streamed batch by batch, and its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._fileutil import check_destination
from .._types import COV_TYPES, RESULT_COV_TYPES, check_option
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
    refuse_overwriting,
    render,
)
from ._deadline import time_budget

NO_INTERCEPT_OPT = flag("--no-intercept", "Fit without intercept.")
COV_OPT = typer.Option(
    "nonrobust",
    "--cov",
    help=f"Covariance: {', '.join(RESULT_COV_TYPES)} (cluster: --groups; HAC: --maxlags).",
)
GROUPS_OPT = typer.Option(
    None,
    "--groups",
    help="Cluster-robust covariance (CR1, G - 1 df) on this column of the data (any column, "
    "read in a second pass; 'firm,year': two-way). Implies --cov cluster.",
)
MAXLAGS_OPT = typer.Option(
    None, "--maxlags", help="HAC (Newey-West, Bartlett) lag truncation; implies --cov HAC."
)
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

    Batches are folded on every core, at most 8 (``olsnet.scale``); on an interactive stderr a
    rich progress bar shows each pass (a formula's level pass too): MB read of the size on disk,
    percent, rows, rows/s and the time left.
    """
    from rich.console import Console

    from ..scale import RichProgress

    console = Console(stderr=True)
    if not console.is_terminal:  # no bar: every core (at most 8) folds the batches
        source = data.source()
        return _model(source, data, no_intercept, cov_type).fit(source), source
    with RichProgress(console, _disk_bytes(data)) as bar:  # every core folds here too
        bar.new_pass("formula levels")  # shown only if the source reads a first pass
        source = data.source(on_batch=bar)
        bar.end_pass()
        return _model(source, data, no_intercept, cov_type).fit(source, on_batch=bar), source


def _model(source: Any, data: DataOptions, no_intercept: bool, cov_type: str) -> Any:
    from ..estimator import LinearRegression

    return LinearRegression(
        fit_intercept=intercept_for(source, no_intercept), cov_type=cov_type, missing=data.missing
    )


def _disk_bytes(data: DataOptions) -> int | None:
    """Total size on disk of the files DATA names (None for a query, or when unknown)."""
    import os

    from ..data.files import expand_paths

    if data.data is None or "sql" in data.read_options:
        return None
    try:
        return sum(os.path.getsize(p) for p in expand_paths(data.data))
    except (OSError, ValueError):
        return None


@app.command()
@data_command
def fit(
    data: DataOptions,
    no_intercept: bool = NO_INTERCEPT_OPT,
    cov: str = COV_OPT,
    groups: str | None = GROUPS_OPT,
    maxlags: int | None = MAXLAGS_OPT,
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
        refuse_overwriting(save, "--save", data.data, data.read_options)
    robust = _second_pass_cov(cov, groups, maxlags)
    with time_budget(timeout):
        _fit(data, no_intercept, cov, fmt, save, robust)


def _second_pass_cov(
    cov: str, groups: str | None, maxlags: int | None
) -> tuple[str, dict[str, Any]] | None:
    """(``with_cov`` type and options) for --cov cluster / HAC, else None (checked first)."""
    by_lower = {c.lower(): c for c in RESULT_COV_TYPES}
    kind = check_option("--cov", by_lower.get(cov.lower(), cov), RESULT_COV_TYPES)
    if groups is not None and maxlags is not None:
        raise typer.BadParameter("pass --groups (cluster) or --maxlags (HAC), not both")
    if groups is not None and kind in ("nonrobust", "cluster"):
        names = [g.strip() for g in groups.split(",")]
        if not all(names):
            raise typer.BadParameter(
                f"--groups {groups!r} has an empty column name; give one column or two "
                "separated by a comma (firm or firm,year)"
            )
        return "cluster", {"groups": names[0] if len(names) == 1 else names}
    if maxlags is not None and kind in ("nonrobust", "HAC"):
        return "HAC", {"maxlags": maxlags}
    if kind == "cluster" or groups is not None:
        raise typer.BadParameter("--cov cluster needs --groups COLUMN (and no other --cov)")
    if kind == "HAC" or maxlags is not None:
        raise typer.BadParameter("--cov HAC needs --maxlags N (and no other --cov)")
    return None


def _fit(
    data: DataOptions,
    no_intercept: bool,
    cov: str,
    fmt: str,
    save: Path | None,
    robust: tuple[str, dict[str, Any]] | None = None,
) -> None:
    model, source = fit_model(data, no_intercept, "nonrobust" if robust else cov_option(cov))
    if robust is not None:  # the second pass reads the groups' column(s) alongside the rows
        model.result_ = model.result_.with_cov(robust[0], **robust[1])
    result = model.result_
    echo(render(result.summary(), fmt) if fmt != "json" else render(result, fmt))
    dropped = max(result.n_dropped, getattr(source, "n_dropped", 0) or 0)
    if dropped:
        note(f"olsnet: {dropped} row(s) with missing values were dropped")
    if save is not None:
        from ..io.archive import save as save_model

        save_model(model, save)
        note(f"olsnet: model written to {save}")
