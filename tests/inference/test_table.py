"""Table renderings: alignment, n/a reasons, JSON and pandas round trips, immutability."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from olsnet.inference import NotAvailable, Table


def _table() -> Table:
    return Table(
        "Coefficients",
        ("name", "coef", "note"),
        (
            ("Intercept", 1.25, "a|b"),
            ("age", NotAvailable("aliased with sex"), None),
            ("bmi", 2, "<b>"),
        ),
        notes=("fitted by olsnet",),
        formats=("", ".3f", ""),
    )


def test_text_is_aligned_and_lists_reasons() -> None:
    lines = _table().as_text().splitlines()
    rule = lines[1]
    assert set(rule) == {"="}
    assert lines[0].strip() == "Coefficients"
    body = lines[4:7]
    # numeric column right-aligned: the numbers end in the same column
    cells = ["1.250", "n/a [1]", "2"]
    assert len({line.index(c) + len(c) for line, c in zip(body, cells, strict=True)}) == 1
    assert all(
        line.startswith(name) for line, name in zip(body, ["Intercept", "age", "bmi"], strict=True)
    )
    assert "[1] aliased with sex" in lines
    assert "fitted by olsnet" in lines
    assert str(_table()) == _table().as_text()


def test_width_pads_rules() -> None:
    t = _table()
    assert len(t.as_text(width=80).splitlines()[1]) == 80
    assert t.text_width() < 80


def test_markdown_and_html_escape() -> None:
    md = _table().as_markdown()
    assert "a\\|b" in md and "| Intercept |" in md and "- [1] aliased with sex" in md
    h = _table()._repr_html_()
    assert "&lt;b&gt;" in h and "<caption>Coefficients</caption>" in h
    assert "aliased with sex" in h


def test_frame_and_dict() -> None:
    f = _table().to_frame()
    assert isinstance(f, pd.DataFrame)
    assert list(f.index) == ["Intercept", "age", "bmi"]
    assert f.loc["Intercept", "coef"] == pytest.approx(1.25, rel=1e-15)
    assert pd.isna(f.loc["age", "coef"])
    d = _table().to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back["rows"][1][1] == {"not_available": "aliased with sex"}
    nan_table = Table("t", ("a",), ((float("nan"),),))
    assert json.loads(json.dumps(nan_table.to_dict(), allow_nan=False))["rows"] == [[None]]


def test_immutable_and_checked() -> None:
    t = _table()
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.title = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        Table("bad", ("a", "b"), (("x",),))
