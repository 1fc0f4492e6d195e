"""The model spec: missing values in every column type and source, predictions on raw data,
unseen levels, dates, C() from files, R idioms, text targets, dask, bad input.

References are computed independently: statsmodels (patsy follows R's formula meaning) on the
rows R would keep (``dropna`` by hand), hand-built numeric columns (days since 1970-01-01),
and exact counts of the rows built with missing values.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.data.model_spec import ModelSpec
from olsnet.errors import (
    DataError,
    DataFileError,
    FormatError,
    FormulaError,
    InputTypeError,
    OptionError,
    UnseenLevelError,
)

smf = pytest.importorskip("statsmodels.formula.api")


def _penguins(n: int = 344, seed: int = 0) -> pd.DataFrame:
    """Penguin-like data: text columns with missing values at known rows."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "species": rng.choice(["Adelie", "Chinstrap", "Gentoo"], n),
            "sex": rng.choice(["female", "male"], n).astype(object),
            "flipper": rng.normal(200, 14, n).round(1),
        }
    )
    df["mass"] = (
        20 * df.flipper
        + 400 * (df.sex == "male")
        + 300 * (df.species == "Gentoo")
        + rng.normal(0, 300, n)
    ).round(1)
    df.loc[[3, 8, 10, 11, 47, 246, 286, 324, 336], "sex"] = None  # 9 rows without sex
    df.loc[[3, 339], "flipper"] = np.nan  # row 3 twice: 10 incomplete rows in all
    return df


FORMULA = "mass ~ species + sex + flipper"
N_COMPLETE = 344 - 10


def _reference(df: pd.DataFrame) -> object:
    return smf.ols(FORMULA, df.dropna()).fit()


def _check(res: object, ref: object) -> None:
    assert res.nobs == N_COMPLETE and res.n_dropped == 10
    assert res.param_names == (
        "Intercept",
        "species[T.Chinstrap]",
        "species[T.Gentoo]",
        "sex[T.male]",
        "flipper",
    )
    np.testing.assert_allclose(res.params, ref.params[list(res.param_names)], rtol=1e-10)
    np.testing.assert_allclose(res.bse, ref.bse[list(res.param_names)], rtol=1e-10)


# -- 1. missing values in every column type and source ---------------------------------------


def test_na_and_empty_fields_in_a_csv_text_column_are_missing(tmp_path: Path) -> None:
    df = _penguins()
    path = tmp_path / "penguins.csv"
    text = df.to_csv(index=False, na_rep="NA")
    text = text.replace("\n", "\n", 1)
    lines = text.splitlines()
    # row 8 (line 10): an empty field instead of NA, as spreadsheets write it
    lines[9] = lines[9].replace(",NA,", ",,")
    path.write_text("\n".join(lines) + "\n")
    ref = _reference(df)
    src = olsnet.read(path, formula=FORMULA, missing="drop", batch_rows=50)
    res = olsnet.LinearRegression(fit_intercept=src.fit_intercept).fit(src).result_
    _check(res, ref)
    _check(olsnet.ols(FORMULA, pd.read_csv(path), missing="drop"), ref)
    with pytest.raises(DataFileError, match=r"penguins.csv, line 5.*column 'sex'|column 'sex'"):
        olsnet.LinearRegression().fit(olsnet.read(path, formula=FORMULA, batch_rows=50))


def test_missing_values_in_every_frame_dtype(tmp_path: Path) -> None:
    df = _penguins()
    ref = _reference(df)
    frames = {
        "object": df,
        "string": df.astype({"sex": "string", "species": "string"}),
        "category": df.astype({"sex": "category", "species": "category"}),
        "pyarrow": df.convert_dtypes(dtype_backend="pyarrow"),
        "nullable": df.convert_dtypes(),
    }
    for name, frame in frames.items():
        res = olsnet.ols(FORMULA, frame, missing="drop")
        _check(res, ref)
        with pytest.raises(DataError, match=r"column '(sex|flipper)' has a missing value at row 3"):
            olsnet.ols(FORMULA, frame)
        assert name
    pl = pytest.importorskip("polars")
    _check(olsnet.ols(FORMULA, pl.from_pandas(df), missing="drop"), ref)
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "p.parquet")
    src = olsnet.read(tmp_path / "p.parquet", formula=FORMULA, missing="drop", batch_rows=64)
    _check(olsnet.LinearRegression().fit(src).result_, ref)


