"""The hostile-input harness: run a snippet in a fresh, capped Python and watch what it does.

``run_capped(code, *, mem_mb=500, timeout_s=5, cwd=None)`` runs ``code`` with
``sys.executable -c`` in its own process group and returns a :class:`CappedRun`. The child
inherits the environment (``PYTHONPATH`` included, so a worktree's ``src`` wins), with
``TMPDIR`` pointed into the test's ``tmp_path``.

Time: "ends within ``timeout_s``" is checked on the child's CPU time (user + system, from
``os.wait4``); the process group is killed at ``timeout_s * WALL_SLACK`` of wall clock (default
3, env ``OLSNET_HOSTILE_WALL_SLACK``), so a hang still ends while a loaded machine does not
make a quick case fail.

Two memory numbers, on purpose
------------------------------
* **RLIMIT_AS** (``resource.setrlimit`` in ``preexec_fn``) caps the *address space*: every
  mapping counts, touched or not. It makes a runaway allocation fail fast (``MemoryError``, or
  an abort inside a C library) instead of waking the OOM killer. Libraries reserve far more
  address space than they use: measured on this project's venv (2026-11-29), ``import numpy``
  maps 139 MB, ``import pyarrow.csv`` plus an OpenBLAS matmul about 500 MB (OpenBLAS aborts
  at a 500 MB cap), ``import torch`` 640 MB while its resident set is 280 MB. So the cap is
  ``address_space_mb``, by default ``mem_mb + AS_HEADROOM_MB``.
* **Peak RSS** (``VmHWM``, the high-water mark of the child's own memory map) counts the pages
  the process really touched. That is the number the issue's "peak memory under 500 MB" means,
  and :meth:`CappedRun.assert_bounded` checks it against ``mem_mb``. The child reports it at
  exit and the parent reads it from ``/proc/<pid>/status`` while waiting (so a child killed at
  the timeout has one too). Not ``ru_maxrss``: Linux carries ``maxrss`` across ``exec``, so a
  child's ``ru_maxrss`` starts at the RSS of the pytest process that forked it (195 MB once a
  test module has imported torch).

Watching writes and code
------------------------
The child installs an audit hook (PEP 578) before running ``code``. It logs, to a file
descriptor the parent reads afterwards (so a killed child still leaves its log), every open
for writing, ``mkdir``/``rename``/``symlink``/``link``/``remove``, process launch
(``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.posix_spawn``, ``os.fork``) and
``pickle.find_class``. C code that writes with ``fopen`` bypasses audit hooks, so
:func:`assert_no_files_outside` also compares directory listings before and after.
:class:`Marker` is the "no code ran" check: a payload that, if executed, creates a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path

WALL_SLACK = float(os.environ.get("OLSNET_HOSTILE_WALL_SLACK", "3"))
"""The wall-clock kill comes at ``timeout_s * WALL_SLACK``; the ``timeout_s`` bound itself is
checked on the child's CPU time, which a loaded machine does not stretch (the project's 2 cores
are shared by several test runs at once)."""

AS_HEADROOM_MB = 1024
"""Address space allowed above ``mem_mb`` by default (torch maps 640 MB at import)."""

_AUDIT_FD_ENV = "OLSNET_HOSTILE_AUDIT_FD"

# Runs in the child before the test's code: the audit hook, then the code itself.
_PRELUDE = r"""
import os as _os, sys as _sys
def _install_audit():
    import json
    fd = int(_os.environ.pop(%(env)r))
    write_flags = _os.O_WRONLY | _os.O_RDWR | _os.O_CREAT | _os.O_TRUNC | _os.O_APPEND
    launch = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
              "os.fork", "os.forkpty", "pty.spawn", "pickle.find_class")
    paths = {"os.mkdir": 1, "os.rename": 2, "os.symlink": 2, "os.link": 2, "os.remove": 1,
             "os.rmdir": 1, "os.truncate": 1, "shutil.copyfile": 2, "shutil.move": 2}
    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes)):
                return
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if not writes:
                return
            rec = [event, _os.path.abspath(_os.fsdecode(path))]
        elif event in paths:
            rec = [event] + [_os.path.abspath(_os.fsdecode(a)) if isinstance(a, (str, bytes)) else repr(a)
                             for a in args[: paths[event]]]
        elif event in launch:
            rec = [event] + [repr(a)[:200] for a in args[:2]]
        else:
            return
        try:
            _os.write(fd, (json.dumps(rec) + "\n").encode())
        except OSError:
            pass
    _sys.addaudithook(hook)

    def report_peak():  # VmHWM of this process's own memory map, in kB
        try:
            with open("/proc/self/status", "rb") as f:
                kb = int(f.read().split(b"VmHWM:")[1].split()[0])
            _os.write(fd, (json.dumps(["peak_kb", str(kb)]) + "\n").encode())
        except (OSError, IndexError, ValueError):
            pass

    import atexit
    atexit.register(report_peak)
