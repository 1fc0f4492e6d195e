"""The harness itself: each check it offers fails when it should."""

from __future__ import annotations

import pytest
from hostile_harness import WALL_SLACK, assert_no_files_outside, olsnet_cli


def test_a_quiet_snippet_succeeds_and_reports_its_output(run_capped):
    run = run_capped("print('hello')")
    run.assert_ok()
    assert run.stdout == "hello\n"
    assert 0 < run.peak_mb < 100


def test_peak_rss_counts_touched_memory(run_capped):
    run = run_capped("b = bytearray(200 << 20)\nb[::4096] = b'x' * len(b[::4096])")
    run.assert_ok()
    assert run.peak_mb > 200
    with pytest.raises(AssertionError, match="over the 150 MiB budget"):
        run_capped("b = bytearray(200 << 20)", mem_mb=150).assert_bounded()


def test_the_address_space_cap_makes_big_allocations_fail_fast(run_capped):
    run = run_capped("b = bytearray(3 << 30)")
    run.assert_error("MemoryError")
    assert run.peak_mb < 100


def test_a_hang_is_killed_at_the_wall_clock_limit(run_capped):
    run = run_capped("import time\nwhile True: time.sleep(0.1)", timeout_s=1)
    assert run.timed_out and run.returncode == -9
    assert WALL_SLACK <= run.wall_s < WALL_SLACK + 3
    with pytest.raises(AssertionError, match="did not finish in time"):
        run.assert_bounded()


def test_a_busy_child_is_held_to_its_cpu_time(run_capped):
    run = run_capped(
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.5: pass",
        timeout_s=1,
        wall_s=60,
    )
    assert 1.4 < run.cpu_s and run.returncode == 0
    with pytest.raises(AssertionError, match="CPU"):
        run.assert_bounded()


def test_the_peak_is_the_childs_own_not_the_forking_process(run_capped):
    ballast = bytearray(300 << 20)  # the pytest process grows by 300 MB before forking
    ballast[::4096] = b"x" * len(ballast[::4096])
    run = run_capped("print(1)")
    assert run.peak_mb < 100, run.describe()
    del ballast


def test_the_error_class_and_message_are_parsed(run_capped):
    run = run_capped(
        "from olsnet.errors import FormatError\nraise FormatError('member x: field y')"
    )
    assert run.assert_error("FormatError", "member x", "field y") == "member x: field y"
    with pytest.raises(AssertionError):
        run.assert_error("DataError")


def test_writes_outside_the_temporary_folder_are_caught(run_capped, tmp_path, folder_watch):
    inside = run_capped("open('inside.txt', 'w').write('x')\nimport tempfile; tempfile.mkstemp()")
    inside.assert_ok()
    assert_no_files_outside(inside, tmp_path, folder_watch)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    run = run_capped(f"open({str(outside)!r}, 'w').close()")
    try:
        with pytest.raises(AssertionError, match="wrote outside"):
            assert_no_files_outside(run, tmp_path)
        # the listing check catches what the audit hook cannot see (C-level writes)
        with pytest.raises(AssertionError, match="new files outside"):
            assert_no_files_outside(inside, tmp_path, folder_watch)
    finally:
        outside.unlink()


def test_the_marker_catches_code_that_ran(run_capped, marker):
    run = run_capped("print('nothing')")
    marker.assert_absent(run)
    run = run_capped(marker.python)
    with pytest.raises(AssertionError, match="code from the input ran"):
        marker.assert_absent(run)
    marker.path.unlink()
    run = run_capped("import os; os.system('true')")
    with pytest.raises(AssertionError, match="launched"):
        marker.assert_absent(run)


def test_the_cli_runs_in_the_child(run_capped):
    run = run_capped(olsnet_cli("--help"), timeout_s=20)
    run.assert_ok()
    assert "olsnet" in run.stdout
