"""``olsnet fit -f`` / ``olsnet predict`` with formula models: the round trip on raw data, R's
``na.exclude`` alignment, ``--id``, several targets, and formulas limited to the documented
transforms (a formula is code) unless ``--allow-python``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.cli import main

smf = pytest.importorskip("statsmodels.formula.api")


def _houses(n: int = 344, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "key": [f"h{i:04d}" for i in range(n)],
            "sqft": rng.uniform(40, 300, n),
            "city": rng.choice(["Bonn", "Aachen", "Köln"], n),
            "sex": rng.choice(["female", "male"], n).astype(object),
        }
    )
    df["price"] = 50 + 30 * np.log(df.sqft) + 5 * (df.city == "Bonn") + rng.normal(0, 2, n)
    df["rent"] = df.price / 20 + rng.normal(0, 1, n)
    df.loc[[i for i in (5, 77) if i < n], "sex"] = None
    return df


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


FORMULA = "price ~ np.log(sqft) + C(city) + sex"


def _assert_na_exclude_fitted_values(got: np.ndarray, df: pd.DataFrame) -> np.ndarray:
    """``got`` is statsmodels' fitted values on the complete rows (1e-12), NaN elsewhere."""
    ref = smf.ols(FORMULA, df.dropna()).fit()
    want = np.full(len(df), np.nan)
    want[df.dropna().index] = ref.fittedvalues
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-12)
    return got


def test_fit_save_then_predict_reproduces_the_fitted_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = _houses()
    data, model = tmp_path / "houses.csv", tmp_path / "m.olsnet"
    df.to_csv(data, index=False)
    status, _, err = _run(
        ["fit", str(data), "-f", FORMULA, "--missing", "drop", "--save", str(model)], capsys
    )
    assert status == 0, err
    out = tmp_path / "pred.csv"
    status, _, err = _run(
        ["predict", str(model), str(data), "--missing", "drop", "--id", "key", "-o", str(out)],
        capsys,
    )
    assert status == 0, err
    assert "2 row(s) with missing values could not be predicted" in err
    pred = pd.read_csv(out)
    assert len(pred) == len(df) and list(pred.columns) == ["key", "predicted_price"]
    assert (pred.key == df.key).all()
    got = _assert_na_exclude_fitted_values(pred.predicted_price.to_numpy(), df)
    # the fitted values of the saved model itself, to 1e-12
    fitted = olsnet.load(model).result_.predict(df)
    np.testing.assert_allclose(got[~np.isnan(got)], fitted[~np.isnan(fitted)], rtol=1e-12)


