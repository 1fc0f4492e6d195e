"""The options saying how data are read (CSV dialect, Excel sheet, SQL query), one group shared
by every command that reads data; their names are :func:`olsnet.read`'s, spelt as flags."""

from __future__ import annotations

import inspect
from typing import Any, Optional

import typer

__all__ = ["READ_PARAMETERS", "read_kwargs"]

PANEL = "Reading files"
_KW = inspect.Parameter.KEYWORD_ONLY


def _opt(default: Any, flag: str, help_text: str) -> Any:
    return typer.Option(default, flag, help=help_text, rich_help_panel=PANEL)


READ_PARAMETERS = (
    inspect.Parameter(
        "sep",
        _KW,
        default=_opt(
            None,
            "--sep",
            "CSV field separator, one character ('\\t' or 'tab' for a tab); default: tab for "
            ".tsv/.tab, else ',' unless the header holds only ';', tab or '|' (sniffed).",
        ),
        annotation=Optional[str],  # noqa: UP045
    ),
    inspect.Parameter(
        "decimal",
        _KW,
        default=_opt(None, "--decimal", "Decimal mark, '.' or ','; sniffed for ';' files."),
        annotation=Optional[str],  # noqa: UP045
    ),
    inspect.Parameter(
        "encoding",
        _KW,
        default=_opt(None, "--encoding", "Text encoding of CSV files (default utf-8)."),
        annotation=Optional[str],  # noqa: UP045
    ),
    inspect.Parameter(
        "na_values",
        _KW,
        default=_opt(None, "--na-values", "Extra text read as missing, e.g. '.' (repeat)."),
        annotation=Optional[list[str]],  # noqa: UP045
    ),
    inspect.Parameter(
        "quotechar",
        _KW,
        default=_opt('"', "--quotechar", "CSV quote character."),
        annotation=str,
    ),
    inspect.Parameter(
        "skip_rows",
        _KW,
        default=_opt(0, "--skip-rows", "Lines to skip before the CSV header."),
        annotation=int,
    ),
    inspect.Parameter(
        "comment",
        _KW,
        default=_opt(None, "--comment", "Comment character: the rest of a line is ignored."),
        annotation=Optional[str],  # noqa: UP045
    ),
    inspect.Parameter(
        "sheet",
        _KW,
        default=_opt(None, "--sheet", "Excel / OpenDocument sheet: name or 0-based position."),
        annotation=Optional[str],  # noqa: UP045
    ),
    inspect.Parameter(
        "sql",
        _KW,
        default=_opt(
            None,
            "--sql",
            "DuckDB query giving the data, e.g. \"SELECT y, x FROM 'data/*.parquet' WHERE "
            'year >= 2020" (DATA: a .duckdb database, or left out).',
        ),
        annotation=Optional[str],  # noqa: UP045
    ),
)

READ_NAMES = tuple(p.name for p in READ_PARAMETERS)


def read_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`olsnet.read` given on the command line (defaults left
    out, so sources that do not read CSV are not handed CSV options)."""
    out = {}
    for p in READ_PARAMETERS:
        value = values.get(p.name)
        if value is not None and value != p.default.default and value != []:
            out[p.name] = value
    return out


def with_read_options(func: Any) -> Any:
    """Give a command the reading options; ``func`` takes them as ``read_options`` (a dict of
    :func:`olsnet.read` keyword arguments)."""
    import functools

    own = [
        p.replace(kind=_KW)
        for p in inspect.signature(func, eval_str=True).parameters.values()
        if p.name != "read_options"
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        reading = read_kwargs({n: kwargs.pop(n) for n in READ_NAMES})
        return func(**kwargs, read_options=reading)

    del command.__wrapped__  # typer must read the signature below, not func's
    params = [*own, *READ_PARAMETERS]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command
