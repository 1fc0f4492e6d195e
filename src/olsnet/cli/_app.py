"""The typer application, error handling and the helpers every command shares."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import typer

from .._deps import as_missing, require_all
from .._types import OUTPUT_FORMATS, check_option
from ..errors import OlsnetError
from ._read_options import READ_NAMES, READ_PARAMETERS, read_kwargs

app = typer.Typer(
    name="olsnet",
    help="Exact linear regression, and the same model as a PyTorch linear network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FORMAT_HELP = f"Output format: {', '.join(OUTPUT_FORMATS)}."


def flag(name: str, help: str) -> Any:
    """An on/off option shown in help as a plain flag (typer would print ``<bool>``)."""
    return typer.Option(False, name, help=help, metavar="")


@app.callback()
def _root(
    debug: bool = flag("--debug", "Show the full traceback on errors."),
) -> None:
    """Exact linear regression, and the same model as a PyTorch linear network."""


def run(args: Sequence[str], *, debug: bool = False) -> int:
    """Run the app; map every error to one line on stderr and exit status 2."""
    from . import _fit, _fuse, _models, _plot, _report, _train  # noqa: F401  (registers the commands)

    if not debug:
        warnings.showwarning = _show_warning
    try:
        result = app(args=list(args), prog_name="olsnet", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        print("olsnet: aborted", file=sys.stderr)
        return 1
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, ...
        if debug:
            raise
        print(f"olsnet: error: {_one_line(exc.format_message())}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional dependency: name the extra to install
        if debug:
            raise
        missing = as_missing(exc, f"olsnet {args[0]}" if args else None)
        print(f"olsnet: error: {_one_line(str(missing or exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("olsnet: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("olsnet: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception as exc:
        if debug:
            traceback.print_exc()
            return 2
        print(f"olsnet: error: {_one_line(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return 2
    return int(result) if isinstance(result, int) else 0


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread so ``finally`` blocks and ``atomic_write`` clean up."""


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` (exit status 128 + 15).

    The default action of SIGTERM kills the process on the spot, leaving temporary files
    behind; raised as an exception it unwinds like Ctrl-C. The previous handler is restored
    afterwards (``main`` may run inside a test or another program). Only the main thread can
    install a handler; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# C0 controls but tab and newline, DEL, C1 controls (CSI, OSC, ...), and the bidirectional
# overrides and isolates that reorder what a terminal shows (Unicode TR #9; "Trojan Source")
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters shown as escapes (``ESC`` -> ``\\x1b``).

    Every line the CLI prints passes through here (``echo``, ``note``, errors, warnings), so a
    column name from a CSV header or a model file cannot clear the screen, retitle the window
    or hide text. Tab and newline stay; everything else below U+0020, DEL, the C1 range and
    the bidi controls become ``\\xNN`` / ``\\uNNNN``.
    """
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _show_warning(
    message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
) -> None:
    """Warnings as one line on stderr (the source line means nothing to a CLI user)."""
    print(f"olsnet: warning: {_one_line(printable(str(message)))}", file=sys.stderr)


def _one_line(text: str) -> str:
    return " ".join(printable(text).split())


# -- output -----------------------------------------------------------------------------------


def check_format(fmt: str) -> str:
    return check_option("--format", fmt, OUTPUT_FORMATS)


def _jsonable(obj: Any) -> Any:
    """numpy scalars / arrays and tuples as plain JSON values (NaN and inf as null)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)  # paths and other plain values


def dumps(obj: Any) -> str:
    """Strict JSON (no NaN literals): non-finite numbers become null."""
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False)


def render(obj: Any, fmt: str) -> str:
    """A table / summary object in the chosen format (``as_text``, ``as_markdown``, ...);
    ``html`` is a standalone page (charset, style sheet) around ``as_html``."""
    if fmt == "json":
        return dumps(obj.to_dict())
    if fmt == "html":
        from ._html import page

        return page(getattr(obj, "title", "") or "olsnet", obj.as_html())
    method = getattr(obj, f"as_{fmt}", None)
    return method() if method is not None else str(obj)


def echo(text: str) -> None:
    """Print a command's output on stdout (control characters escaped, see ``printable``)."""
    text = printable(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A remark for the user, on stderr (so stdout stays machine-readable)."""
    print(printable(text), file=sys.stderr)


def needs(command: str, *modules: str) -> None:
    """Fail at once, naming every extra to install, when ``olsnet COMMAND`` lacks a module."""
    require_all(modules, f"olsnet {command}")


# -- data options -----------------------------------------------------------------------------

DATA_HELP = (
    "CSV or Parquet file, directory or glob (quote it: 'data/*.parquet'); with --sql, a "
    "DuckDB database or nothing."
)
Y_OPT = typer.Option(None, "-y", "--y", help="Target column (repeat for several targets).")
X_OPT = typer.Option(None, "-x", "--x", help="Feature column (repeat); default: all others.")
FORMULA_OPT = typer.Option(None, "-f", "--formula", help="Formula, e.g. 'y ~ x1 + C(group)'.")
WEIGHTS_OPT = typer.Option(None, "-w", "--weights", help="Column of sample weights.")
MISSING_OPT = typer.Option("raise", "--missing", help="Missing values: raise or drop.")
ALLOW_PYTHON_OPT = typer.Option(
    False,
    "--allow-python",
    help="Let the formula call any Python (a formula is code); by default only the documented "
    "transforms: NumPy elementwise math, center/scale/standardize/poly/bs, C/factor, I.",
)
FORMAT_OPT = typer.Option("text", "--format", help=FORMAT_HELP)


def refuse_overwriting(
    out: Path, option: str, data: str | None, read_options: dict[str, Any] | None, *files: Path
) -> None:
    """Stop before anything is read when ``out`` (given as ``option``) names a data file or
    one of ``files`` (a model): the output would replace the file it is computed from."""
    from ..data.files import expand_paths

    if not out.exists():
        return
    inputs: list[Any] = list(files)
    if data is not None:
        try:
            inputs += [data] if (read_options or {}).get("sql") else expand_paths(data)
        except OlsnetError:
            pass  # a data argument that names no file is reported by the reader
    for given in inputs:
        if os.path.exists(given) and os.path.samefile(given, out):
            raise typer.BadParameter(
                f"{option} {str(out)!r} is the input file {str(given)!r}; writing it would "
                "replace the data it is computed from. Name another file"
            )


@dataclass(frozen=True)
class DataOptions:
    """The options naming the data, shared by every command that reads a file."""

    data: str | None
    y: list[str] | None
    x: list[str] | None
    formula: str | None
    weights: str | None
    missing: str
    allow_python: bool = False
    read_options: dict[str, Any] = field(default_factory=dict)  # --sep, --encoding, ...

    def modules(self) -> list[str]:
        """The optional modules reading this data needs (checked before anything runs)."""
        sql = (
            ["duckdb"]
            if getattr(self, "read_options", None) and self.read_options.get("sql")
            else []
        )
        return ["pyarrow", *(["formulaic"] if self.formula else []), *sql]

    def source(self, on_batch: Any = None) -> Any:
        """``olsnet.read`` with these options (a streaming file source); what was sniffed
        (a separator, a decimal comma) is said on stderr. ``on_batch`` is told the batches of
        a formula's level pass (a progress bar)."""
        source = self._read(on_batch)
        for text in getattr(source, "notes", ()):
            note(f"olsnet: {text}")
        return source

    def _read(self, on_batch: Any = None) -> Any:
        from ..data.files import read as read_files

        def read(data: str | None, **kwargs: Any) -> Any:
            if data is None and "sql" not in self.read_options:
                raise typer.BadParameter(
                    "name the data: a file, directory or glob, or a query with --sql"
                )
            if kwargs.get("formula") is not None and on_batch is not None:
                kwargs["on_batch"] = on_batch
            return read_files(data, **kwargs, **self.read_options)

        if self.formula is not None:
            if self.y or self.x:
                raise typer.BadParameter(
                    "use either -f/--formula or -y/-x, not both "
                    "(the formula names the target before '~')"
                )
            return read(
                self.data,
                formula=self.formula,
                weights=self.weights,
                missing=self.missing,
                allow_python=self.allow_python,
            )
        if not self.y:
            raise typer.BadParameter("name the target column with -y COLUMN (or give -f FORMULA)")
        y = self.y[0] if len(self.y) == 1 else list(self.y)
        return read(
            self.data,
            y=y,
            x=list(self.x) if self.x else None,
            weights=self.weights,
            missing=self.missing,
        )


_KW = inspect.Parameter.KEYWORD_ONLY
_DATA_PARAMETERS = (
    inspect.Parameter(
        "data",
        _KW,
        default=typer.Argument(None, help=DATA_HELP, show_default=False),
        annotation=Optional[str],  # noqa: UP045
    ),
    inspect.Parameter("y", _KW, default=Y_OPT, annotation=Optional[list[str]]),  # noqa: UP045
    inspect.Parameter("x", _KW, default=X_OPT, annotation=Optional[list[str]]),  # noqa: UP045
    inspect.Parameter("formula", _KW, default=FORMULA_OPT, annotation=Optional[str]),  # noqa: UP045
    inspect.Parameter("weights", _KW, default=WEIGHTS_OPT, annotation=Optional[str]),  # noqa: UP045
    inspect.Parameter("missing", _KW, default=MISSING_OPT, annotation=str),
    inspect.Parameter("allow_python", _KW, default=ALLOW_PYTHON_OPT, annotation=bool),
)


def data_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the shared data parameters (DATA, -y, -x, -f, -w, --missing,
    --allow-python).

    ``func(data: DataOptions, **own_options)``; typer sees the data parameters first, then the
    command's own ones.
    """
    own = [
        p.replace(kind=_KW)
        for p in inspect.signature(func, eval_str=True).parameters.values()
        if p.name != "data"
    ]
    names = [p.name for p in _DATA_PARAMETERS]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        reading = read_kwargs({n: kwargs.pop(n) for n in READ_NAMES})
        options = DataOptions(**{n: kwargs.pop(n) for n in names}, read_options=reading)
        return func(options, **kwargs)

    del command.__wrapped__  # typer must read the signature below, not func's
    params = [*_DATA_PARAMETERS, *READ_PARAMETERS, *own]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def in_memory(source: Any) -> tuple[Any, Any, Any]:
    """(X (n, p), y (n,) or (n, q), weights or None) of a source, read into memory."""
    design = source.to_design()
    y = design.Y[:, 0] if design.y_ndim == 1 else design.Y
    return design.X, y, design.weights


def intercept_for(source: Any, no_intercept: bool) -> bool:
    """The intercept a fit should use: the formula decides (``- 1``), else ``--no-intercept``."""
    implied = getattr(source, "fit_intercept", None)
    if implied is not None:
        if no_intercept and implied:
            raise typer.BadParameter(
                "--no-intercept cannot change a formula; write it with "
                "'- 1' instead, e.g. 'y ~ x1 + x2 - 1'"
            )
        return bool(implied)
    return not no_intercept
