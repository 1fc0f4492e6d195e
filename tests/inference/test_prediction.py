"""get_prediction: column matching by name, shapes, and statsmodels' intervals for q outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inference_helpers import olsnet_fit, statsmodels_fit
from sklearn.datasets import load_diabetes

from olsnet.errors import DimensionError


@pytest.fixture(scope="module")
def frame():
    d = load_diabetes(as_frame=True)
    return d.data, d.target


def test_frame_columns_are_matched_by_name(frame) -> None:
    X, y = frame
    res = olsnet_fit(X, y)
    new = X.iloc[:5]
    shuffled = new[list(reversed(X.columns))]
    np.testing.assert_array_equal(
        res.get_prediction(shuffled).predicted_mean, res.get_prediction(new).predicted_mean
    )
    with pytest.raises(DimensionError, match="'bmi'"):
        res.get_prediction(new.drop(columns="bmi").assign(other=1.0))


def test_one_row_and_wrong_width(frame) -> None:
    X, y = frame
    res = olsnet_fit(X.to_numpy(), y.to_numpy())
    row = X.to_numpy()[3]
    one = res.get_prediction(row)
    assert one.predicted_mean.shape == (1,)
    np.testing.assert_allclose(
        one.predicted_mean[0], res.params[0] + row @ res.params[1:], rtol=1e-13
    )
    with pytest.raises(DimensionError, match="3 feature"):
        res.get_prediction(np.ones((2, 3)))


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multi_output_intervals_match_statsmodels(frame, fit_intercept) -> None:
    X, y = frame
    Y = pd.DataFrame({"a": y, "b": 2.0 * X["bmi"] - 0.1 * y})
    res = olsnet_fit(X, Y, fit_intercept=fit_intercept, cov_type="HC2")
    new = X.iloc[10:14]
    pred = res.get_prediction(new)
    assert pred.predicted_mean.shape == (4, 2)
    assert pred.conf_int(obs=True).shape == (4, 2, 2)
    got = pred.summary_frame(alpha=0.01)
    exog = new.to_numpy()
    if fit_intercept:
        exog = np.column_stack([np.ones(4), exog])
    for col in Y.columns:
        ref = statsmodels_fit(X, Y[col], fit_intercept=fit_intercept, cov_type="HC2")
        want = ref.get_prediction(exog).summary_frame(alpha=0.01)
        np.testing.assert_allclose(got[col].to_numpy(), want.to_numpy(), rtol=1e-9, atol=0)
