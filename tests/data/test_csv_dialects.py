"""CSV dialects in olsnet.read: separators (given, by suffix, sniffed), decimal commas,
encodings, extra missing-value texts, quote characters, skipped lines, comments.

Reference: pandas.read_csv of the same file with the same options (its C parser is an
independent implementation of every option used here).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.errors import DataFileError, InputTypeError, OptionError


def _frame(n: int = 120, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    df["y"] = 1.0 + df.x1 - 2.0 * df.x2 + rng.normal(size=n)
    return df


def _rows(source) -> np.ndarray:
    return np.concatenate([np.hstack([X, Y]) for X, Y, _ in source.blocks()])


def _pandas(path: Path, **kwargs) -> np.ndarray:
    return pd.read_csv(path, **kwargs)[["x1", "x2", "x3", "y"]].to_numpy()


def test_semicolon_decimal_comma_is_sniffed_and_said(tmp_path: Path, caplog) -> None:
    path = tmp_path / "europe.csv"
    _frame().to_csv(path, sep=";", decimal=",", index=False)
    with caplog.at_level(logging.INFO, logger="olsnet"):
        src = olsnet.read(path, y="y", batch_rows=50)
    assert (src.dialect.sep, src.dialect.decimal) == (";", ",")
    assert len(src.notes) == 2
    assert "sep=';'" in src.notes[0] and "decimal=','" in src.notes[1]
    assert [r.getMessage() for r in caplog.records] == list(src.notes)
    np.testing.assert_array_equal(_rows(src), _pandas(path, sep=";", decimal=","))
    given = olsnet.read(path, y="y", sep=";", decimal=",")
    assert given.notes == ()
    np.testing.assert_array_equal(_rows(given), _pandas(path, sep=";", decimal=","))


@pytest.mark.parametrize("suffix", [".tsv", ".tab", ".tsv.gz"])
def test_tab_files_by_suffix(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    _frame().to_csv(path, sep="\t", index=False)
    src = olsnet.read(path, y="y")
    assert src.dialect.sep == "\t" and src.notes == ()
    np.testing.assert_array_equal(_rows(src), _pandas(path, sep="\t"))


@pytest.mark.parametrize(("sep", "shown"), [("|", "'|'"), ("\t", "'\\t'")])
def test_pipe_and_tab_sniffed_in_a_csv(tmp_path: Path, sep: str, shown: str) -> None:
    path = tmp_path / "data.csv"
    _frame().to_csv(path, sep=sep, index=False)
    src = olsnet.read(path, y="y")
    assert src.dialect.sep == sep and f"sep={shown}" in src.notes[0]
    np.testing.assert_array_equal(_rows(src), _pandas(path, sep=sep))


def test_sep_given_as_backslash_t_or_tab(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    _frame().to_csv(path, sep="\t", index=False)
    for sep in ("\\t", "tab", "\t"):
        assert olsnet.read(path, y="y", sep=sep).dialect.sep == "\t"


def test_separator_that_does_not_split_the_header(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    with pytest.raises(DataFileError, match=r"line 1: column 'y' is not in the file.*tried ';'"):
        olsnet.read(path, y="y", sep=";")
    colon = tmp_path / "colon.csv"
    _frame().to_csv(colon, sep=":", index=False)
    with pytest.raises(DataFileError, match=r"tried ',', ';', tab and '\|'.*sep="):
        olsnet.read(colon, y="y")
    np.testing.assert_array_equal(
        _rows(olsnet.read(colon, y="y", sep=":")), _pandas(colon, sep=":")
    )


def test_decimal_comma_not_given_is_named(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("x1\ty\n1,5\t2\n2,5\t3\n")
    with pytest.raises(
        DataFileError, match=r"line 2, column 'x1': '1,5' is not a number.*decimal=','"
    ):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y", sep="\t"))
    src = olsnet.read(path, y="y", sep="\t", decimal=",")
    np.testing.assert_array_equal(_rows(src), [[1.5, 2.0], [2.5, 3.0]])


def test_na_values_dot_as_in_sas_exports(tmp_path: Path) -> None:
    path = tmp_path / "sas.csv"
    df = _frame(40)
    text = df.to_csv(index=False).splitlines()
    text[5] = ".," + text[5].split(",", 1)[1]  # data row 3 (line 6): x1 missing
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(
        DataFileError, match=r"line 6, column 'x1': '\.' is not a number.*na_values=\['\.'\]"
    ):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))
    src = olsnet.read(path, y="y", na_values=".", missing="drop")
    ref = pd.read_csv(path, na_values=["."]).dropna()
    np.testing.assert_array_equal(_rows(src), ref[["x1", "x2", "x3", "y"]].to_numpy())
    assert src.n_dropped == 1


def test_latin1_and_utf16_encodings(tmp_path: Path) -> None:
    df = _frame(30).rename(columns={"x1": "Größe"})
    latin = tmp_path / "latin.csv"
    df.to_csv(latin, index=False, encoding="latin-1")
    src = olsnet.read(latin, y="y", encoding="latin-1")
    assert src.feature_names == ("Größe", "x2", "x3")
    np.testing.assert_array_equal(
        _rows(src), pd.read_csv(latin, encoding="latin-1")[["Größe", "x2", "x3", "y"]].to_numpy()
    )
    with pytest.raises(
        DataFileError,
        match=r"line 1, field 1: bytes b'\\xf6' at byte offset 2 .*encoding='latin-1'",
    ):
        olsnet.read(latin, y="y")
    utf16 = tmp_path / "utf16.csv"
    df.to_csv(utf16, index=False, encoding="utf-16")
    src16 = olsnet.read(utf16, y="y", encoding="utf-16")
    assert src16.feature_names == ("Größe", "x2", "x3")
    np.testing.assert_array_equal(_rows(src16), _rows(src))


def test_bad_bytes_in_a_data_row_name_line_column_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"x1,y\n1,2\n3\xe9,4\n")
    with pytest.raises(
        DataFileError, match=r"line 3, column 'x1': bytes b'\\xe9' at byte offset 10 .*--encoding"
    ):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y"))


def test_quotechar_skip_rows_and_comments(tmp_path: Path) -> None:
    df = _frame(60)
    body = df.to_csv(index=False, quotechar="'", quoting=1).splitlines()  # every field quoted
    lines = ["exported by a tool", "on a day", *body[:10], "# a comment line"]
    lines += [body[10] + " # trailing comment", *body[11:]]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    src = olsnet.read(path, y="y", quotechar="'", skip_rows=2, comment="#")
    ref = pd.read_csv(path, quotechar="'", skiprows=2, comment="#")
    np.testing.assert_array_equal(_rows(src), ref[["x1", "x2", "x3", "y"]].to_numpy())
    # physical line numbers count the skipped lines and the comment line
    bad = lines.copy()
    bad[40] = bad[40].replace(bad[40].split(",")[1], "'oops'", 1)
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(DataFileError, match=r"line 41, column 'x2': 'oops' is not a number"):
        olsnet.LinearRegression().fit(
            olsnet.read(path, y="y", quotechar="'", skip_rows=2, comment="#")
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sep": ";;"}, OptionError, r"sep=';;' is not accepted; sep is one character"),
        ({"decimal": "x"}, OptionError, r"decimal='x' is not accepted"),
        ({"encoding": "klingon"}, OptionError, r"encoding='klingon' is not an encoding"),
        ({"quotechar": ""}, OptionError, r"quotechar='' is not accepted"),
        ({"skip_rows": -1}, InputTypeError, r"skip_rows must be a non-negative integer"),
        ({"na_values": [1]}, InputTypeError, r"na_values must be a string or a list"),
        ({"sep": ",", "decimal": ","}, OptionError, r"decimal and sep are both ','"),
    ],
)
def test_bad_dialect_options(tmp_path: Path, kwargs, error, match) -> None:
    path = tmp_path / "data.csv"
    _frame(5).to_csv(path, index=False)
    with pytest.raises(error, match=match):
        olsnet.read(path, y="y", **kwargs)


def test_decimal_comma_with_a_comma_separator_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    _frame(5).to_csv(path, index=False)
    with pytest.raises(OptionError, match=r"decimal and sep are both ','"):
        olsnet.read(path, y="y", decimal=",")


def test_streamed_fit_of_a_european_file_equals_the_plain_one(tmp_path: Path) -> None:
    df = _frame(500)
    plain, europe = tmp_path / "plain.csv", tmp_path / "europe.csv"
    df.to_csv(plain, index=False)
    df.to_csv(europe, sep=";", decimal=",", index=False)
    a = olsnet.LinearRegression().fit(olsnet.read(plain, y="y", batch_rows=64))
    b = olsnet.LinearRegression().fit(olsnet.read(europe, y="y", batch_rows=64))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    formula = olsnet.LinearRegression().fit(olsnet.read(europe, formula="y ~ x1 + np.log(x3**2)"))
    assert formula.feature_names_in_.tolist() == ["x1", "np.log(x3 ** 2)"]


def test_cli_dialect_flags_and_sniff_note(tmp_path: Path, capsys) -> None:
    from olsnet.cli import main

    df = _frame(80)
    europe = tmp_path / "europe.csv"
    df.to_csv(europe, sep=";", decimal=",", index=False)
    assert main(["fit", str(europe), "-y", "y", "--format", "json"]) == 0
    out = capsys.readouterr()
    assert "olsnet: " in out.err and "sep=';'" in out.err and "decimal=','" in out.err
    sas = tmp_path / "sas.txt"
    text = df.to_csv(sep="|", index=False).splitlines()
    text[3] = "." + text[3][text[3].index("|") :]
    sas.write_text("# exported\n" + "\n".join(text) + "\n")
    args = ["fit", str(sas), "-y", "y", "--sep", "|", "--na-values", ".", "--comment", "#"]
    assert main([*args, "--missing", "drop", "--format", "json"]) == 0
    assert "1 row(s) with missing values were dropped" in capsys.readouterr().err
    assert main([*args[:-2], "--format", "json"]) == 2  # no --comment: '# exported' is the header
    assert "column 'y' is not in the file" in capsys.readouterr().err
