"""Every output file is written all at once by one routine, with the mode the umask gives
(``open(path, "w")`` is the reference), and the destination is checked before any work."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet._fileutil import TEMP_PREFIX, atomic_write
from olsnet.cli import main
from olsnet.errors import OutputPathError

pytest.importorskip("pyarrow")

SRC = str(Path(olsnet.__file__).resolve().parents[1])


def _csv(path: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 2))
    y = 1.0 + X @ [2.0, -1.0] + rng.normal(size=n)
    rows = "\n".join(f"{a:.17g},{b:.17g},{c:.17g}" for (a, b), c in zip(X, y, strict=True))
    path.write_text("a,b,y\n" + rows + "\n")
    return path


def _python(code: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, **kw
    )


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_output_gets_the_mode_open_would_give(tmp_path: Path, umask: int) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("matplotlib")
    data = _csv(tmp_path / "d.csv")
    # a subprocess: the umask is process-wide, so the test process keeps its own
    code = textwrap.dedent(
        f"""
        import os
        os.umask({umask})
        open({str(tmp_path / "reference")!r}, "w").close()
        from olsnet.cli import main
        d, t = {str(data)!r}, {str(tmp_path)!r}
        runs = [
            ["fit", d, "-y", "y", "--save", t + "/fit.olsnet"],
            ["collapse", t + "/fit.olsnet", "--out", t + "/map.onnx"],
            ["collapse", t + "/fit.olsnet", "--out", t + "/map.olsnet"],
            ["predict", t + "/fit.olsnet", d, "-o", t + "/pred.csv"],
            ["predict", t + "/fit.olsnet", d, "-o", t + "/pred.parquet"],
            ["plot", "diagnostics", d, "-y", "y", "-o", t + "/diag.png"],
            ["plot", "network", t + "/fit.olsnet", "-o", t + "/net.svg"],
        ]
        for args in runs:
            assert main(args) == 0, args
        """
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    expected = stat.S_IMODE((tmp_path / "reference").stat().st_mode)
    assert expected == 0o666 & ~umask
    outputs = ["fit.olsnet", "map.onnx", "map.olsnet", "pred.csv", "pred.parquet", "diag.png"]
    for name in [*outputs, "net.svg"]:
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file


def test_atomic_write_leaves_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "model.olsnet"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as fh:
        fh.write(b"new, half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.olsnet"]


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["fit", "{d}", "-y", "y", "--save", "{t}/nowhere/m.olsnet"], "fit --save"),
        (["predict", "{t}/m.olsnet", "{d}", "-o", "{t}/nowhere/p.csv"], "predict -o"),
        (["collapse", "{t}/m.olsnet", "--out", "{t}/nowhere/m.onnx"], "collapse --out"),
        (["plot", "diagnostics", "{d}", "-y", "y", "-o", "{t}/nowhere/d.png"], "plot -o"),
    ],
)
def test_destination_is_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], what: str
) -> None:
    data = _csv(tmp_path / "d.csv")
    olsnet.save(olsnet.LinearRegression().fit(np.eye(3, 2), [1.0, 2.0, 3.0]), tmp_path / "m.olsnet")
    argv = [a.format(d=data, t=tmp_path) for a in args]
    assert main(argv) == 2, what
    out, err = capsys.readouterr()
    assert out == ""  # failed before the fit: no summary, no predictions
    given = next(a for a in argv if "nowhere" in a)
    assert f"cannot write {given!r}" in err
    assert "does not exist" in err
    assert TEMP_PREFIX not in err and ".tmp" not in err  # the user's path, not a temporary file


def test_save_into_missing_folder_names_the_users_path(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=r"cannot write 'x/y\.olsnet'"):
        olsnet.save(olsnet.Affine(np.eye(2), np.zeros(2)), "x/y.olsnet")


def test_sigterm_during_a_large_save_removes_the_temporary_file(tmp_path: Path) -> None:
    """A 128 MB save through the CLI's signal handling, killed with SIGTERM mid-write."""
    target = tmp_path / "big.olsnet"
    code = textwrap.dedent(
        f"""
        import numpy as np, olsnet, sys
        from olsnet.cli._app import terminate_as_exit
        W = np.ones((4096, 4096))  # 128 MiB
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        with terminate_as_exit():
            for _ in range(50):  # keeps writing until the signal arrives
                olsnet.save(olsnet.Affine(W, np.zeros(4096)), {str(target)!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the save never started"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert leftovers == []


def test_cli_turns_sigterm_into_exit_143(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os, signal
        import olsnet.cli._app as app

        @app.app.command("sleepy")
        def sleepy() -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")

        from olsnet.cli import main
        raise SystemExit(main(["sleepy"]))
        """
    )
    proc = _python(code)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().endswith("olsnet: terminated")
