"""Nothing the CLI prints can drive the terminal: names from CSV headers, model files and error
messages reach it with their control characters escaped (issue 13, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet.cli import main
from olsnet.cli._app import printable

pytest.importorskip("pyarrow")

CLEAR = "\x1b[2J"  # erase the screen
TITLE = "\x1b]0;pwned\x07"  # set the window title (OSC ... BEL)


def _assert_clean(text: str) -> None:
    assert not any(ord(c) < 0x20 and c not in "\n\t" for c in text), repr(text)
    assert "\x7f" not in text and not any(0x80 <= ord(c) <= 0x9F for c in text)


@pytest.fixture
def hostile_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = X @ [1.0, 2.0] + rng.normal(size=30)
    lines = [f"x{CLEAR},z{TITLE}\u202eevil,y"]
    lines += [f"{a:.17g},{b:.17g},{t:.17g}" for (a, b), t in zip(X, y, strict=True)]
    path = tmp_path / "hostile.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_printable_escapes_controls_and_keeps_text():
    assert printable(f"a{CLEAR}b") == "a\\x1b[2Jb"
    assert printable(TITLE) == "\\x1b]0;pwned\\x07"
    assert printable("\u202e\x9b\x00\r") == "\\u202e\\x9b\\x00\\x0d"
    assert printable("tab\tand\nnewline, ünïcode, R² ≥ 0") == "tab\tand\nnewline, ünïcode, R² ≥ 0"


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_fit_summary_escapes_header_names(hostile_csv, capsys, fmt):
    assert main(["fit", str(hostile_csv), "-y", "y", "--format", fmt]) == 0
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    if fmt == "json":
        assert json.loads(out)["feature_names"][0] == f"x{CLEAR}"  # JSON keeps the name, escaped
    else:
        assert "x\\x1b[2J" in out


def test_errors_and_warnings_are_escaped(hostile_csv, tmp_path, capsys):
    assert main(["fit", str(hostile_csv), "-y", f"nope{CLEAR}"]) == 2
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert "nope\\x1b[2J" in err and "x\\x1b[2J" in err  # the asked name and the file's names
    bad = tmp_path / f"missing{TITLE}.olsnet"
    assert main(["collapse", str(bad)]) == 2
    _assert_clean("".join(capsys.readouterr()))


def test_names_from_a_model_file_are_escaped(tmp_path, capsys):
    path = tmp_path / "m.olsnet"
    olsnet.save(olsnet.Affine(np.eye(1, 2), np.zeros(1), (f"a{CLEAR}", "b"), (f"y{TITLE}",)), path)
    assert main(["collapse", str(path)]) == 0
    out, err = capsys.readouterr()
    _assert_clean(out + err)
    assert "y\\x1b]0;pwned\\x07 = 0" in out