_install_audit()
del _install_audit
"""


@dataclasses.dataclass(frozen=True)
class CappedRun:
    """What a capped child did.

    ``returncode`` is negative for a signal (``-9`` after a timeout); ``peak_mb`` is the
    child's peak resident set in MiB; ``events`` are the audit records (``[event, path, ...]``).
    """

    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    timed_out: bool
    wall_s: float = 0.0
    cpu_s: float = 0.0
    timeout_s: float = 5.0
    mem_mb: float = 500.0
    events: tuple[tuple[str, ...], ...] = ()

    def describe(self) -> str:
        tail = "\n".join(self.stderr.strip().splitlines()[-15:])
        return (
            f"returncode={self.returncode} timed_out={self.timed_out} "
            f"wall={self.wall_s:.2f}s cpu={self.cpu_s:.2f}s peak={self.peak_mb:.0f} MiB\n"
            f"--- stdout ---\n{self.stdout[-2000:]}\n--- stderr (tail) ---\n{tail}"
        )

    def assert_bounded(self) -> None:
        """It ended by itself, within ``timeout_s`` of CPU time (and ``WALL_SLACK`` times that
        of wall clock), under ``mem_mb`` of peak RSS."""
        assert not self.timed_out, f"did not finish in time\n{self.describe()}"
        assert self.cpu_s <= self.timeout_s, (
            f"used over {self.timeout_s} s of CPU\n{self.describe()}"
        )
        assert self.peak_mb <= self.mem_mb, (
            f"peak RSS {self.peak_mb:.0f} MiB over the {self.mem_mb:.0f} MiB budget\n"
            f"{self.describe()}"
        )

    @property
    def error_qualname(self) -> str | None:
        """``module.Class`` of the uncaught exception the child died of, if any."""
        for line in reversed(self.stderr.rstrip().splitlines()):
            m = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?:: |$)", line)
            if m:
                return m.group(1)
        return None

    @property
    def error(self) -> tuple[str, str] | None:
        """``(class name, message)`` of the uncaught exception the child died of, if any."""
        lines = self.stderr.rstrip().splitlines()
        for line in reversed(lines):
            m = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?:: ?(.*))?$", line)
            if m:
                return m.group(1).rsplit(".", 1)[-1], m.group(2) or ""
        return None

    def assert_olsnet_error(self, *fragments: str) -> str:
        """It ended (bounded) with an error of olsnet's own hierarchy (``olsnet.errors``)
        whose message holds each fragment; returns the message."""
        self.assert_bounded()
        qualname = self.error_qualname or ""
        assert qualname.startswith("olsnet."), f"expected an olsnet error\n{self.describe()}"
        return self.assert_error(qualname.rsplit(".", 1)[-1], *fragments)

    def assert_error(self, name: str, *fragments: str) -> str:
        """The child ended (bounded) with exception class ``name`` whose message holds each
        fragment; returns the message."""
        self.assert_bounded()
        assert self.returncode != 0, f"expected {name}, the child succeeded\n{self.describe()}"
        err = self.error
        assert err is not None and err[0] == name, f"expected {name}\n{self.describe()}"
        for frag in fragments:
            assert frag in err[1], f"{frag!r} not in the {name} message {err[1]!r}"
        return err[1]

    def assert_ok(self) -> None:
        self.assert_bounded()
        assert self.returncode == 0, self.describe()

    def writes(self) -> list[str]:
        """Every path the child opened for writing, created, renamed to or removed."""
        out: list[str] = []
        for rec in self.events:
            if rec[0] == "open" or rec[0] in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate"):
                out.append(rec[1])
            elif rec[0] in ("os.rename", "os.symlink", "os.link", "shutil.copyfile", "shutil.move"):
                out.extend(rec[1:3])
        return out

    def launches(self) -> list[tuple[str, ...]]:
        """Process launches and pickle class lookups the child made (should be none)."""
        return [r for r in self.events if r[0] in _LAUNCH]


_LAUNCH = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "pickle.find_class",
    }
)


def _limits(address_space_mb: int | None) -> Callable[[], None]:
    def apply() -> None:
        if address_space_mb is not None:
            cap = int(address_space_mb) << 20
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _hwm_kb(pid: int) -> int:
    """VmHWM of a running process in kB (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            return int(f.read().split(b"VmHWM:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return 0


def _wait(pid: int, deadline: float) -> tuple[int, float, float, bool]:
    """Wait for ``pid`` until ``deadline``; kill its process group if it is late.

    Returns ``(returncode, peak RSS in MiB seen while polling, CPU seconds, timed_out)``.
    """
    timed_out = False
    peak_kb = 0
    while True:
        peak_kb = max(peak_kb, _hwm_kb(pid))
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got == pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.005)
    try:  # anything the child left running in its group goes too
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    cpu = usage.ru_utime + usage.ru_stime  # this child's own times (not inherited at fork)
    return os.waitstatus_to_exitcode(status), peak_kb / 1024.0, cpu, timed_out


def _run(
    code: str,
    *,
    mem_mb: float,
    timeout_s: float,
    wall_s: float,
    cwd: Path,
    harness_dir: Path,
    tmpdir: Path,
    address_space_mb: int | None,
    env: dict[str, str] | None,
) -> CappedRun:
    harness_dir.mkdir(parents=True, exist_ok=True)
    tmpdir.mkdir(parents=True, exist_ok=True)
    n = len(list(harness_dir.glob("run-*.out")))
    out_path, err_path, log_path = (harness_dir / f"run-{n}.{s}" for s in ("out", "err", "log"))
    child_env = dict(os.environ)
    child_env.update(env or {})
    if child_env.get("PYTHONPATH"):  # the child runs elsewhere: PYTHONPATH=src must still hold
        parts = child_env["PYTHONPATH"].split(os.pathsep)
        child_env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in parts if p)
    child_env["TMPDIR"] = str(tmpdir)
    child_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    child_env[_AUDIT_FD_ENV] = str(log_fd)
    body = textwrap.dedent(code)
    source = _PRELUDE % {"env": _AUDIT_FD_ENV} + f"exec(compile({body!r}, '<hostile>', 'exec'))\n"
    start = time.monotonic()
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", source],
                cwd=cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=(log_fd,),
                preexec_fn=_limits(address_space_mb),
                start_new_session=True,
            )
            returncode, peak_mb, cpu_s, timed_out = _wait(proc.pid, start + wall_s)
            proc.returncode = returncode  # reaped by wait4; keep Popen from waiting again
    finally:
        os.close(log_fd)
    wall = time.monotonic() - start
    records = [tuple(json.loads(line)) for line in log_path.read_text().splitlines() if line]
    events = tuple(r for r in records if r[0] != "peak_kb")
    peak_mb = max([peak_mb] + [int(r[1]) / 1024.0 for r in records if r[0] == "peak_kb"])
    return CappedRun(
        returncode=returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        peak_mb=peak_mb,
        timed_out=timed_out,
        wall_s=wall,
        cpu_s=cpu_s,
        timeout_s=float(timeout_s),
        mem_mb=float(mem_mb),
        events=events,
    )


