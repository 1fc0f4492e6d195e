"""Every scale of number (issue 13 item 18): a column scaled by 2^k·10^j for j in ±(1, 10, 100,
160, 300), or holding denormals, gives at least 12 correct digits against exact rational
arithmetic (fractions.Fraction) on every in-memory path: columns are scaled by powers of two
(exact) before anything is squared."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import olsnet
from olsnet._nist import lre

SCALES = [2.0**3 * 10.0**j for j in (1, 10, 100, 160, 300)]
SCALES += [2.0**-5 * 10.0**-j for j in (1, 10, 100, 160, 300)]


def _exact_lstsq(X: np.ndarray, y: np.ndarray) -> list[Fraction]:
    """β of [1 X] by Gauss-Jordan elimination of the normal equations in exact rationals."""
    n, p = X.shape
    A = [[Fraction(1)] + [Fraction(float(v)) for v in row] for row in X]
    b = [Fraction(float(v)) for v in y]
    k = p + 1
    M = [[sum(A[i][r] * A[i][c] for i in range(n)) for c in range(k)] for r in range(k)]
    v = [sum(A[i][r] * b[i] for i in range(n)) for r in range(k)]
    for c in range(k):
        piv = next(r for r in range(c, k) if M[r][c] != 0)
        M[c], M[piv], v[c], v[piv] = M[piv], M[c], v[piv], v[c]
        for r in range(k):
            if r != c and M[r][c] != 0:
                f = M[r][c] / M[c][c]
                M[r] = [a - f * b_ for a, b_ in zip(M[r], M[c], strict=True)]
                v[r] -= f * v[c]
    return [v[c] / M[c][c] for c in range(k)]


def _problem(scale: float):
    rng = np.random.default_rng(11)
    X = np.round(rng.standard_normal((25, 3)) * 64) / 64  # short binary fractions
    y = X @ [1.5, -2.0, 0.25] + 3.0 + np.round(rng.standard_normal(25) * 64) / 64
    X[:, 1] *= scale
    return X, y


@pytest.mark.parametrize("policy", ["exact", "fast", "auto"])
@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"{s:.0e}")
def test_column_scale_keeps_twelve_digits(scale, policy):
    X, y = _problem(scale)
    reference = _exact_lstsq(X, y)
    got = olsnet.LinearRegression(policy=policy).fit(X, y).result_.params
    for value, exact in zip(got, reference, strict=True):
        assert lre(float(value), float(exact)) >= 12, (scale, policy, got, reference)


def test_denormal_column_keeps_twelve_digits():
    rng = np.random.default_rng(2)
    X = np.round(rng.standard_normal((25, 2)) * 64) / 64
    noise = np.round(rng.standard_normal(25) * 64) / 64
    y = (1.5 * X[:, 0] + 2.0 * X[:, 1] + noise) * 2.0**-60  # every term about 2^-60
    X[:, 0] *= 2.0**-1060  # denormal values (about 1e-319): its coefficient is 1.5 * 2^1000
    assert np.all(np.abs(X[:, 0][X[:, 0] != 0]) < np.finfo(float).tiny)
    reference = _exact_lstsq(X, y)
    for policy in ("exact", "fast"):
        got = olsnet.LinearRegression(policy=policy).fit(X, y).result_.params
        for value, exact in zip(got, reference, strict=True):
            assert lre(float(value), float(exact)) >= 12, (policy, got, reference)


@pytest.mark.parametrize(
    "scale", [2.0**3 * 1e160, 2.0**3 * 1e300, 2.0**-5 * 1e-160, 2.0**-5 * 1e-300]
)
def test_column_scale_through_the_qr_state_files_and_dask(scale, tmp_path):
    """The same digits from the QR state (streamed files, dask partitions, merged folds)."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    da = pytest.importorskip("dask.array")
    X, y = _problem(scale)
    reference = _exact_lstsq(X, y)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y)
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, index=False)
    fits = {
        "parquet": olsnet.LinearRegression().fit(olsnet.read(path, y="y", batch_rows=10)),
        "dask": olsnet.LinearRegression().fit(da.from_array(X, chunks=(8, 3)), da.from_array(y, 8)),
    }
    for where, model in fits.items():
        for value, exact in zip(model.result_.params, reference, strict=True):
            assert lre(float(value), float(exact)) >= 12, (where, scale, model.result_.params)
