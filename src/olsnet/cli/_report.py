"""``olsnet report``: one self-contained HTML file with the fit, its diagnostics and, for a
network, the diagram, the training figure and the comparison with the exact regression."""

from __future__ import annotations

import html
from pathlib import Path

import typer

from .._fileutil import atomic_write, check_destination
from ._app import DataOptions, app, data_command, flag, needs, note, refuse_overwriting
from ._fit import COV_OPT, NO_INTERCEPT_OPT, cov_option, fit_model
from ._html import figure, page
from ._train import EPOCHS_OPT, HIDDEN_OPT, OPTIMIZER_OPT, SEED_OPT, parse_hidden

REPORT_OUT = typer.Option(..., "--out", "-o", help="The HTML file to write (self-contained).")
NETWORK_OPT = flag("--network", "Also train the linear network (a single neuron unless --hidden).")
TITLE_OPT = typer.Option(None, "--title", help="Heading of the page (default: the data's name).")


@app.command()
@data_command
def report(
    data: DataOptions,
    out: Path = REPORT_OUT,
    no_intercept: bool = NO_INTERCEPT_OPT,
    cov: str = COV_OPT,
    network: bool = NETWORK_OPT,
    hidden: list[str] = HIDDEN_OPT,
    optimizer: str = OPTIMIZER_OPT,
    epochs: int | None = EPOCHS_OPT,
    seed: int = SEED_OPT,
    title: str | None = TITLE_OPT,
) -> None:
    """Write an HTML report: summary, R's four diagnostic plots and, with --network or
    --hidden, the network diagram, its training and its comparison with the exact fit.

    Figures are embedded in the file (base64 PNG); it needs nothing beside it to open.
    """
    from .. import plots

    widths = parse_hidden(hidden)
    needs("report", *data.modules(), "matplotlib", *(["torch"] if network or widths else []))
    check_destination(out)  # before the fit
    refuse_overwriting(out, "--out", data.data, data.read_options)
    model, _ = fit_model(data, no_intercept, cov_option(cov))
    result = model.result_
    e = html.escape
    sections = [
        "<h2>Regression</h2>",
        result.summary().as_html(),
        "<h2>Diagnostics</h2>",
        figure(
            plots.plot_diagnostics(result),
            "Residuals vs fitted, normal Q-Q, scale-location, residuals vs leverage (R's plot.lm)",
        ),
    ]
    if network or widths:
        from ..nn import compare
        from ._train import coef_names, train_from_file, training_reference

        trained = train_from_file(
            data, widths, optimizer, epochs, seed, live=False, record_paths=True
        )
        sections += [
            "<h2>The same model as a network</h2>",
            f'<p class="olsnet-meta">{e(str(trained.log))}</p>',
            compare(trained.net, trained.X, trained.y, trained.weights).as_html(),
            figure(plots.plot_network(trained.net), "The network and its collapsed regression"),
            figure(
                plots.plot_training(
                    trained.log,
                    reference=training_reference(trained),
                    coef_paths=trained.coef_paths,
                    coef_names=coef_names(trained),
                ),
                "Loss against epoch, its gap to the exact optimum, and the coefficient paths",
            ),
        ]
    where = data.data if data.data is not None else "SQL query"
    heading = title or f"olsnet report: {Path(where).name}"
    formula = data.formula or f"{', '.join(data.y or [])} on {', '.join(data.x or []) or 'all'}"
    meta = (
        f'<p class="olsnet-meta">data {e(where)}; model {e(formula)}; '
        f"{result.nobs} observations; covariance {e(result.cov_type)}</p>"
    )
    text = page(heading, meta + "\n".join(sections), heading=True)
    with atomic_write(out) as fh:
        fh.write(text.encode("utf-8"))
    note(f"olsnet: report written to {out}")
