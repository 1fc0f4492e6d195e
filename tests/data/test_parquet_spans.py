"""Parquet files folded on several threads read their own row groups (``parquet_spans``): the
same state as the one-stream read, errors naming the file's row, progress adding up to the file.
References: the exact in-memory solver on the same arrays, and the one-thread stream read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import olsnet
from olsnet.data import _file_fold
from olsnet.errors import DataFileError
from olsnet.solve import exact_lstsq, solve_state


def _write(path: Path, X: np.ndarray, y: np.ndarray, group_rows: int) -> None:
    cols = {f"x{j + 1}": X[:, j] for j in range(X.shape[1])} | {"y": y}
    pq.write_table(pa.table(cols), path, row_group_size=group_rows)


def _data(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 5.0
    return X, X @ rng.standard_normal(p) + 1.0 + rng.standard_normal(n)


def test_threads_read_row_groups_and_give_the_one_thread_fit(tmp_path, monkeypatch) -> None:
    X, y = _data(23_456, 4, 1)
    path = tmp_path / "d.parquet"
    _write(path, X, y, 3000)  # 8 groups, the last one short
    spans = []
    real = _file_fold.read_parquet_span

    def spy(path, meta, groups, *args, **kw):
        spans.append(list(groups))
        return real(path, meta, groups, *args, **kw)

    monkeypatch.setattr(_file_fold, "read_parquet_span", spy)
    src = olsnet.read(path, y="y", batch_rows=5000)
    progress: list[tuple[int, int]] = []
    many = src.fit_state(True, n_jobs=4, on_batch=lambda r, b: progress.append((r, b)))
    assert sorted(g for s in spans for g in s) == list(range(8))  # every group read once
    assert sum(r for r, _ in progress) == 23_456
    assert sum(b for _, b in progress) == path.stat().st_size
    spans.clear()
    for n_jobs in (1, 2):  # below SPAN_MIN_WORKERS: one stream, read by this thread
        one = src.fit_state(True, n_jobs=n_jobs)
        assert spans == []
    ref = exact_lstsq(X, y[:, None], None, True)
    for state in (many, one):
        np.testing.assert_allclose(solve_state(state).params, ref.params, rtol=1e-11)
    assert many.nobs == one.nobs == 23_456


def test_a_missing_value_in_a_later_group_names_its_row(tmp_path) -> None:
    X, y = _data(9_000, 3, 2)
    X[7_321, 2] = np.nan
    path = tmp_path / "bad.parquet"
    _write(path, X, y, 1000)
    src = olsnet.read(path, y="y", batch_rows=1000)
    with pytest.raises(DataFileError, match=r"bad.parquet, row 7322, column 'x3': a missing value"):
        src.fit_state(True, n_jobs=4)


def test_several_parquet_files_on_threads_equal_their_concatenation(tmp_path) -> None:
    X, y = _data(12_000, 5, 3)
    (tmp_path / "parts").mkdir()
    for i, sl in enumerate((slice(0, 5000), slice(5000, 12_000))):
        _write(tmp_path / "parts" / f"p{i}.parquet", X[sl], y[sl], 2048)
    fit = olsnet.LinearRegression(n_jobs=4).fit(olsnet.read(tmp_path / "parts", y="y"))
    ref = exact_lstsq(X, y[:, None], None, True)
    np.testing.assert_allclose(fit.coef_, ref.params[1:, 0], rtol=1e-11)
    np.testing.assert_allclose(fit.intercept_, ref.params[0, 0], rtol=1e-11)
