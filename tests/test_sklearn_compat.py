"""scikit-learn's own estimator checks, with one expected to fail by us.

``check_estimators_empty_data`` asks that X with 0 columns be refused; with an intercept olsnet
fits it as the intercept-only model (R's ``lm(y ~ 1)``: the mean, its SE, t, p and CI), which
issue 15 asks for. X with 0 rows is still refused (the same check's first half, tested below),
and without an intercept X with 0 columns is refused as scikit-learn does.

The only skips in the run are scikit-learn's own: ``check_array_api_input`` skips itself
unless the environment variable SCIPY_ARRAY_API=1 is set before SciPy is imported. olsnet
converts every input to a NumPy float64 array and does not claim array-API dispatch, so that
check does not apply; everything else runs.
"""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression as SkLinearRegression  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import olsnet  # noqa: E402


def _expected_failures(estimator):
    if estimator.fit_intercept:
        reason = "X with 0 columns is the intercept-only model"
        return {"check_estimators_empty_data_messages": reason}
    return {}


@parametrize_with_checks(
    [olsnet.LinearRegression(), olsnet.LinearRegression(fit_intercept=False)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("q", [None, 1, 3])
def test_drop_in_for_sklearn_shapes_and_values(fit_intercept, q):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 4))
    y = rng.standard_normal(100) if q is None else rng.standard_normal((100, q))
    w = rng.uniform(0.5, 2, 100)
    ours = olsnet.LinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    ref = SkLinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    assert np.shape(ours.coef_) == np.shape(ref.coef_)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10)
    np.testing.assert_allclose(ours.score(X, y, w), ref.score(X, y, w), rtol=1e-10)
    assert ours.rank_ == ref.rank_ + (1 if fit_intercept else 0)


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.standard_normal((50, 3)), columns=["age", "bmi", "bp"])
    y = pd.Series(rng.standard_normal(50), name="progression")
    model = olsnet.LinearRegression().fit(df, y)
    assert list(model.feature_names_in_) == ["age", "bmi", "bp"]
    assert model.result_.param_names[0] == "Intercept"
    text = str(model.summary())
    for name in ("age", "bmi", "bp", "progression"):
        assert name in text


def test_zero_rows_are_refused_and_zero_columns_fit_the_mean_model():
    """The half of ``check_estimators_empty_data`` olsnet keeps, and the model it gives instead:
    statsmodels' ``OLS(y, ones)`` (the mean, its standard error)."""
    import statsmodels.api as sm

    with pytest.raises(ValueError):
        olsnet.LinearRegression().fit(np.empty((0, 3)), [])
    with pytest.raises(ValueError, match="0 feature"):
        olsnet.LinearRegression(fit_intercept=False).fit(np.empty((12, 0)), np.arange(12.0))
    y = np.random.default_rng(2).standard_normal(40) + 5
    model = olsnet.LinearRegression().fit(np.empty((40, 0)), y)
    ref = sm.OLS(y, np.ones(40)).fit()
    assert model.coef_.shape == (0,)
    np.testing.assert_allclose(model.intercept_, ref.params[0], rtol=1e-13)
    np.testing.assert_allclose(model.result_.bse, ref.bse, rtol=1e-12)
    np.testing.assert_allclose(model.result_.conf_int(), ref.conf_int(), rtol=1e-12)
    np.testing.assert_allclose(model.predict(np.empty((3, 0))), np.full(3, y.mean()), rtol=1e-13)