def test_missing_values_in_a_dask_frame() -> None:
    dd = pytest.importorskip("dask.dataframe")
    df = _penguins()
    res = olsnet.ols(FORMULA, dd.from_pandas(df, npartitions=3), missing="drop")
    _check(res, _reference(df))
    with pytest.raises(DataError, match="missing value"):
        olsnet.ols(FORMULA, dd.from_pandas(df, npartitions=3))


# -- 2. predictions on raw data, from the result, the estimator and the model file -----------


def _houses(n: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "sqft": rng.uniform(40, 300, n),
            "city": rng.choice(["Bonn", "Köln", "Aachen"], n),
            "age": rng.integers(0, 80, n),
        }
    )
    df["price"] = 50 + 30 * np.log(df.sqft) + 5 * (df.city == "Köln") + rng.normal(0, 2, n)
    return df


HOUSES = "price ~ np.log(sqft) + C(city) + center(age)"


def test_result_predicts_raw_rows_as_statsmodels(tmp_path: Path) -> None:
    df = _houses()
    new = _houses(n=30, seed=9)
    res = olsnet.ols(HOUSES, df)
    ref = smf.ols(HOUSES, df).fit()
    np.testing.assert_allclose(res.predict(new), ref.predict(new), rtol=1e-10)
    pred = res.get_prediction(new)
    sm_frame = ref.get_prediction(new).summary_frame()
    np.testing.assert_allclose(pred.predicted_mean, sm_frame["mean"], rtol=1e-10)
    np.testing.assert_allclose(pred.se_mean, sm_frame["mean_se"], rtol=1e-9)
    # the model file: the spec travels as JSON, no pickle; the loaded result predicts the same
    olsnet.save(res, tmp_path / "m.olsnet")
    loaded = olsnet.load(tmp_path / "m.olsnet")
    assert loaded.model_spec == res.model_spec
    np.testing.assert_allclose(loaded.predict(new), ref.predict(new), rtol=1e-10)
    # a dict of columns works too
    np.testing.assert_allclose(res.predict({c: new[c].to_numpy() for c in new}), ref.predict(new))


def test_estimator_fitted_on_a_formula_file_predicts_raw_rows(tmp_path: Path) -> None:
    df = _houses()
    df.to_csv(tmp_path / "h.csv", index=False)
    formula = "price ~ np.log(sqft) + C(city) + age"
    model = olsnet.LinearRegression().fit(olsnet.read(tmp_path / "h.csv", formula=formula))
    ref = smf.ols(formula, df).fit()
    np.testing.assert_allclose(model.predict(df), ref.fittedvalues, rtol=1e-10)
    olsnet.save(model, tmp_path / "m.olsnet")
    loaded = olsnet.load(tmp_path / "m.olsnet")
    assert loaded.model_spec_.formula == formula
    np.testing.assert_allclose(loaded.predict(df.head(7)), ref.fittedvalues[:7], rtol=1e-10)


def test_spec_json_round_trip_keeps_stateful_transform_state() -> None:
    df = _houses()
    res = olsnet.ols("price ~ scale(sqft) + poly(age, degree=2) + bs(sqft, df=4)", df)
    text = json.dumps(res.model_spec.to_json())
    spec = ModelSpec.from_json(json.loads(text))
    new = _houses(n=11, seed=3)
    np.testing.assert_allclose(
        spec.design_matrix(new), res.model_spec.design_matrix(new), rtol=1e-13
    )


