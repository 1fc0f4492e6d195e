"""R parity of formula fits on R's own data sets, through all three entry points.

Reference values: ``tests/data/r/r_reference.json``, written by ``scripts/r_reference.R`` (R
4.2.2, ``lm`` with ``na.action = na.exclude``) from the CSV files beside it, which the same
script wrote from R's ``datasets`` package and read back with ``read.csv`` (text columns as
factors with alphabetical levels). Regenerate with ``Rscript scripts/r_reference.R``.

Checked: coefficients and standard errors to 1e-9 (relative), nobs, residual df, R², and
``predict(fit, newdata = the raw CSV)``: NaN exactly where R gives NA (rows with a missing
value), one prediction per input row. The three entry points (``olsnet.ols`` on the frame
pandas reads, ``olsnet.read(formula=)`` streamed, ``olsnet fit -f``) agree to 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.cli import main

R_DIR = Path(__file__).parent / "r"
REFERENCE = json.loads((R_DIR / "r_reference.json").read_text())
FITS = sorted(k for k, v in REFERENCE.items() if isinstance(v, dict))


def _array(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _r_level_suffix(r_name: str, ours: str) -> None:
    """R's ``factor(Species)versicolor`` is ours ``C(Species)[T.versicolor]``."""
    if "[T." in ours:
        level = ours.rsplit("[T.", 1)[1].rstrip("]")
        assert r_name.endswith(level), (r_name, ours)


@pytest.mark.parametrize("key", FITS)
def test_ols_reproduces_r_lm(key: str) -> None:
    ref = REFERENCE[key]
    frame = pd.read_csv(R_DIR / ref["data"])
    res = olsnet.ols(ref["formula"], frame, missing="drop")
    assert len(res.param_names) == len(ref["names"])
    for r_name, ours in zip(ref["names"], res.param_names, strict=True):
        _r_level_suffix(r_name, ours)
    np.testing.assert_allclose(res.params, ref["coef"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.bse, ref["se"], rtol=1e-9, atol=0)
    assert res.nobs == ref["nobs"] and res.df_resid == ref["df_resid"]
    assert res.n_dropped == len(frame) - ref["nobs"]
    np.testing.assert_allclose(res.rsquared, ref["r_squared"], rtol=1e-9)
    np.testing.assert_allclose(np.sqrt(res.scale), ref["sigma"], rtol=1e-9)
    # predict(fit, newdata): raw rows, NA where a column the formula reads is NA (na.exclude)
    want = _array(ref["predict_newdata"])
    got = res.predict(frame)
    assert got.shape == (len(frame),)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-9)


def _cli_fit(path: Path, formula: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    status = main(["fit", str(path), "-f", formula, "--missing", "drop", "--format", "json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("key", FITS)
def test_three_entry_points_give_one_model(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    ref = REFERENCE[key]
    path = R_DIR / ref["data"]
    in_memory = olsnet.ols(ref["formula"], pd.read_csv(path), missing="drop")
    source = olsnet.read(path, formula=ref["formula"], missing="drop", batch_rows=40)
    streamed = olsnet.LinearRegression(fit_intercept=source.fit_intercept).fit(source).result_
    cli = _cli_fit(path, ref["formula"], capsys)
    assert streamed.param_names == in_memory.param_names
    assert streamed.nobs == in_memory.nobs and streamed.n_dropped == in_memory.n_dropped
    np.testing.assert_allclose(streamed.params, in_memory.params, rtol=1e-12, atol=1e-13)
    table = cli["outputs"][0]["coefficients"]
    assert tuple(row["name"] for row in table) == in_memory.param_names
    np.testing.assert_allclose(
        [row["coef"] for row in table], in_memory.params, rtol=1e-12, atol=1e-13
    )
    assert cli["nobs"] == in_memory.nobs and cli["n_dropped"] == in_memory.n_dropped


def test_cars_power_is_not_xor() -> None:
    """``I(speed^2)`` on an integer column is R's power (R² 0.6673), never Python's XOR."""
    ref = REFERENCE["cars_power"]
    frame = pd.read_csv(R_DIR / "cars.csv")
    assert frame["speed"].dtype.kind == "i"
    res = olsnet.ols("dist ~ speed + I(speed^2)", frame)
    np.testing.assert_allclose(res.rsquared, ref["r_squared"], rtol=1e-12)
    assert round(ref["r_squared"], 4) == 0.6673
