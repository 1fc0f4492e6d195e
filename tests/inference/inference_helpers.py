"""Shared helpers for tests/inference: fit with olsnet's exact solver and with statsmodels."""

from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm
from sklearn.datasets import load_diabetes

from olsnet.data import ArraySource, as_design
from olsnet.inference import RegressionResult
from olsnet.solve import exact_lstsq

# the scalar statistics every result has, compared one by one against statsmodels
SCALAR_STATS = [
    "rsquared",
    "rsquared_adj",
    "fvalue",
    "f_pvalue",
    "llf",
    "aic",
    "bic",
    "ssr",
    "ess",
    "centered_tss",
    "uncentered_tss",
    "df_model",
    "df_resid",
    "nobs",
    "scale",
    "condition_number",
]


def olsnet_fit(X, y, w=None, *, fit_intercept=True, cov_type="nonrobust", block_rows=100):
    """RegressionResult from the exact solver on an in-memory source (small blocks on purpose:
    the streaming pass then crosses many block boundaries)."""
    design = as_design(X, y, w)
    solution = exact_lstsq(design.X, design.Y, design.weights, fit_intercept, design.feature_names)
    source = ArraySource(design, block_rows=block_rows)
    return RegressionResult.from_solution(
        solution,
        source,
        feature_names=design.feature_names,
        target_names=design.target_names,
        y_ndim=design.y_ndim,
        cov_type=cov_type,
        n_dropped=design.n_dropped,
    )


def statsmodels_fit(X, y, w=None, *, fit_intercept=True, cov_type="nonrobust"):
    exog = (
        sm.add_constant(np.asarray(X, dtype=float), has_constant="add")
        if fit_intercept
        else np.asarray(X, dtype=float)
    )
    model = (
        sm.OLS(np.asarray(y, dtype=float), exog)
        if w is None
        else sm.WLS(np.asarray(y, dtype=float), exog, weights=w)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(cov_type=cov_type, use_t=True)


def _spector():
    data = sm.datasets.spector.load_pandas()
    X = data.exog  # GPA, TUCE, PSI
    y = data.endog  # GRADE
    return X, y


def _diabetes():
    d = load_diabetes(as_frame=True)
    return d.data, d.target


DATASETS = {"diabetes": _diabetes, "spector": _spector}


def second_target(y, seed=1):
    """A second output correlated with y (for multi-output fits)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=float)
    return np.sqrt(np.abs(y) + 1.0) + rng.normal(scale=0.3, size=y.shape)


def random_weights(n, seed=0):
    return np.random.default_rng(seed).uniform(0.2, 3.0, size=n)