# -- 3. unseen and missing levels ---------------------------------------------------------------


def test_unseen_level_is_named_and_missing_level_follows_missing() -> None:
    df = _houses()
    res = olsnet.ols(HOUSES, df)
    new = _houses(n=6, seed=4)
    new.loc[2, "city"] = None
    new.loc[4, "city"] = "Trier"
    with pytest.raises(UnseenLevelError, match=r"column 'city' has the level 'Trier' at row 4"):
        res.predict(new)
    new.loc[4, "city"] = "Bonn"
    pred = res.predict(new)
    assert pred.shape == (6,) and np.isnan(pred[2]) and np.isfinite(np.delete(pred, 2)).all()
    ref = smf.ols(HOUSES, df).fit().predict(new.drop(index=2))
    np.testing.assert_allclose(np.delete(pred, 2), ref, rtol=1e-10)
    with pytest.raises(DataError, match=r"column 'city' has a missing value at row 2"):
        res.predict(new, missing="raise")


# -- 5. dates ------------------------------------------------------------------------------------


def _dated(n: int = 90, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-03-01", periods=n, freq="D")
    df = pd.DataFrame({"day": [d.date() for d in days], "x": rng.normal(size=n)})
    df["y"] = 0.01 * np.arange(n) + df.x + rng.normal(0, 0.1, n)
    return df


def test_a_date_is_days_since_1970_as_r_lm() -> None:
    df = _dated()
    days = np.array([(d - dt.date(1970, 1, 1)).days for d in df.day], dtype=float)
    ref = smf.ols("y ~ days + x", df.assign(days=days)).fit()
    import pyarrow as pa

    arrow = pa.table({"day": pa.array(df.day, pa.date32()), "x": df.x, "y": df.y})
    for data in (df, arrow, arrow.to_pandas(types_mapper=pd.ArrowDtype)):
        res = olsnet.ols("y ~ day + x", data)
        assert res.param_names == ("Intercept", "day[days]", "x")
        np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-9)
        assert "day[days]" in res.summary().as_text()


def test_a_datetime_is_seconds_and_tz_aware_ones_are_utc() -> None:
    df = _dated()
    stamps = pd.date_range("2021-03-01 06:00", periods=len(df), freq="h", tz="Europe/Berlin")
    seconds = (stamps.tz_convert("UTC").tz_localize(None) - pd.Timestamp(0)).total_seconds()
    ref = smf.ols("y ~ s", df.assign(s=np.asarray(seconds))).fit()
    res = olsnet.ols("y ~ t", df.assign(t=stamps))
    assert res.param_names == ("Intercept", "t[seconds]")
    np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-8)
    naive = olsnet.ols("y ~ t", df.assign(t=stamps.tz_convert("UTC").tz_localize(None)))
    np.testing.assert_allclose(naive.params, res.params, rtol=1e-12)


def test_a_date_inside_c_is_a_category_and_inside_log_is_refused() -> None:
    df = _dated(n=12)
    res = olsnet.ols("y ~ C(day)", df)
    assert res.param_names[1] == "C(day)[T.2021-03-02]" and len(res.param_names) == 12
    with pytest.raises(FormulaError, match=r"date column 'day' inside 'np.log' makes no sense"):
        olsnet.ols("y ~ np.log(day)", df)
    shifted = olsnet.ols("y ~ I(day - 18000)", df.head(12))
    assert shifted.param_names == ("Intercept", "I(`day[days]` - 18000)")


def test_dates_from_csv_files(tmp_path: Path) -> None:
    df = _dated()
    df.to_csv(tmp_path / "d.csv", index=False)
    src = olsnet.read(tmp_path / "d.csv", formula="y ~ day + x")
    res = olsnet.LinearRegression().fit(src).result_
    want = olsnet.ols("y ~ day + x", df)
    assert res.param_names == want.param_names
    np.testing.assert_allclose(res.params, want.params, rtol=1e-10)


