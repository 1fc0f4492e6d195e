"""Streaming CSV / Parquet files on a thread pool: the in-memory fit, errors that name the row."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _scale_data import make_regression

import olsnet
from olsnet.errors import DataFileError
from olsnet.scale import RichProgress

N, P = 6000, 4


@pytest.fixture(scope="module")
def frame():
    X, Y, w = make_regression(N, P, seed=21, weights=True)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(P)])
    df["y"] = Y[:, 0]
    df["w"] = w
    return df


@pytest.fixture(scope="module", params=["parquet", "csv"])
def files(request, frame, tmp_path_factory):
    """The frame split over three files of one format."""
    root = tmp_path_factory.mktemp(request.param)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        part = frame.iloc[rows]
        path = root / f"part-{i}.{request.param}"
        if request.param == "parquet":
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, index=False, float_format="%.17g")  # round-trips every double
    return root


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC3"])
@pytest.mark.parametrize("weighted", [False, True])
def test_streamed_fit_equals_in_memory(files, frame, cov_type, weighted):
    xs = [f"x{j}" for j in range(P)]
    source = olsnet.read(files, y="y", x=xs, weights="w" if weighted else None, batch_rows=1000)
    streamed = olsnet.LinearRegression(cov_type=cov_type).fit(source, n_jobs=2)
    w = frame["w"] if weighted else None
    in_memory = olsnet.LinearRegression(cov_type=cov_type).fit(frame[xs], frame["y"], w)
    np.testing.assert_allclose(streamed.coef_, in_memory.coef_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(streamed.intercept_, in_memory.intercept_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(streamed.result_.bse, in_memory.result_.bse, rtol=1e-12, atol=0)
    exog = sm.add_constant(frame[xs].to_numpy())
    ref = sm.WLS(frame["y"].to_numpy(), exog, weights=1.0 if w is None else w.to_numpy())
    ref = ref.fit(cov_type=cov_type)
    np.testing.assert_allclose(streamed.result_.bse, ref.bse, rtol=1e-9, atol=0)


def test_thread_count_does_not_change_the_streamed_fit(files):
    source = olsnet.read(files, y="y", batch_rows=700)
    fits = [olsnet.LinearRegression().fit(source, n_jobs=n) for n in (1, 2, 4)]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.coef_, fits[0].coef_)


def test_file_going_bad_in_the_middle_names_file_and_line(frame, tmp_path):
    good = tmp_path / "a.csv"
    frame.to_csv(good, index=False)
    lines = good.read_text().splitlines()
    lines[4500] = lines[4500].replace(",", ",oops", 1)  # data row 4499, line 4501
    bad = tmp_path / "b.csv"
    bad.write_text("\n".join(lines) + "\n")
    model = olsnet.LinearRegression()
    with pytest.raises(DataFileError, match=r"b\.csv, line 4501, column 'x1'"):
        model.fit(olsnet.read([good, bad], y="y", batch_rows=500))
    assert not hasattr(model, "coef_")  # nothing half-fitted


def test_truncated_parquet_file_is_named(frame, tmp_path):
    path = tmp_path / "cut.parquet"
    frame.to_parquet(path, index=False, row_group_size=1000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[-2000:])  # row groups gone, footer kept
    with pytest.raises(DataFileError, match=r"cut\.parquet"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y", batch_rows=500))


def test_progress_reports_rows_of_each_pass(files, frame):
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False)
    source = olsnet.read(files, y="y", batch_rows=1000)
    with RichProgress(console) as bar:
        model = olsnet.LinearRegression(cov_type="HC0").fit(source, on_batch=bar)
    assert bar.rows == N
    text = out.getvalue()
    assert "fitting" in text and f"{N:,} rows" in text
    ref = olsnet.LinearRegression(cov_type="HC0").fit(frame.drop(columns="y"), frame["y"])
    np.testing.assert_allclose(model.result_.bse, ref.result_.bse, rtol=1e-12, atol=0)


def test_missing_value_in_parquet_names_file_row_and_column(frame, tmp_path):
    bad = frame.copy()
    bad.loc[3210, "x2"] = np.nan
    path = tmp_path / "holes.parquet"
    bad.to_parquet(path, index=False, row_group_size=1000)
    with pytest.raises(DataFileError, match=r"holes\.parquet, row 3211, column 'x2': a missing"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y", batch_rows=800))


def test_negative_weight_names_file_line_and_column(frame, tmp_path):
    bad = frame.copy()
    bad.loc[777, "w"] = -1.0
    path = tmp_path / "w.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(DataFileError, match=r"w\.csv, line 779, column 'w': weight -1\.0"):
        olsnet.LinearRegression().fit(olsnet.read(path, y="y", weights="w"))
