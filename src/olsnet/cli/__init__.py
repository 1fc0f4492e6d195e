"""The ``olsnet`` command line (typer + rich), loaded only when the command runs.

``main()`` is the console script and ``python -m olsnet``. Every error becomes one line on
stderr and exit status 2 (``--debug`` anywhere on the line shows the traceback instead).
SIGTERM ends a command as SIGINT does (exit status 143), so a file being written is removed,
not left half-written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Called as the console script it exits the process with that status.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    from ._app import run, terminate_as_exit

    with terminate_as_exit():
        status = run(args, debug=debug)
    if argv is None:
        sys.exit(status)
    return status