# -- 6. C(col) is text from the first row of a file -----------------------------------------------


def test_c_column_is_read_as_text_from_the_first_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    code = rng.choice(["0", "1", "2"], n).astype(object)
    code[2500:2510] = "A"  # digit codes for 2,500 rows, then a letter
    y = rng.normal(size=n) + (code == "A")
    path = tmp_path / "z.csv"
    pd.DataFrame({"code": code, "y": y}).to_csv(path, index=False)
    src = olsnet.read(path, formula="y ~ C(code)", batch_rows=500)
    res = olsnet.LinearRegression().fit(src).result_
    ref = smf.ols("y ~ C(code)", pd.DataFrame({"code": code, "y": y})).fit()
    assert set(res.param_names) == set(ref.params.index)
    np.testing.assert_allclose(res.params, ref.params[list(res.param_names)], rtol=1e-10)


def test_digit_levels_of_a_file_equal_the_frame_s_integers(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"k": rng.integers(1, 12, 300), "y": rng.normal(size=300)})
    df.to_csv(tmp_path / "k.csv", index=False)
    res = olsnet.LinearRegression().fit(olsnet.read(tmp_path / "k.csv", formula="y ~ C(k)"))
    want = olsnet.ols("y ~ C(k)", df)
    assert res.result_.param_names == want.param_names  # 2 < 10, not "10" < "2"
    np.testing.assert_allclose(res.result_.params, want.params, rtol=1e-12)


# -- 7. R idioms -----------------------------------------------------------------------------------


def test_r_idioms_factor_dot_and_dotted_names() -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "Solar.R": rng.uniform(10, 300, 80),
            "k": rng.integers(0, 3, 80),
            "w": rng.normal(size=80),
        }
    )
    df["y"] = 0.1 * df["Solar.R"] + df.k + rng.normal(size=80)
    ref = smf.ols('y ~ Q("Solar.R") + C(k) + w', df).fit()
    for formula in (
        "y ~ Solar.R + factor(k) + w",
        "y ~ `Solar.R` + C(k) + w",
        "y ~ . - k + factor(k)",
    ):
        res = olsnet.ols(formula, df)
        assert res.param_names[0] == "Intercept" and "Solar.R" in res.param_names[1]
        np.testing.assert_allclose(sorted(res.params), sorted(ref.params), rtol=1e-10)
    res = olsnet.ols("y ~ I(Solar.R^2) + log(Solar.R)", df)
    ref = smf.ols('y ~ I(Q("Solar.R")**2) + np.log(Q("Solar.R"))', df).fit()
    np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-9)


def test_several_targets_from_frames_and_files(tmp_path: Path) -> None:
    df = _houses()
    df["rent"] = df.price / 20 + np.random.default_rng(0).normal(size=len(df))
    df.to_csv(tmp_path / "h.csv", index=False)
    formula = "price + rent ~ np.log(sqft) + C(city)"
    res = olsnet.ols(formula, df)
    src = olsnet.read(tmp_path / "h.csv", formula=formula)
    streamed = olsnet.LinearRegression().fit(src).result_
    assert res.target_names == streamed.target_names == ("price", "rent")
    for j, target in enumerate(("price", "rent")):
        ref = smf.ols(formula.replace("price + rent", target), df).fit()
        want = ref.params[list(res.param_names)].to_numpy()
        np.testing.assert_allclose(res.params[:, j], want, rtol=1e-10)
        np.testing.assert_allclose(streamed.params[:, j], want, rtol=1e-10)


# -- 8. a text target ------------------------------------------------------------------------------


