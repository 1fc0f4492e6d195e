"""Wide designs fold with level-3 dtpqrt panels (``panel_for``): the same R as Householder QR."""

from __future__ import annotations

import numpy as np
import pytest

from olsnet.solve._fold import CHUNK_ROWS, fold_arrays
from olsnet.solve._kernels import PANEL, panel_for


def test_panel_grows_with_the_width_only():
    assert panel_for(1) == 1
    assert panel_for(22) == PANEL
    assert panel_for(127) == PANEL
    assert panel_for(128) == 16
    assert panel_for(1_003) == 32


@pytest.mark.parametrize("p", [140, 600])
def test_wide_fold_gives_householder_r(p):
    rng = np.random.default_rng(p)
    n = 2 * CHUNK_ROWS + 77  # three chunks, the last one short
    X = rng.standard_normal((n, p)) + rng.uniform(-2, 2, p)
    Y = (X[:, :3].sum(axis=1) + rng.standard_normal(n))[:, None]
    state = fold_arrays(X, Y, None, True)
    A = np.column_stack([np.ones(n), X, Y])
    R_ref = np.linalg.qr(A, mode="r")
    R_ref *= np.sign(np.diagonal(R_ref))[:, None]  # diag(R) >= 0, as the fold's
    R = np.triu(state.R)
    np.testing.assert_allclose(R, R_ref, rtol=0, atol=1e-11 * np.abs(R_ref).max())