def make_runner(tmp_path: Path, harness_dir: Path) -> Callable[..., CappedRun]:
    """The ``run_capped`` callable for one test (see the fixture in ``conftest.py``)."""

    def run(
        code: str,
        *,
        mem_mb: float = 500,
        timeout_s: float = 5,
        cwd: str | os.PathLike[str] | None = None,
        address_space_mb: int | None = None,
        env: dict[str, str] | None = None,
        wall_s: float | None = None,
    ) -> CappedRun:
        cap = int(mem_mb + AS_HEADROOM_MB) if address_space_mb is None else address_space_mb
        return _run(
            code,
            mem_mb=mem_mb,
            timeout_s=timeout_s,
            wall_s=timeout_s * WALL_SLACK if wall_s is None else wall_s,
            cwd=Path(cwd) if cwd is not None else tmp_path,
            harness_dir=harness_dir,
            tmpdir=tmp_path / "tmp",
            address_space_mb=cap or None,
            env=env,
        )

    return run


# ---- "no file created outside the temporary folder" -----------------------------------------

_ALLOWED_DEVICES = ("/dev/null", "/dev/tty", "/dev/shm/")


def _inside(path: str, roots: Iterable[Path]) -> bool:
    if path.startswith(_ALLOWED_DEVICES) or path.startswith("/proc/self/"):
        return True
    real = os.path.realpath(path)
    return any(real == str(r) or real.startswith(str(r) + os.sep) for r in roots)