def test_a_text_target_is_refused_unless_asked(tmp_path: Path) -> None:
    df = _houses()
    with pytest.raises(FormulaError, match=r"the target 'city' is a text column"):
        olsnet.ols("city ~ sqft", df)
    df.to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(FormulaError, match=r"the target 'city' is a text column"):
        olsnet.read(tmp_path / "h.csv", formula="city ~ sqft")
    asked = olsnet.ols("C(city) ~ sqft", df)
    assert asked.target_names == ("C(city)[Aachen]", "C(city)[Bonn]", "C(city)[Köln]")
    assert olsnet.ols("city ~ sqft", df, text_target=True).n_outputs == 3


# -- 9. dask ---------------------------------------------------------------------------------------


def test_dask_frames_and_read_dask_take_formulas(tmp_path: Path) -> None:
    dd = pytest.importorskip("dask.dataframe")
    df = _houses(n=500)
    formula = "price ~ np.log(sqft) + C(city) + age"
    ref = smf.ols(formula, df).fit()
    res = olsnet.ols(formula, dd.from_pandas(df, npartitions=4))
    np.testing.assert_allclose(res.params, ref.params[list(res.param_names)], rtol=1e-10)
    np.testing.assert_allclose(res.bse, ref.bse[list(res.param_names)], rtol=1e-10)
    np.testing.assert_allclose(res.predict(df.head(5)), ref.fittedvalues[:5], rtol=1e-10)
    df.to_csv(tmp_path / "h.csv", index=False)
    src = olsnet.scale.read_dask(str(tmp_path / "h.csv"), formula=formula, blocksize=4000)
    fitted = olsnet.LinearRegression(fit_intercept=src.fit_intercept).fit(src).result_
    np.testing.assert_allclose(fitted.params, ref.params[list(fitted.param_names)], rtol=1e-10)
    with pytest.raises(OptionError, match="stateful transform"):
        olsnet.ols("price ~ center(age)", dd.from_pandas(df, npartitions=4))
    # read_dask also takes a dask DataFrame (the reading options apply to files only)
    frame_src = olsnet.scale.read_dask(dd.from_pandas(df, npartitions=3), formula=formula)
    again = olsnet.LinearRegression(fit_intercept=True).fit(frame_src).result_
    np.testing.assert_allclose(again.params, ref.params[list(again.param_names)], rtol=1e-10)
    with pytest.raises(InputTypeError, match="options apply to files only"):
        olsnet.scale.read_dask(dd.from_pandas(df, npartitions=3), formula=formula, blocksize=9)


def test_olsnet_scale_is_reachable_after_import_olsnet() -> None:
    import subprocess
    import sys

    code = "import olsnet; print(olsnet.scale.read_dask.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "read_dask"


# -- bad input -------------------------------------------------------------------------------------


def test_unknown_column_names_close_matches() -> None:
    df = _houses()
    with pytest.raises(FormulaError, match=r"uses 'sqtf'.*did you mean 'sqft'"):
        olsnet.ols("price ~ np.log(sqtf)", df)
    res = olsnet.ols("price ~ sqft", df)
    with pytest.raises(FormulaError, match=r"uses 'sqft'.*did you mean 'sqft2'"):
        res.predict(df.rename(columns={"sqft": "sqft2"}))


def test_syntax_error_quotes_the_formula_and_points_at_the_position() -> None:
    with pytest.raises(
        FormulaError, match=r"'price ~ sqft \+ \(city' cannot be read at position 16"
    ):
        olsnet.ols("price ~ sqft + (city", _houses())
    with pytest.raises(FormulaError, match=r"at position 11.*\n    price ~ x \+\* x\n {14}\^"):
        olsnet.ols("price ~ x +* x", _houses().assign(x=1.0))


