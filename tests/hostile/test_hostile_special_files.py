"""Issue 13 item 2: paths that name no regular file (/dev/zero, a FIFO with no writer, a
directory, links to them) are refused before anything is read, quickly and with little memory;
reads of regular files are bounded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hostile_harness import olsnet_cli

import olsnet
from olsnet._safe_open import open_regular, read_regular
from olsnet.errors import DataFileError, FormatError

LOADERS = {
    "load": "import olsnet\nolsnet.load({path!r})",
    "from_onnx": "import olsnet\nolsnet.from_onnx({path!r})",
}


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    os.mkfifo(path)  # nobody ever writes: opening it for reading would block forever
    return path


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    path = tmp_path / "x.csv"
    path.write_text("x1,x2\n1,2\n3,4\n")
    return path


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_dev_zero_is_refused_before_reading(run_capped, loader):
    run = run_capped(LOADERS[loader].format(path="/dev/zero"))
    run.assert_error("FormatError", "/dev/zero", "character device", "regular file")
    assert run.peak_mb < 200


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_fifo_without_writer_is_refused_without_hanging(run_capped, fifo, loader):
    run = run_capped(LOADERS[loader].format(path=str(fifo)))
    run.assert_error("FormatError", str(fifo), "FIFO", "regular file")


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_directory_and_a_link_to_dev_zero_are_refused(run_capped, tmp_path, loader):
    run = run_capped(LOADERS[loader].format(path=str(tmp_path)))
    run.assert_error("FormatError", "is a directory")
    link = tmp_path / "zero.olsnet"
    link.symlink_to("/dev/zero")
    run = run_capped(LOADERS[loader].format(path=str(link)))
    run.assert_error("FormatError", str(link), "character device")


@pytest.mark.parametrize("model", ["/dev/zero", "fifo"])
def test_cli_predict_refuses_a_model_that_is_no_regular_file(run_capped, fifo, data_csv, model):
    path = str(fifo) if model == "fifo" else model
    run = run_capped(olsnet_cli("predict", path, str(data_csv)), timeout_s=10)
    run.assert_bounded()
    assert run.returncode == 2, run.describe()
    assert "regular file" in run.stderr and path in run.stderr
    assert run.peak_mb < 300


@pytest.mark.parametrize("name", ["m.pt", "m.olsnet"])
def test_cli_collapse_refuses_a_fifo_of_any_model_kind(run_capped, tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)
    run = run_capped(olsnet_cli("collapse", str(path)), timeout_s=10)
    run.assert_bounded()
    assert run.returncode == 2 and "FIFO" in run.stderr, run.describe()


@pytest.mark.parametrize("command", ["fit", "predict"])
def test_cli_refuses_a_data_file_that_is_a_fifo(run_capped, tmp_path, command):
    data = tmp_path / "data.csv"
    os.mkfifo(data)
    if command == "fit":
        args = ("fit", str(data), "-y", "y")
    else:
        affine = olsnet.Affine(np.ones((1, 2)), np.zeros(1), feature_names=["a", "b"])
        olsnet.save(affine, tmp_path / "m.olsnet")
        args = ("predict", str(tmp_path / "m.olsnet"), str(data))
    run = run_capped(olsnet_cli(*args), timeout_s=10)
    run.assert_bounded()
    assert run.returncode == 2 and "FIFO" in run.stderr and str(data) in run.stderr, run.describe()


def test_read_refuses_a_fifo_with_a_data_file_error(tmp_path):
    os.mkfifo(tmp_path / "d.csv")
    with pytest.raises(DataFileError, match="FIFO"):
        olsnet.read(tmp_path / "d.csv", y="y")


# ---- the helper itself (in process: nothing here can hang or allocate) ----------------------


def test_open_regular_bounds_what_is_read(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    assert read_regular(path, 100) == b"x" * 100
    with pytest.raises(FormatError, match="100 bytes, more than the 99"):
        read_regular(path, 99)
    with open_regular(path, 100) as fh:
        assert fh.name == str(path) and fh.seek(90) == 90 and fh.read() == b"x" * 10


def test_a_file_stat_calls_empty_is_still_read_with_a_bound():
    # /proc files say size 0 and then deliver bytes: the reader itself stops at the bound
    assert os.stat("/proc/self/maps").st_size == 0
    with pytest.raises(FormatError, match="more than 16 bytes read"):
        read_regular("/proc/self/maps", 16)


def test_the_error_class_is_the_callers(tmp_path):
    with pytest.raises(DataFileError, match="directory"):
        open_regular(tmp_path, 10, what="a data file", error=DataFileError)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing", 10)


def test_regular_models_still_load(tmp_path):
    olsnet.save(olsnet.Affine(np.eye(2), np.ones(2)), tmp_path / "a.olsnet")
    assert olsnet.load(tmp_path / "a.olsnet").bias.tolist() == [1.0, 1.0]
