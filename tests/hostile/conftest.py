"""Fixtures of the hostile-input suite; the machinery is in ``hostile_harness.py``.

* ``run_capped(code, *, mem_mb=500, timeout_s=5, cwd=None, address_space_mb=None, env=None,
  wall_s=None) -> CappedRun(returncode, stdout, stderr, peak_mb, timed_out, ...)``: ``code`` in a fresh
  ``sys.executable -c`` (``PYTHONPATH`` inherited) under RLIMIT_AS and a wall-clock limit, its
  peak RSS measured; see ``hostile_harness`` for why the address-space cap
  (``address_space_mb``, default ``mem_mb + 1024``) and the RSS budget (``mem_mb``) differ,
  and why ``timeout_s`` is checked on CPU time (the wall-clock kill is at ``wall_s``, default
  ``timeout_s * WALL_SLACK``).
* ``folder_watch``: listings of the folders around ``tmp_path``, for
  ``assert_no_files_outside(run, tmp_path, folder_watch)``.
* ``marker``: a file only code from a hostile input would create ("no code ran").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_harness import CappedRun, FolderWatch, Marker, make_runner


@pytest.fixture
def run_capped(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., CappedRun]:
    """Run code in a capped child; see the module docstring."""
    return make_runner(tmp_path, tmp_path_factory.mktemp("harness"))


@pytest.fixture
def folder_watch(tmp_path: Path) -> FolderWatch:
    """A :class:`FolderWatch` started before the test body runs."""
    return FolderWatch(tmp_path)


@pytest.fixture
def marker(tmp_path: Path) -> Marker:
    """A :class:`Marker` inside ``tmp_path`` (resolved), not yet created."""
    return Marker(tmp_path.resolve() / "CODE_RAN")
