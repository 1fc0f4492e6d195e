"""Excel and OpenDocument sheets in olsnet.read (fastexcel): values, sheets by name and
position, errors naming sheet, row and column.

References: the values the test wrote into the workbook (xlsxwriter, or the OpenDocument XML
written by hand below), numpy lstsq for the fit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet.errors import DataFileError

pytest.importorskip("fastexcel")
xlsxwriter = pytest.importorskip("xlsxwriter")


def _data(n: int = 40, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = 1.0 + X @ [2.0, -1.0] + rng.normal(size=n)
    # (n, 3): x1, x2, y; 9 significant digits, which xlsxwriter writes exactly (it writes 16)
    return np.array([[float(f"{v:.9g}") for v in r] for r in np.column_stack([X, y])])


def _xlsx(path: Path, rows: np.ndarray, *, sheet: str = "Daten", start_row: int = 0) -> None:
    wb = xlsxwriter.Workbook(path)
    wb.add_worksheet("Notes").write(0, 0, "read me")
    ws = wb.add_worksheet(sheet)
    ws.write_row(start_row, 0, ["x1", "x2", "y", "city"])
    for i, r in enumerate(rows, start=start_row + 1):
        ws.write_row(i, 0, [*r.tolist(), "ab"[i % 2]])
    wb.close()


def test_xlsx_sheet_by_name_and_position(tmp_path: Path) -> None:
    rows = _data()
    path = tmp_path / "book.xlsx"
    _xlsx(path, rows)
    src = olsnet.read(path, y="y", x=["x1", "x2"], sheet="Daten", batch_rows=16)
    got = np.concatenate([np.hstack([X, Y]) for X, Y, _ in src.blocks()])
    np.testing.assert_array_equal(got, rows)
    by_position = olsnet.read(path, y="y", x=["x1", "x2"], sheet=1)
    model = olsnet.LinearRegression().fit(by_position)
    A = np.column_stack([np.ones(len(rows)), rows[:, :2]])
    ref = np.linalg.lstsq(A, rows[:, 2], rcond=None)[0]
    np.testing.assert_allclose([model.intercept_, *model.coef_], ref, rtol=1e-12)
    formula = olsnet.read(path, formula="y ~ x1 + C(city)", sheet="Daten")
    fitted = olsnet.LinearRegression(fit_intercept=formula.fit_intercept).fit(formula)
    assert fitted.feature_names_in_.tolist() == ["x1", "C(city)[T.b]"]


def test_missing_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    _xlsx(path, _data())
    with pytest.raises(
        DataFileError, match=r"there is no sheet 'Data'; the workbook's sheets are 'Notes', 'Daten'"
    ):
        olsnet.read(path, y="y", sheet="Data")
    with pytest.raises(DataFileError, match=r"there is no sheet 5"):
        olsnet.read(path, y="y", sheet=5)


def test_text_cell_names_sheet_row_and_column(tmp_path: Path) -> None:
    rows = _data(10)
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Daten")
    ws.write_row(0, 0, ["x1", "x2", "y"])
    for i, r in enumerate(rows, start=1):
        ws.write_row(i, 0, r.tolist())
    ws.write(6, 1, "n/v")  # Excel row 7, column B
    ws.write_blank(8, 2, None)  # Excel row 9, column C: empty
    wb.close()
    with pytest.raises(
        DataFileError, match=r"sheet 'Daten', row 7, column 'x2' \(B\): .*n/v.* is not a number"
    ):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))


def test_empty_cell_is_a_missing_value_with_its_row(tmp_path: Path) -> None:
    rows = _data(10)
    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    ws.write_row(0, 0, ["x1", "x2", "y"])
    for i, r in enumerate(rows, start=1):
        ws.write_row(i, 0, r.tolist())
    ws.write_blank(8, 2, None, wb.add_format({"bold": True}))  # Excel row 9, column C
    wb.close()
    with pytest.raises(DataFileError, match=r"sheet 'S', row 9, column 'y': a missing value"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))
    dropped = olsnet.read(path, y="y", missing="drop")
    olsnet.LinearRegression().fit(dropped)
    assert dropped.n_dropped == 1


def test_repeated_header_names_in_a_sheet(tmp_path: Path) -> None:
    path = tmp_path / "dup.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["a", "a", "y"])
    ws.write_row(1, 0, [1, 2, 3])
    wb.close()
    with pytest.raises(
        DataFileError, match=r"row 1: column name 'a' appears twice, as column 1 and column 2"
    ):
        olsnet.read(path, y="y")


def _ods(path: Path, rows: list[list[object]]) -> None:
    """A minimal OpenDocument spreadsheet (the ODF 1.2 package: mimetype, manifest, content)."""

    def cell(v: object) -> str:
        if isinstance(v, str):
            return f'<table:table-cell office:value-type="string"><text:p>{v}</text:p></table:table-cell>'
        return f'<table:table-cell office:value-type="float" office:value="{v!r}"/>'

    body = "".join("<table:table-row>" + "".join(map(cell, r)) + "</table:table-row>" for r in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Blatt1">'
        f"{body}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", manifest)
        z.writestr("content.xml", content)


def test_ods_sheet(tmp_path: Path) -> None:
    rows = _data(12)
    path = tmp_path / "calc.ods"
    _ods(path, [["x1", "x2", "y"], *rows.tolist()])
    src = olsnet.read(path, y="y", sheet="Blatt1")
    got = np.concatenate([np.hstack([X, Y]) for X, Y, _ in src.blocks()])
    np.testing.assert_array_equal(got, rows)


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(DataFileError, match=r"fake.xlsx: not a readable Excel / OpenDocument file"):
        olsnet.read(path, y="y")


def test_cli_fit_sheet(tmp_path: Path, capsys) -> None:
    from olsnet.cli import main

    path = tmp_path / "book.xlsx"
    _xlsx(path, _data())
    assert main(["fit", str(path), "-y", "y", "-x", "x1", "-x", "x2", "--sheet", "Daten"]) == 0
    assert "x2" in capsys.readouterr().out
    assert main(["fit", str(path), "-y", "y", "--sheet", "Nope"]) == 2
    assert "the workbook's sheets are 'Notes', 'Daten'" in capsys.readouterr().err


def test_a_text_cell_is_named_by_its_own_column_whatever_the_column_order(tmp_path) -> None:
    # user report: the error named the next column (fastexcel gives the sheet's absolute index)
    path = tmp_path / "bad.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    ws.write_row(0, 0, ["y", "x1", "x2"])
    for i in range(1, 8):
        ws.write_row(i, 0, [float(i), float(i * i), float(i % 3)])
    ws.write(5, 1, "n/a")  # x1 (column B), spreadsheet row 6
    wb.close()
    with pytest.raises(DataFileError, match=r"row 6, column 'x1' \(B\): 'n/a' is not a number"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))


def test_a_sheet_position_given_as_text_is_a_position(tmp_path) -> None:
    # the CLI passes --sheet 1 as the text "1"; no sheet is named "1", so it is position 1
    rows = _data()
    path = tmp_path / "book.xlsx"
    _xlsx(path, rows)
    by_text = olsnet.LinearRegression().fit(olsnet.read(path, y="y", x=["x1", "x2"], sheet="1"))
    by_name = olsnet.LinearRegression().fit(olsnet.read(path, y="y", x=["x1", "x2"], sheet="Daten"))
    np.testing.assert_array_equal(by_text.coef_, by_name.coef_)
    with pytest.raises(DataFileError, match=r"no sheet 5.*'Notes', 'Daten'"):
        olsnet.read(path, y="y", sheet="5")
