"""Dask arrays and DataFrames on the threads scheduler: the in-memory fit, lazily predicted."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from _scale_data import make_regression

import olsnet
from olsnet.data import ArraySource, as_design
from olsnet.errors import DataError, DimensionError, InputTypeError
from olsnet.inference.covariance import residual_pass
from olsnet.scale import as_source, predict_lazy
from olsnet.solve import solve_state


@pytest.fixture(autouse=True)
def threads_scheduler():
    with dask.config.set(scheduler="threads"):
        yield


def _same_fit(a, b):
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.result_.bse, b.result_.bse, rtol=1e-12, atol=0)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1", "HC3"])
def test_dask_array_fit_equals_in_memory(cov_type):
    X, Y, w = make_regression(7000, 5, q=2, seed=31, weights=True)
    Xd = da.from_array(X, chunks=(900, 3))  # column chunks too: re-chunked to whole rows
    Yd = da.from_array(Y, chunks=(1300, 2))  # other row chunks: aligned to X's
    wd = da.from_array(w, chunks=500)
    lazy = olsnet.LinearRegression(cov_type=cov_type).fit(Xd, Yd, sample_weight=wd)
    _same_fit(lazy, olsnet.LinearRegression(cov_type=cov_type).fit(X, Y, sample_weight=w))


def test_dask_dataframe_fit_equals_in_memory():
    X, Y, _ = make_regression(5000, 3, seed=32)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(t=Y[:, 0])
    ddf = dd.from_pandas(df, npartitions=7)
    lazy = olsnet.LinearRegression(cov_type="HC2").fit(ddf[["a", "b", "c"]], ddf["t"])
    _same_fit(lazy, olsnet.LinearRegression(cov_type="HC2").fit(df[["a", "b", "c"]], df["t"]))
    assert list(lazy.feature_names_in_) == ["a", "b", "c"]
    assert np.ndim(lazy.coef_) == 1


def test_dask_residual_pass_equals_streaming_pass():
    X, Y, w = make_regression(4000, 3, q=2, seed=33, weights=True)
    source = as_source(
        da.from_array(X, chunks=600), da.from_array(Y, chunks=600), da.from_array(w, chunks=600)
    )
    sol = solve_state(source.fit_state(True))
    args = (sol.params, sol.R_x, sol.shift_x, sol.kept, True)
    on_dask = source.residual_pass(*args)
    in_memory = residual_pass(ArraySource(as_design(X, Y, w), 512).blocks(), *args)
    np.testing.assert_allclose(on_dask.meats, in_memory.meats, rtol=1e-12, atol=0)
    np.testing.assert_allclose(on_dask.ssr, in_memory.ssr, rtol=1e-12, atol=0)
    np.testing.assert_allclose(on_dask.gradient, in_memory.gradient, rtol=0, atol=1e-9)
    assert on_dask.nobs == in_memory.nobs == 4000
    assert on_dask.max_leverage == in_memory.max_leverage
    np.testing.assert_allclose(on_dask.sum_log_weights, in_memory.sum_log_weights, rtol=1e-12)


def test_blocks_iterate_every_partition_in_order():
    X, Y, _ = make_regression(1000, 2, seed=34)
    source = as_source(da.from_array(X, chunks=300), da.from_array(Y[:, 0], chunks=300))
    blocks = list(source.blocks())
    assert [b[0].shape[0] for b in blocks] == [300, 300, 300, 100]
    np.testing.assert_array_equal(np.vstack([b[0] for b in blocks]), X)


def test_predictions_stay_lazy():
    X, Y, _ = make_regression(2000, 3, q=2, seed=35)
    Xd = da.from_array(X, chunks=400)
    model = olsnet.LinearRegression().fit(Xd, da.from_array(Y, chunks=400))
    pred = model.predict(Xd)
    assert isinstance(pred, da.Array) and pred.shape == (2000, 2)
    np.testing.assert_allclose(
        pred.compute(), X @ model.coef_.T + model.intercept_, rtol=0, atol=1e-12
    )
    one = predict_lazy(model.coef_[0], model.intercept_[0], Xd)
    assert one.shape == (2000,)
    np.testing.assert_allclose(one.compute(), pred.compute()[:, 0], rtol=0, atol=1e-12)


def test_nan_in_a_partition_names_partition_and_row():
    X, Y, _ = make_regression(1000, 2, seed=36)
    X[650, 1] = np.nan
    source = as_source(da.from_array(X, chunks=300), da.from_array(Y[:, 0], chunks=300))
    with pytest.raises(DataError, match=r"partition 2, row 50: column 'x2' holds nan"):
        source.fit_state(True)


def test_bad_inputs_are_refused():
    X, Y, _ = make_regression(100, 2, seed=37)
    with pytest.raises(DimensionError, match="different numbers of rows"):
        as_source(da.from_array(X, chunks=30), da.from_array(Y[:90, 0], chunks=30))
    df = dd.from_pandas(pd.DataFrame({"a": X[:, 0], "s": ["u"] * 100}), npartitions=2)
    with pytest.raises(InputTypeError, match="column 's'"):
        as_source(df, df["a"])


def test_read_dask_parquet_equals_in_memory(tmp_path):
    from olsnet.scale import read_dask

    X, Y, _ = make_regression(3000, 3, seed=38)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(t=Y[:, 0])
    for i, rows in enumerate(np.array_split(np.arange(3000), 3)):
        df.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    source = read_dask(str(tmp_path / "*.parquet"), y="t")
    assert source.feature_names == ("a", "b", "c") and source.y_ndim == 1
    lazy = olsnet.LinearRegression().fit(source)
    _same_fit(lazy, olsnet.LinearRegression().fit(df[["a", "b", "c"]], df["t"]))
