"""Shared data for the network tests: scikit-learn's diabetes data and its statsmodels OLS fit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def diabetes_ols(diabetes) -> tuple[np.ndarray, float]:
    """(params (11,) intercept first, SSR) from statsmodels' QR-based OLS (independent)."""
    import statsmodels.api as sm

    X, y = diabetes
    res = sm.OLS(y, sm.add_constant(X)).fit(method="qr")
    return np.asarray(res.params), float(res.ssr)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny problems: one intra-op thread avoids oversubscribing the shared CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
