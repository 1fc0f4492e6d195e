"""result_at: inference at given coefficients, checked against closed forms computed densely."""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import olsnet_fit, random_weights
from sklearn.datasets import load_diabetes

from olsnet.data import ArraySource, as_design
from olsnet.errors import DimensionError
from olsnet.inference import result_at


@pytest.fixture(scope="module")
def data():
    X, y = load_diabetes(return_X_y=True)
    return X, y, random_weights(len(y), seed=21)


def test_at_the_optimum_equals_the_fit(data) -> None:
    X, y, w = data
    fit = olsnet_fit(X, y, w, cov_type="HC3")
    at = result_at(fit.params, ArraySource(as_design(X, y, w), 97), cov_type="HC3")
    for name in ["params", "bse", "pvalues", "rsquared", "fvalue", "llf", "ssr"]:
        np.testing.assert_allclose(getattr(at, name), getattr(fit, name), rtol=1e-10, err_msg=name)
    gap = at.optimality
    assert abs(gap.relative_gap) < 1e-12
    assert gap.max_rel_coef_diff < 1e-12
    assert gap.gradient_norm < 1e-9 * np.abs(X).max() * np.abs(y).max()


def test_at_given_coefficients_closed_form(data) -> None:
    X, y, w = data
    fit = olsnet_fit(X, y, w)
    b = fit.params * (1 + 0.05 * np.random.default_rng(3).standard_normal(fit.params.shape))
    at = result_at(b, ArraySource(as_design(X, y, w), 128), cov_type="HC3")
    A = np.column_stack([np.ones(len(y)), X])  # (n, k)
    e = y - A @ b
    ssr = np.sum(w * e**2)
    C = np.linalg.inv(A.T @ (w[:, None] * A))
    n, k = A.shape
    np.testing.assert_allclose(at.params, b, rtol=0)
    np.testing.assert_allclose(at.ssr, ssr, rtol=1e-12)
    np.testing.assert_allclose(
        at.with_cov("nonrobust").bse, np.sqrt(ssr / (n - k) * np.diag(C)), rtol=1e-9
    )
    # HC3 with the residuals of b: dense hat matrix of the weighted design
    Aw = np.sqrt(w)[:, None] * A
    h = np.einsum("ij,jk,ik->i", Aw, C, Aw)
    u = w * e**2 / (1 - h) ** 2  # HC3 weight of row i on x̃ᵢ x̃ᵢᵀ
    V = C @ (Aw.T @ (u[:, None] * Aw)) @ C
    np.testing.assert_allclose(at.cov_params(), V, rtol=1e-9, atol=1e-12 * np.abs(V).max())
    gap = at.optimality
    loss = ssr / (2 * w.sum())  # J, olsnet's one loss scale (TrainingLog.loss)
    np.testing.assert_allclose(gap.loss, loss, rtol=1e-12)
    np.testing.assert_allclose(gap.loss_optimum, fit.ssr / (2 * w.sum()), rtol=1e-12)
    assert gap.relative_gap > 0
    grad = -A.T @ (w * e) / w.sum()
    np.testing.assert_allclose(gap.gradient_norm, np.linalg.norm(grad), rtol=1e-9)
    np.testing.assert_allclose(
        gap.max_rel_coef_diff, np.abs(b - fit.params).max() / np.abs(fit.params).max(), rtol=1e-9
    )
    text = at.summary().as_text()
    assert "Coefficients were given" in text and "relative gap" in text
    assert at.to_dict()["optimality"]["loss"] == pytest.approx(loss, rel=1e-12)


def test_multi_output_and_shape_errors(data) -> None:
    X, y, _w = data
    Y = np.column_stack([y, 0.3 * y + X[:, 2]])
    fit = olsnet_fit(X, Y)
    src = ArraySource(as_design(X, Y))
    at = result_at(fit.params + 0.01, src)
    assert at.params.shape == (11, 2) and at.cov_params().shape == (2, 11, 11)
    np.testing.assert_allclose(
        at.ssr[1],
        np.sum((Y[:, 1] - fit.params[0, 1] - 0.01 - X @ (fit.params[1:, 1] + 0.01)) ** 2),
        rtol=1e-12,
    )
    with pytest.raises(DimensionError, match=r"\(11,\) or \(11, 2\)"):
        result_at(np.zeros(11), src)
    with pytest.raises(DimensionError, match="finite"):
        result_at(np.full((11, 2), np.nan), src)
