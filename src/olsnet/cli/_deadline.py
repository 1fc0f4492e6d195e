"""``--timeout SECONDS``: a command finishes, or fails clearly, within the time the user set.

The CLI owns its process, so it may use process-wide means the library never does:

* at the deadline, ``SIGALRM`` raises :class:`~olsnet.errors.TimeLimitError` in the main
  thread, naming the stage the command was in (read from the Python stack: reading the data,
  solving, statistics, writing). It unwinds like any error: temporary files are removed and
  the message is one line on stderr, exit status 2;
* the handler runs only between Python bytecodes; if one C call (a LAPACK routine) holds the
  main thread, or worker threads still busy would hold the exit, a watchdog thread ends the
  process at ``deadline + HARD_STOP_GRACE_S`` (``os._exit(2)``, after printing the message if
  it is not out yet);
* every ``progress_every`` seconds the watchdog prints where the command is
  (``olsnet: 12 s of 60 s: solving (olsnet.solve._solution.decide_rank)``), so a slow step
  shows progress even where it reports no batches.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

from ..errors import OptionError, TimeLimitError

__all__ = ["HARD_STOP_GRACE_S", "time_budget"]

HARD_STOP_GRACE_S = 2.0
"""Seconds past the deadline before a C call that will not return is cut short."""

# the first matching package on the stack, innermost first, names the stage
_STAGES = (
    ("olsnet.solve", "solving"),
    ("olsnet.inference", "computing statistics"),
    ("olsnet.io", "writing or reading a model"),
    ("olsnet.data", "reading the data"),
    ("olsnet.scale", "reading and folding the data"),
    ("olsnet.estimator", "fitting"),
    ("pyarrow", "reading the data"),
    ("rich", "showing the result"),
)


def _stage(frame: FrameType | None) -> str:
    """'solving (olsnet.solve._solution.decide_rank)' for the innermost known frame."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        for prefix, stage in _STAGES:
            if module == prefix or module.startswith(prefix + "."):
                return f"{stage} ({module}.{frame.f_code.co_name})"
        frame = frame.f_back
    return "running"


def _main_frame() -> FrameType | None:
    return sys._current_frames().get(threading.main_thread().ident or -1)


def _message(option: str, seconds: float, stage: str) -> str:
    return (
        f"stopped after {option} {seconds:g} s while {stage}. Give it more time ({option} SECONDS), or make the problem smaller (fewer columns: p = "
        "number of features drives the time of a fit)"
    )


def check_seconds(option: str, seconds: float | None) -> float | None:
    """``None`` or a positive, finite number of seconds."""
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise OptionError(f"{option} must be a positive number of seconds; got {seconds!r}")
    return seconds


@contextlib.contextmanager
def time_budget(
    seconds: float | None,
    *,
    option: str = "--timeout",
    progress_every: float | None = None,
    exit_on_hang: bool = True,
) -> Iterator[None]:
    """Run the body within ``seconds`` of wall-clock time (``None``: no limit).

    Parameters
    ----------
    seconds : float or None
        The budget, from the body's start.
    option : str, default "--timeout"
        The option named in messages.
    progress_every : float or None
        Seconds between progress lines on stderr (default: a tenth of the budget, at least 1 s).
    exit_on_hang : bool, default True
        End the process (``os._exit(2)``) when the body is still running, or the process has
        not ended after the error, ``HARD_STOP_GRACE_S`` past the deadline: right for a
        command, never for code that goes on after the error (tests).

    Raises
    ------
    TimeLimitError
        The body ran past the budget (raised in the main thread by SIGALRM). Only from the
        main thread; elsewhere the body runs without a limit.
    """
    seconds = check_seconds(option, seconds)
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    every = max(1.0, seconds / 10) if progress_every is None else progress_every
    start = time.monotonic()
    done = threading.Event()
    reported = threading.Event()  # the TimeLimitError left the body: its message is out

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitError(_message(option, seconds, _stage(frame)))

    def watchdog() -> None:
        next_note = start + every
        hard_stop = start + seconds + HARD_STOP_GRACE_S
        while not done.wait(max(0.0, min(next_note, hard_stop) - time.monotonic())):
            now = time.monotonic()
            if now >= hard_stop and not exit_on_hang:
                return
            if now >= hard_stop:  # a C call holds the main thread, or threads keep it alive
                if not reported.is_set():
                    text = _message(option, seconds, _stage(_main_frame()))
                    sys.stderr.write(f"olsnet: error: {text}\n")
                sys.stderr.flush()
                sys.stdout.flush()
                os._exit(2)
            if now >= next_note and now < start + seconds:
                sys.stderr.write(
                    f"olsnet: {now - start:.0f} s of {seconds:g} s: {_stage(_main_frame())}\n"
                )
                sys.stderr.flush()
                next_note += every

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    thread = threading.Thread(target=watchdog, name="olsnet-time-budget", daemon=True)
    thread.start()
    try:
        yield
    except TimeLimitError:
        reported.set()
        if not exit_on_hang:
            done.set()
            thread.join()
        # else the watchdog stays: worker threads still busy would hold the exit; it ends
        # the process at the hard stop if nothing else does
        raise
    else:
        done.set()
        thread.join()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
