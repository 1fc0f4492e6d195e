"""LinearRegression.fit on block sources (files from olsnet.read): same fit as in memory."""

from __future__ import annotations

import numpy as np
import pytest

import olsnet

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.standard_normal((500, 3)), columns=["a", "b", "c"])
    df["y"] = 1.0 + df.a - 2 * df.b + rng.standard_normal(500)
    df.loc[[10, 20, 30], "b"] = np.nan
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    return path, df


def test_file_source_reports_dropped_rows(csv):
    path, df = csv
    res = olsnet.LinearRegression().fit(olsnet.read(path, y="y", missing="drop")).result_
    ref = olsnet.LinearRegression(missing="drop").fit(df[["a", "b", "c"]], df.y).result_
    assert res.n_dropped == 3 == ref.n_dropped
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-12)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-12)
    assert res.param_names == ref.param_names


def test_formula_source_decides_the_intercept(csv):
    path, df = csv
    clean = df.dropna()
    clean.to_csv(path, index=False)
    res = olsnet.LinearRegression().fit(olsnet.read(path, formula="y ~ a + b - 1")).result_
    ref = olsnet.LinearRegression(fit_intercept=False).fit(clean[["a", "b"]], clean.y).result_
    assert "Intercept" not in res.param_names
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-12)


def test_in_memory_source_takes_the_refined_path(nist_dir):
    """An ArraySource is data at hand: the fit is refined exactly as for plain arrays."""
    from olsnet._nist import lre, read_nist
    from olsnet.data import ArraySource, as_design

    case = read_nist(nist_dir / "Longley.dat")
    res = olsnet.LinearRegression().fit(ArraySource(as_design(case.X, case.y))).result_
    assert min(lre(float(a), c) for a, c in zip(res.params, case.params, strict=True)) >= 12