def _listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


class FolderWatch:
    """Listings of folders outside the temporary folder, taken before a run and compared after.

    Watches (one level deep) the pytest process's working directory, ``tmp_path``'s parent,
    ``$HOME`` and the repository root. The machine's shared ``/tmp`` is not watched (other
    processes write there); the child's ``TMPDIR`` points inside ``tmp_path`` instead.
    """

    def __init__(self, tmp_path: Path, extra: Iterable[Path] = ()) -> None:
        repo = Path(__file__).resolve().parents[2]
        home = Path(os.path.expanduser("~"))
        self.tmp_path = tmp_path.resolve()
        self.folders = [
            p.resolve() for p in (Path.cwd(), tmp_path.parent, home, repo, *extra) if p.is_dir()
        ]
        self.before = {f: _listing(f) for f in self.folders}

    def new_entries(self) -> dict[str, list[str]]:
        out = {}
        for f, before in self.before.items():
            added = sorted(n for n in _listing(f) - before if f / n != self.tmp_path)
            if added:
                out[str(f)] = added
        return out


def assert_no_files_outside(
    run: CappedRun, tmp_path: Path, watch: FolderWatch | None = None
) -> None:
    """Nothing the child wrote, created, renamed or removed lies outside ``tmp_path`` (audit
    log), and no watched folder gained an entry (listing)."""
    roots = [tmp_path.resolve()]
    outside = [p for p in run.writes() if not _inside(p, roots)]
    assert not outside, f"wrote outside {tmp_path}: {outside}\n{run.describe()}"
    if watch is not None:
        assert not watch.new_entries(), f"new files outside {tmp_path}: {watch.new_entries()}"


# ---- "no code ran" ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Marker:
    """A file that only code from a hostile input would create.

    ``python`` is one Python statement creating it (to embed in a payload); ``call`` is the same
    as a ``(callable path, args)`` pair for payloads that can only name a function
    (``builtins.open`` with mode ``"w"``). Neither does anything but create an empty file.
    """

    path: Path

    @property
    def python(self) -> str:
        return f"open({str(self.path)!r}, 'w').close()"

    @property
    def call(self) -> tuple[str, tuple[str, str]]:
        return "builtins.open", (str(self.path), "w")

    def assert_absent(self, run: CappedRun | None = None) -> None:
        assert not self.path.exists(), f"code from the input ran: {self.path} was created"
        if run is not None:
            touched = [p for p in run.writes() if os.path.realpath(p) == str(self.path)]
            assert not touched, f"code from the input ran: it opened {self.path} for writing"
            assert not run.launches(), f"the child launched or unpickled: {run.launches()}"


def olsnet_cli(*args: str) -> str:
    """Child code running the CLI in-process (``olsnet.cli.main``) and exiting with its status."""
    return f"import sys\nfrom olsnet.cli import main\nsys.exit(main({list(args)!r}))\n"


def child_json(code: str, *args: str, timeout: float = 300) -> dict:
    """Run ``code`` in a fresh single-threaded-BLAS interpreter with ``args``; the JSON object on
    its last stdout line (memory tests: each measurement starts from a clean process)."""
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
