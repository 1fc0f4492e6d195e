"""Level codes found on Arrow columns (the streamed fit's and ``predict_files``' fast path)
agree with pandas' Categorical codes, and every value that is not exactly a stored level
falls back to the general rule (spellings such as ``"+2"``, unseen levels named by row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import olsnet
from olsnet.api import model_spec_of, predict_files
from olsnet.data.files.formula_source import arrow_level_codes
from olsnet.errors import UnseenLevelError

LEVELS = ("Aachen", "Bonn", "Köln")


def _pandas_codes(values: list, levels: tuple) -> np.ndarray:
    """The independent reference: pandas' Categorical codes (-1 for a missing value)."""
    return np.asarray(pd.Categorical(values, categories=list(levels)).codes, dtype=np.int64)


@pytest.mark.parametrize("kind", ["string", "large_string", "dictionary"])
def test_text_codes_match_pandas_with_nulls(kind: str) -> None:
    values = ["Bonn", None, "Köln", "Aachen", "Bonn", None, "Köln"]
    arr = pa.array(values, pa.large_string() if kind == "large_string" else pa.string())
    if kind == "dictionary":
        arr = arr.dictionary_encode()
    got = arrow_level_codes(arr, LEVELS)
    assert got is not None
    np.testing.assert_array_equal(got, _pandas_codes(values, LEVELS))


def test_integer_codes_and_unusable_kinds() -> None:
    values = [3, 1, None, 2, 3]
    got = arrow_level_codes(pa.array(values, pa.int64()), (1, 2, 3))
    np.testing.assert_array_equal(got, _pandas_codes(values, (1, 2, 3)))
    # digits read as text from a CSV column in C(): "2" is the level 2
    np.testing.assert_array_equal(
        arrow_level_codes(pa.array(["3", None, "1"]), (1, 2, 3)),
        _pandas_codes([3, None, 1], (1, 2, 3)),
    )
    # an int8 column cannot hold the level 1000: the general path decides
    assert arrow_level_codes(pa.array([1, 2], pa.int8()), (1, 1000)) is None
    # floats and mixed levels are left to the general path
    assert arrow_level_codes(pa.array([1.0, 2.0]), (1, 2)) is None
    assert arrow_level_codes(pa.array(["a"]), ("a", 1)) is None


def test_a_value_that_is_not_exactly_a_level_falls_back() -> None:
    assert arrow_level_codes(pa.array(["Bonn", "Trier"]), LEVELS) is None
    assert arrow_level_codes(pa.array(["+2", "3"]), (2, 3)) is None
    assert arrow_level_codes(pa.array(["02", "3"]), (2, 3)) is None
    # a dictionary holding an unused value outside the levels still encodes its used ones
    arr = pa.DictionaryArray.from_arrays(pa.array([0, 2, None], pa.int32()),
                                         pa.array(["Bonn", "Trier", "Köln"]))  # fmt: skip
    np.testing.assert_array_equal(arrow_level_codes(arr, LEVELS), [1, 2, -1])
    used = pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["Bonn", "Trier"]))
    assert arrow_level_codes(used, LEVELS) is None


def _houses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"sqft": rng.uniform(40, 300, n), "city": rng.choice(list(LEVELS), n),
                       "k": rng.integers(1, 4, n)})  # fmt: skip
    df["price"] = 50 + 30 * np.log(df.sqft) + 5 * (df.city == "Bonn") + rng.normal(0, 2, n)
    return df


@pytest.mark.parametrize("stored", ["text", "dictionary"])
def test_predict_files_from_parquet_equals_the_frame(tmp_path: Path, stored: str) -> None:
    """Parquet text read as strings or as a dictionary (a pandas category); the predictions equal ``result.predict`` on the
    same rows read by pandas (the general path), to 1e-12, NaN where a value is missing."""
    res = olsnet.ols("price ~ np.log(sqft) + C(city) + C(k)", _houses(300, 0))
    new = _houses(1000, 1).drop(columns="price")
    new.loc[[3, 500], "city"] = None
    written = new.astype({"city": "category"}) if stored == "dictionary" else new
    written.to_parquet(tmp_path / "new.parquet", row_group_size=128)
    kind = pq.read_schema(tmp_path / "new.parquet").field("city").type
    assert pa.types.is_dictionary(kind) == (stored == "dictionary")
    p = res.params
    blocks = list(predict_files(p[1:][None, :], p[:1], tmp_path / "new.parquet",
                                spec=model_spec_of(res), batch_rows=256))  # fmt: skip
    got = np.concatenate([b.predictions[:, 0] for b in blocks])
    want = res.predict(new, missing="drop")
    np.testing.assert_array_equal(np.isnan(got), [i in (3, 500) for i in range(1000)])
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-12)
    assert sum(b.n_missing for b in blocks) == 2
    # an unseen level in a later batch: named with its column, level and row
    new.loc[700, "city"] = "Trier"
    (new.astype({"city": "category"}) if stored == "dictionary" else new).to_parquet(
        tmp_path / "bad.parquet", row_group_size=128
    )
    with pytest.raises(UnseenLevelError, match=r"'city' has the level 'Trier' at .*row 701"):
        list(predict_files(p[1:][None, :], p[:1], tmp_path / "bad.parquet",
                           spec=model_spec_of(res), batch_rows=256))  # fmt: skip


def test_streamed_fit_from_dictionary_parquet_equals_statsmodels(tmp_path: Path) -> None:
    """A fit streamed from Parquet whose text is stored as dictionaries (several batches, a
    missing level dropped and counted) gives statsmodels' coefficients on the frame."""
    smf = pytest.importorskip("statsmodels.formula.api")
    df = _houses(900, 4)
    df.loc[[10, 400], "city"] = None
    df.astype({"city": "category"}).to_parquet(tmp_path / "h.parquet", row_group_size=100)
    formula = "price ~ np.log(sqft) + C(city) + C(k)"
    src = olsnet.read(tmp_path / "h.parquet", formula=formula, missing="drop", batch_rows=128)
    res = olsnet.LinearRegression().fit(src).result_
    ref = smf.ols(formula, df.dropna()).fit()
    names = list(res.param_names)  # patsy puts the categorical terms first
    assert res.nobs == 898 and sorted(names) == sorted(ref.params.index)
    np.testing.assert_allclose(res.params, ref.params[names].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.bse, ref.bse[names].to_numpy(), rtol=1e-10)
