"""Bad input: each case raises the matching olsnet error (and built-in) naming what is wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import olsnet
from olsnet.errors import (
    AliasedColumnWarning,
    DataError,
    DimensionError,
    InputTypeError,
    OlsnetError,
    OptionError,
)


@pytest.fixture
def Xy():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 3))
    return X, X @ [1.0, -2.0, 0.5] + rng.standard_normal(30)


def fit(X, y, **kw):
    w = kw.pop("sample_weight", None)
    return olsnet.LinearRegression(**kw).fit(X, y, sample_weight=w)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_X_names_column_and_first_row(Xy, bad):
    X, y = Xy
    X = X.copy()
    X[7, 2] = bad
    X[9, 2] = bad
    with pytest.raises(DataError, match=r"X column 'x3' \(index 2\) has (NaN|inf) at row 7") as e:
        fit(X, y)
    assert isinstance(e.value, ValueError) and isinstance(e.value, OlsnetError)
    assert "missing='drop'" in str(e.value)


def test_nonfinite_y_names_row(Xy):
    X, y = Xy
    y = y.copy()
    y[4] = np.nan
    with pytest.raises(DataError, match=r"y column 'y' \(index 0\) has NaN at row 4"):
        fit(X, y)


def test_missing_drop_drops_and_reports(Xy):
    X, y = Xy
    X = X.copy()
    X[[3, 11], 0] = np.nan
    model = fit(X, y, missing="drop")
    keep = np.ones(30, bool)
    keep[[3, 11]] = False
    ref = fit(X[keep], y[keep])
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-13)
    assert model.result_.n_dropped == 2
    assert model.result_.nobs == 28
    assert "2" in str(model.summary()) and "dropped" in str(model.summary())


def test_weights_nonfinite_negative_allzero(Xy):
    X, y = Xy
    w = np.ones(30)
    w[5] = np.nan
    with pytest.raises(DataError, match=r"sample_weight has nan at row 5"):
        fit(X, y, sample_weight=w)
    w[5] = -1.0
    with pytest.raises(DataError, match=r"negative value -1\.0 at row 5"):
        fit(X, y, sample_weight=w)
    with pytest.raises(DataError, match="zero for every row"):
        fit(X, y, sample_weight=np.zeros(30))


def test_non_numeric_column_names_column():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2, 3, 4], "city": ["x", "y", "x", "z"]})
    with pytest.raises(InputTypeError, match=r"column 'city' .*not numeric.*formula") as e:
        fit(df, [1.0, 2, 3, 5])
    assert isinstance(e.value, TypeError)


def test_object_array_names_row_and_column(Xy):
    X, y = Xy
    Xo = X.astype(object)
    Xo[2, 1] = "oops"
    with pytest.raises(InputTypeError, match=r"row 2, column index 1"):
        fit(Xo, y)
    # object arrays holding only numbers are accepted (as scikit-learn does)
    np.testing.assert_allclose(fit(X.astype(object), y).coef_, fit(X, y).coef_, rtol=1e-14)


def test_mismatched_lengths(Xy):
    X, y = Xy
    with pytest.raises(DimensionError, match="X has 30 samples, y has 29"):
        fit(X, y[:29])
    with pytest.raises(DimensionError, match=r"sample_weight must have shape \(30,\)"):
        fit(X, y, sample_weight=np.ones(10))


def test_empty_and_3d_and_1d(Xy):
    X, y = Xy
    with pytest.raises(DataError, match="0 sample"):
        fit(X[:0], y[:0])
    with pytest.raises(DataError, match="0 feature"):  # no intercept: nothing to fit
        olsnet.LinearRegression(fit_intercept=False).fit(X[:, :0], y)
    with pytest.raises(DimensionError, match=r"must be 2-D.*3-D"):
        fit(X.reshape(30, 3, 1), y)
    with pytest.raises(DimensionError, match="reshape"):
        fit(X[:, 0], y)
    with pytest.raises(DimensionError, match="y must be 1-D"):
        fit(X, np.zeros((30, 2, 2)))


def test_bad_option(Xy):
    X, y = Xy
    with pytest.raises(OptionError, match="cov_type='HC9' is not accepted; use one of 'nonrobust'"):
        fit(X, y, cov_type="HC9")


def test_constant_and_duplicated_columns_are_aliased(Xy):
    X, y = Xy
    Xd = np.column_stack([X, np.full(30, 4.0), X[:, 0] * 2.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit(Xd, y)
    messages = [str(c.message) for c in caught if issubclass(c.category, AliasedColumnWarning)]
    assert any("'x4'" in m for m in messages) and any("'x5'" in m for m in messages)
    assert np.isnan(model.coef_[3]) and np.isnan(model.coef_[4])
    assert model.rank_ == 4
    ref = fit(X, y)
    np.testing.assert_allclose(model.coef_[:3], ref.coef_, rtol=1e-12)
    assert model.result_.df_resid == ref.result_.df_resid
    np.testing.assert_allclose(model.result_.bse[:4], ref.result_.bse, rtol=1e-12)
    np.testing.assert_allclose(model.predict(Xd), ref.predict(X), rtol=1e-12)


def test_fewer_observations_than_parameters():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 5))
    y = rng.standard_normal(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AliasedColumnWarning)
        model = fit(X, y)
    res = model.result_
    assert model.rank_ == 3 and res.df_resid == 0
    # identified coefficients are reported, statistics needing df say why they are unavailable
    assert np.isfinite(res.params[:3]).all()
    assert np.isnan(res.bse).all()
    text = str(model.summary())
    assert "n/a" in text and "no residual degrees of freedom" in text


def test_constant_y_rsquared_not_available(Xy):
    X, _ = Xy
    model = fit(X, np.full(30, 2.5))
    assert np.isnan(model.result_.rsquared)
    assert "y is constant" in str(model.summary())


def test_nonfinite_X_on_the_fast_path_names_column_and_row():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60_000, 8))  # large enough for the normal-equations path
    y = X.sum(axis=1)
    X[50_001, 3] = np.inf
    with pytest.raises(DataError, match=r"X column 'x4' \(index 3\) has inf at row 50001"):
        fit(X, y)