def test_model_file_whose_spec_does_not_match_its_coefficients(tmp_path: Path) -> None:
    import zipfile

    res = olsnet.ols("price ~ np.log(sqft) + C(city)", _houses())
    path = tmp_path / "m.olsnet"
    olsnet.save(res, path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    meta = json.loads(members["metadata.json"])

    def rewrite(change: object) -> Path:
        m = json.loads(json.dumps(meta))
        change(m["object"]["model_spec"])
        bad = tmp_path / "bad.olsnet"
        with zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                zf.writestr(name, json.dumps(m).encode() if name == "metadata.json" else data)
        return bad

    def drop_level(spec: dict) -> None:
        spec["levels"][0][1] = spec["levels"][0][1][:2]  # a level fewer: one column fewer

    def other_formula(spec: dict) -> None:
        spec["expanded"] = spec["formula"] = "price ~ sqft + C(city)"

    def code(spec: dict) -> None:
        spec["expanded"] = "price ~ np.log(sqft) + C(city) + np.savetxt('marker', sqft)"

    for change in (drop_level, other_formula, code):
        with pytest.raises(FormatError):
            olsnet.load(rewrite(change))
    assert not (tmp_path / "marker").exists()


def test_stateful_transform_over_several_batches_is_still_refused(tmp_path: Path) -> None:
    df = _houses(n=2000)
    df.to_parquet(tmp_path / "h.parquet", row_group_size=500)
    with pytest.raises(OptionError, match=r"'center\(age\)' is a stateful transform"):
        olsnet.read(tmp_path / "h.parquet", formula="price ~ center(age)", batch_rows=500)


def test_contrasts_travel_in_the_spec_json() -> None:
    df = _houses()
    new = _houses(n=9, seed=8)
    for ours, patsy in (
        (
            "price ~ C(city, contr.treatment('Köln')) + sqft",
            "price ~ C(city, Treatment('Köln')) + sqft",
        ),
        ("price ~ C(city, contr.sum) + sqft", "price ~ C(city, Sum) + sqft"),
    ):
        res = olsnet.ols(ours, df, allow_python=False)
        spec = ModelSpec.from_json(json.loads(json.dumps(res.model_spec.to_json())))
        ref = smf.ols(patsy, df).fit()  # patsy's spelling of the same contrasts
        np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-9)
        np.testing.assert_allclose(spec.design_matrix(new), res.model_spec.design_matrix(new))
        np.testing.assert_allclose(res.predict(new), ref.predict(new), rtol=1e-10)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format", "pickle", "format 'pickle'"),
        ("feature_names", "abc", "'feature_names' must be a list of strings"),
        ("levels", [["city", [{"x": 1}]]], "'levels' must hold"),
        ("dates", [["day", "weeks"]], "'dates' must hold"),
        ("fit_intercept", "yes", "'fit_intercept' must be true or false"),
        ("transform_state", [], "'transform_state' must be"),
    ],
)
def test_malformed_spec_json_is_a_format_error_naming_the_field(
    field: str, value: object, message: str
) -> None:
    good = olsnet.ols("price ~ np.log(sqft) + C(city)", _houses()).model_spec.to_json()
    with pytest.raises(FormatError, match=message):
        ModelSpec.from_json({**good, field: value})
    with pytest.raises(FormatError, match=r"missing|malformed"):
        ModelSpec.from_json({k: v for k, v in good.items() if k != "columns"})


def test_a_wide_design_is_encoded_in_blocks_with_the_same_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import olsnet.api

    rng = np.random.default_rng(11)
    n = 3000
    df = pd.DataFrame(
        {
            "g": rng.choice([f"l{i}" for i in range(40)], n),
            "x": rng.normal(size=n),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    df["y"] = df.x + rng.normal(size=n)
    monkeypatch.setattr(olsnet.api, "IN_MEMORY_DESIGN_BYTES", 1000)  # force the block path
    res = olsnet.ols("y ~ x + C(g)", df, weights="w", cov_type="HC3")
    ref = smf.wls("y ~ x + C(g)", df, weights=df.w).fit(cov_type="HC3")
    names = list(res.param_names)
    np.testing.assert_allclose(res.params, ref.params[names], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.bse, ref.bse[names], rtol=1e-10)
