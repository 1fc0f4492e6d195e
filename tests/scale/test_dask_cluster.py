"""The dask fit on a real distributed cluster: two worker processes on loopback."""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from _scale_data import make_regression

import olsnet
from olsnet.scale import as_source
from olsnet.solve import solve_state


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def test_dask_array_on_cluster_equals_in_memory(client):
    X, Y, w = make_regression(6000, 4, seed=41, weights=True)
    Xd, wd = da.from_array(X, chunks=700), da.from_array(w, chunks=700)
    lazy = olsnet.LinearRegression(cov_type="HC3").fit(Xd, da.from_array(Y[:, 0], chunks=700), wd)
    ref = olsnet.LinearRegression(cov_type="HC3").fit(X, Y[:, 0], w)
    np.testing.assert_allclose(lazy.coef_, ref.coef_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(lazy.result_.bse, ref.result_.bse, rtol=1e-12, atol=0)
    assert len(client.scheduler_info()["workers"]) == 2


def test_dask_dataframe_on_cluster_equals_in_memory(client):
    X, Y, _ = make_regression(5000, 3, q=2, seed=42)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(u=Y[:, 0], v=Y[:, 1])
    ddf = dd.from_pandas(df, npartitions=6)
    source = as_source(ddf[["a", "b", "c"]], ddf[["u", "v"]])
    sol = solve_state(source.fit_state(True))
    ref = olsnet.LinearRegression().fit(df[["a", "b", "c"]], df[["u", "v"]])
    np.testing.assert_allclose(sol.params[1:].T, ref.coef_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(sol.params[0], ref.intercept_, rtol=1e-12, atol=0)
    meats = source.residual_pass(sol.params, sol.R_x, sol.shift_x, sol.kept, True)
    np.testing.assert_allclose(meats.ssr, ref.result_.ssr, rtol=1e-12, atol=0)