def test_predict_stdout_and_missing_raise(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    df = _houses(n=12)
    data, model = tmp_path / "h.csv", tmp_path / "m.olsnet"
    df.to_csv(data, index=False)
    assert _run(["fit", str(data), "-f", FORMULA, "--missing", "drop", "--save", str(model)],
                capsys)[0] == 0  # fmt: skip
    status, out, err = _run(["predict", str(model), str(data)], capsys)
    assert status == 2 and "line 7" in err and "'sex'" in err  # row 5 is line 7
    status, out, _ = _run(["predict", str(model), str(data), "--missing", "drop"], capsys)
    lines = out.strip().splitlines()
    assert status == 0 and len(lines) == 13 and lines[6] == "NA"
    status, out, _ = _run(
        ["predict", str(model), str(data), "--missing", "drop", "--format", "json"], capsys
    )
    rows = json.loads(out)["predictions"]
    assert len(rows) == 12 and rows[5] == [None]


def test_unseen_level_in_a_file_names_column_level_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = _houses(n=30).dropna()
    data, model = tmp_path / "h.csv", tmp_path / "m.olsnet"
    df.to_csv(data, index=False)
    assert _run(["fit", str(data), "-f", FORMULA, "--save", str(model)], capsys)[0] == 0
    new = df.copy()
    new.iloc[3, new.columns.get_loc("city")] = "Trier"
    new.to_csv(tmp_path / "new.csv", index=False)
    status, _, err = _run(["predict", str(model), str(tmp_path / "new.csv")], capsys)
    assert status == 2
    assert "column 'city' has the level 'Trier'" in err and "new.csv, line 5" in err


def test_several_targets_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    df = _houses().dropna()
    df.to_csv(tmp_path / "h.csv", index=False)
    formula = "price + rent ~ np.log(sqft) + C(city)"
    status, out, err = _run(["fit", str(tmp_path / "h.csv"), "-f", formula, "--format", "json"],
                            capsys)  # fmt: skip
    assert status == 0, err
    outputs = json.loads(out)["outputs"]
    assert [o["target"] for o in outputs] == ["price", "rent"]
    ref = smf.ols("rent ~ np.log(sqft) + C(city)", df).fit()
    got = {row["name"]: row["coef"] for row in outputs[1]["coefficients"]}
    np.testing.assert_allclose([got[n] for n in ref.params.index], ref.params, rtol=1e-10)


def test_formula_calls_outside_the_allow_list_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    df = _houses(n=50).dropna()
    df.to_csv("d.csv", index=False)
    for formula in (
        "price ~ sqft + np.savetxt('marker', sqft)",
        "price ~ sqft + I(__import__('os').system('touch marker'))",
        "price ~ sqft + {open('marker', 'w')}",
        "price ~ sqft + I(sqft.__class__)",
    ):
        status, _, err = _run(["fit", "d.csv", "-f", formula], capsys)
        assert status == 2 and "not one of the documented transforms" in err, err
        assert "--allow-python" in err
        assert not os.path.exists("marker")
    status, _, err = _run(
        ["fit", "d.csv", "-f", "price ~ np.log(sqft) + center(sqft) + C(city) + I(sqft**2)"],
        capsys,
    )
    assert status == 0, err
    status, _, _ = _run(
        ["fit", "d.csv", "-f", "price ~ sqft + np.savetxt('marker', sqft)", "--allow-python"],
        capsys,
    )
    assert os.path.exists("marker")  # asked for: the formula ran as Python


def test_python_api_offers_the_same_check(tmp_path: Path) -> None:
    df = _houses(n=40).dropna()
    marker = tmp_path / "marker"
    with pytest.raises(olsnet.errors.FormulaError, match=r"'np\.savetxt'"):
        olsnet.ols(f"price ~ sqft + np.savetxt({str(marker)!r}, sqft)", df, allow_python=False)
    assert not marker.exists()


def test_predict_formula_model_with_a_csv_dialect_and_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A semicolon / decimal-comma file, with lines to skip and a comment: ``predict`` reads
    it with the options ``fit`` read it with, one output row per input row, the key passed
    through, the missing rows' predictions empty; values as statsmodels' fit on the frame."""
    df = _houses(n=40)
    data, model = tmp_path / "h.csv", tmp_path / "m.olsnet"
    body = df.to_csv(index=False, sep=";", decimal=",")
    data.write_text("# exported by a spreadsheet\n# units: m2\n" + body, encoding="latin-1")
    opts = ["--sep", ";", "--decimal", ",", "--skip-rows", "2", "--encoding", "latin-1"]
    status, _, err = _run(
        ["fit", str(data), "-f", FORMULA, "--missing", "drop", "--save", str(model), *opts],
        capsys,
    )
    assert status == 0, err
    out = tmp_path / "pred.parquet"
    status, _, err = _run(
        ["predict", str(model), str(data), "--missing", "drop", "--id", "key", "-o", str(out),
         *opts], capsys)  # fmt: skip
    assert status == 0, err
    pred = pd.read_parquet(out)
    assert list(pred.columns) == ["key", "predicted_price"] and len(pred) == len(df)
    assert (pred.key == df.key).all()
    _assert_na_exclude_fitted_values(pred.predicted_price.to_numpy(), df)
    # an id column with missing values (here a level column of the formula) passes through
    status, out, err = _run(
        ["predict", str(model), str(data), "--missing", "drop", "--id", "sex", *opts], capsys
    )
    lines = out.strip().splitlines()
    assert status == 0 and len(lines) == len(df) + 1, err
    assert lines[6] == "NA,NA" and lines[1].split(",")[0] == df.sex[0]
    # missing="raise": the line is counted after the skipped lines (row 5 is line 9)
    status, _, err = _run(["predict", str(model), str(data), *opts], capsys)
    assert status == 2 and "h.csv, line 9" in err and "'sex'" in err


def test_predict_plain_model_with_dialect_keeps_one_row_per_input_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model without a formula, read with --sep: rows with a missing value get NaN in place
    (R's na.exclude) and --id passes the key through; values are X @ coef + intercept."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(30)], "a": rng.normal(size=30),
                       "b": rng.normal(size=30)})  # fmt: skip
    df["y"] = 1 + 2 * df.a - df.b + rng.normal(0, 0.1, 30)
    train, model = tmp_path / "t.csv", tmp_path / "m.olsnet"
    df.to_csv(train, index=False)
    assert _run(["fit", str(train), "-y", "y", "-x", "a", "-x", "b", "--save", str(model)],
                capsys)[0] == 0  # fmt: skip
    new = df.drop(columns="y").copy()
    new.loc[4, "b"] = np.nan
    data = tmp_path / "new.txt"
    new.to_csv(data, index=False, sep="|", na_rep="NA")
    status, out, err = _run(
        ["predict", str(model), str(data), "--sep", "|", "--missing", "drop", "--id", "id"],
        capsys,
    )
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "id,predicted_y" and len(lines) == 31
    assert lines[5] == "r4,NA"
    coef = olsnet.load(model).result_.params
    want = coef[0] + coef[1] * new.a + coef[2] * new.b
    got = [float(line.split(",")[1]) for i, line in enumerate(lines[1:]) if i != 4]
    np.testing.assert_allclose(got, want.drop(index=4), rtol=1e-12)
