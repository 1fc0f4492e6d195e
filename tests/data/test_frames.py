"""pandas and polars DataFrames / Series wherever arrays go: names carried, text refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.errors import InputTypeError

sm = pytest.importorskip("statsmodels.api")


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 2)), columns=["height", "age"])
    df["weight"] = 3.0 + 0.5 * df.height - 0.2 * df.age + rng.normal(size=n)
    df["city"] = rng.choice(["Oslo", "Lima"], n)
    return df


def test_pandas_names_reach_the_result_and_match_statsmodels() -> None:
    df = _frame()
    model = olsnet.LinearRegression().fit(df[["height", "age"]], df["weight"])
    res = model.result_
    assert res.param_names == ("Intercept", "height", "age")
    assert res.target_names == ("weight",)
    assert list(model.feature_names_in_) == ["height", "age"]
    ref = sm.OLS(df["weight"], sm.add_constant(df[["height", "age"]])).fit()
    np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-10)
    assert "height" in res.summary().as_text()


def test_polars_frame_and_series_give_the_pandas_fit() -> None:
    pl = pytest.importorskip("polars")
    df = _frame(seed=1)
    want = olsnet.LinearRegression().fit(df[["height", "age"]], df["weight"]).result_
    pdf = pl.from_pandas(df)
    got = olsnet.LinearRegression().fit(pdf.select("height", "age"), pdf["weight"]).result_
    assert got.param_names == want.param_names and got.target_names == ("weight",)
    np.testing.assert_allclose(got.params, want.params, rtol=1e-12)


@pytest.mark.parametrize("kind", ["pandas-text", "pandas-category", "polars-text"])
def test_text_columns_are_refused_naming_the_column_and_formulas(kind: str) -> None:
    df = _frame(seed=2)
    if kind == "pandas-category":
        df["city"] = df["city"].astype("category")
    X = df[["height", "city"]]
    if kind == "polars-text":
        pl = pytest.importorskip("polars")
        X = pl.from_pandas(X)
    with pytest.raises(InputTypeError, match=r"column 'city'.*formula"):
        olsnet.LinearRegression().fit(X, df["weight"].to_numpy())
    # the formula route encodes it and matches statsmodels
    res = olsnet.ols("weight ~ height + C(city)", df)
    ref = sm.OLS(
        df["weight"],
        sm.add_constant(
            pd.DataFrame({"height": df.height, "oslo": (df.city == "Oslo").astype(float)})
        ),
    ).fit()
    assert res.param_names == ("Intercept", "height", "C(city)[T.Oslo]")
    np.testing.assert_allclose(res.params, ref.params.to_numpy(), rtol=1e-10)
