"""The numbers behind the diagnostic plots, against statsmodels (an independent implementation)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from olsnet.plots._influence import lowess, normal_positions


@settings(max_examples=25, deadline=None)
@given(n=st.integers(20, 120), seed=st.integers(0, 10_000))
def test_lowess_matches_statsmodels(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.sin(2 * x) + 0.3 * rng.standard_t(3, size=n)
    xs, fitted = lowess(x, y)
    ref = sm.nonparametric.lowess(y, x, frac=2 / 3, it=3, delta=0.0)
    np.testing.assert_allclose(xs, ref[:, 0], rtol=0, atol=0)
    np.testing.assert_allclose(fitted, ref[:, 1], rtol=1e-9, atol=1e-12)


def test_normal_positions_are_r_ppoints():
    from statsmodels.graphics.gofplots import plotting_pos

    for n in (5, 10, 11, 50):  # R's ppoints: a = 3/8 up to n = 10, else 1/2
        p = plotting_pos(n, 3 / 8 if n <= 10 else 1 / 2)
        np.testing.assert_allclose(normal_positions(n), stats.norm.ppf(p), rtol=1e-14)
    # symmetric about zero
    np.testing.assert_allclose(normal_positions(9), -normal_positions(9)[::-1], atol=1e-15)
