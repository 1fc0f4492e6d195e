"""``olsnet fit``: the exact regression of a file, streamed batch by batch, and its summary."""

from __future__ import annotations

from pathlib import Path

import typer

from .._types import COV_TYPES
from ._app import (
    DATA_HELP,
    FORMAT_OPT,
    FORMULA_OPT,
    MISSING_OPT,
    WEIGHTS_OPT,
    X_OPT,
    Y_OPT,
    app,
    check_format,
    echo,
    intercept_for,
    note,
    open_source,
    render,
)


def cov_option(value: str) -> str:
    """``--cov hc3`` -> "HC3" (case-insensitive), checked against the accepted list."""
    from .._types import check_option

    by_lower = {c.lower(): c for c in COV_TYPES}
    return check_option("--cov", by_lower.get(value.lower(), value), COV_TYPES)


SAVE_OPT = typer.Option(None, "--save", help="Write the fitted model (olsnet.save).")


@app.command()
def fit(
    data: str = typer.Argument(..., help=DATA_HELP),
    y: list[str] | None = Y_OPT,
    x: list[str] | None = X_OPT,
    formula: str | None = FORMULA_OPT,
    no_intercept: bool = typer.Option(False, "--no-intercept", help="Fit without intercept."),
    weights: str | None = WEIGHTS_OPT,
    cov: str = typer.Option("nonrobust", "--cov", help=f"Covariance: {', '.join(COV_TYPES)}."),
    missing: str = MISSING_OPT,
    fmt: str = FORMAT_OPT,
    save: Path | None = SAVE_OPT,
) -> None:
    """Fit the exact least-squares regression and print its summary.

    Files are streamed batch by batch (memory stays bounded); torch is never loaded.
    """
    from ..estimator import LinearRegression

    fmt = check_format(fmt)
    cov_type = cov_option(cov)
    source = open_source(data, y, x, formula, weights, missing)
    model = LinearRegression(fit_intercept=intercept_for(source, no_intercept),
                             cov_type=cov_type, missing=missing)
    model.fit(source)
    result = model.result_
    dropped = getattr(source, "n_dropped", 0) or 0
    echo(render(result.summary(), fmt) if fmt != "json" else render(result, fmt))
    if dropped:
        note(f"olsnet: {dropped} row(s) with missing values were dropped")
    if save is not None:
        from ..io.archive import save as save_model

        save_model(model, save)
        note(f"olsnet: model written to {save}")
