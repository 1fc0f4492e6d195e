"""The blocked, threaded second pass (HC meats by kind, influence, cluster sums) against
statsmodels and dense NumPy references, across chunk, span and block boundaries.

The row kernel cuts blocks into chunks of up to 8,192 rows and spans of 16 chunks; the sizes
below are chosen so that no boundary falls on a multiple of either, with blocks of uneven
length, weights and many threads.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as sp
import statsmodels.api as sm
from inference_helpers import olsnet_fit

from olsnet import LinearRegression
from olsnet.inference._cluster import cluster_sums, group_codes, group_sums
from olsnet.inference.influence import f_sf_rows
from olsnet.solve._residuals import _chunk_rows, row_pass

N = 2 * 16 * 8192 + 12_345  # two full spans and a ragged tail


class _UnevenBlocks:
    """The same rows as a block source whose block lengths share no factor with the chunks."""

    def __init__(self, X, y, w=None, sizes=(1, 8191, 8193, 100_003)) -> None:
        self.X, self.Y, self.w = X, y.reshape(len(y), -1), w
        self.sizes = sizes

    def blocks(self):
        start, i = 0, 0
        n = len(self.X)
        while start < n:
            stop = min(n, start + self.sizes[i % len(self.sizes)])
            w = None if self.w is None else self.w[start:stop]
            yield self.X[start:stop], self.Y[start:stop], w
            start, i = stop, i + 1


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((N, 3)) * [1.0, 10.0, 0.1] + [5.0, -200.0, 3.0]
    g = rng.integers(0, 3_000, N)
    y = 2.0 + X @ [1.0, 0.01, -3.0] + rng.standard_normal(3_000)[g] + rng.standard_normal(N)
    y *= 1.0 + 0.5 * np.abs(X[:, 0] - 5.0)  # heteroscedastic: HC and OLS differ
    w = rng.uniform(0.2, 3.0, N)
    return X, y, w, g


def _fit(X, y, w=None):
    res = LinearRegression().fit(X, y, sample_weight=w).result_
    return res.with_data(_UnevenBlocks(X, y, w), y=None)


def test_chunks_do_not_divide_the_rows() -> None:
    chunk = _chunk_rows(4, 1, 3)  # (rank 4, one output, 3 features)
    assert N % chunk and N % (16 * chunk) and chunk < 8193


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["HC0", "HC1", "HC2", "HC3"])
def test_each_hc_kind_matches_statsmodels_across_blocks(data, kind, weighted) -> None:
    X, y, w, _ = data
    w = w if weighted else None
    res = _fit(X, y, w)
    Xc = sm.add_constant(X)
    model = sm.WLS(y, Xc, weights=w) if weighted else sm.OLS(y, Xc)
    ref = model.fit(cov_type=kind)
    np.testing.assert_allclose(res.with_cov(kind).bse, ref.bse, rtol=1e-9)


def test_kinds_asked_one_at_a_time_equal_one_pass_of_all(data) -> None:
    X, y, w, _ = data
    one_by_one = _fit(X, y, w)
    for kind in ("HC3", "HC0", "HC2"):
        one_by_one = one_by_one.with_cov(kind)
    merged = one_by_one.residual_pass()
    assert merged.complete
    whole = _fit(X, y, w).residual_pass()  # all three meats at once
    np.testing.assert_allclose(merged.meats, whole.meats, rtol=1e-12)
    assert merged.max_leverage == whole.max_leverage


def test_influence_matches_statsmodels_across_blocks(data) -> None:
    X, y, _, _ = data
    infl = _fit(X, y).get_influence()
    ref = sm.OLS(y, sm.add_constant(X)).fit().get_influence()
    np.testing.assert_allclose(infl.hat_matrix_diag, ref.hat_matrix_diag, rtol=1e-9)
    # residuals near 0 carry the fitted values' rounding (1e-14 absolute) in both libraries
    np.testing.assert_allclose(
        infl.resid_studentized_internal, ref.resid_studentized_internal, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(infl.cooks_distance[0], ref.cooks_distance[0], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(infl.cooks_distance[1], ref.cooks_distance[1], rtol=1e-9)


def test_weighted_influence_matches_a_dense_qr_across_blocks(data) -> None:
    """R's lm.influence for weighted fits, from a dense Householder QR of √w [1 X] (NumPy)."""
    X, y, w, _ = data
    w = w.copy()
    w[[3, 70_000]] = 0.0  # rows of zero weight: not observations
    infl = _fit(X, y, w).get_influence()
    sw = np.sqrt(w)
    A = sm.add_constant(X) * sw[:, None]
    Q, R = np.linalg.qr(A)
    h = np.einsum("ij,ij->i", Q, Q)
    beta = np.linalg.solve(R, Q.T @ (y * sw))
    e = (y - sm.add_constant(X) @ beta) * sw
    pos = w > 0
    n, k = int(pos.sum()), 4
    s2 = e @ e / (n - k)
    internal = e / np.sqrt(s2 * (1 - h))
    s2_i = (e @ e - e**2 / (1 - h)) / (n - k - 1)
    external = e / np.sqrt(s2_i * (1 - h))
    np.testing.assert_allclose(infl.hat_matrix_diag[pos], h[pos], rtol=1e-9)
    assert np.all(infl.hat_matrix_diag[~pos] == 0.0)
    tol = {"rtol": 1e-9, "atol": 1e-12}  # residuals near 0: 1e-14 absolute rounding
    np.testing.assert_allclose(infl.resid_studentized_internal[pos], internal[pos], **tol)
    np.testing.assert_allclose(infl.resid_studentized_external[pos], external[pos], **tol)
    dffits = (external * np.sqrt(h / (1 - h)))[pos]
    np.testing.assert_allclose(infl.dffits[0][pos], dffits, **tol)
    assert np.isnan(infl.resid_studentized_internal[~pos]).all()
    # dfbetas: (B x̃ᵢ ẽᵢ / (1 - hᵢ)) / (s₍ᵢ₎ √Bⱼⱼ), B = (XᵀWX)⁻¹
    B = np.linalg.inv(R.T @ R)
    rows = np.flatnonzero(pos)[:: N // 50]
    dfb = (A[rows] @ B) * (e[rows] / (1 - h[rows]))[:, None]
    dfb /= np.sqrt(s2_i[rows])[:, None] * np.sqrt(np.diag(B))[None, :]
    np.testing.assert_allclose(infl.dfbetas[rows], dfb, rtol=1e-8, atol=1e-12)


def test_second_pass_only_where_q_is_not_orthonormal(data) -> None:
    """NIST Longley's Q = Z̃ R⁻¹ is not orthonormal to 1e-13: its leverages come from the second
    pass with Q L⁻ᵀ (their 12 digits against exact arithmetic are checked in
    test_influence_measures); a well-conditioned design needs one pass."""
    from olsnet.datasets import load_longley
    from olsnet.inference.influence import _right_factor, influence_rows

    d = load_longley()
    longley = olsnet_fit(np.asarray(d.X), np.asarray(d.y))
    assert _right_factor(influence_rows(longley, "test")["QtQ"]) is not None
    X, y = data[:2]
    assert _right_factor(influence_rows(_fit(X, y), "test")["QtQ"]) is None


@pytest.mark.parametrize("weighted", [False, True])
def test_cluster_matches_statsmodels_across_blocks(data, weighted) -> None:
    X, y, w, g = data
    w = w if weighted else None
    res = _fit(X, y, w).with_cov("cluster", groups=g)
    Xc = sm.add_constant(X)
    model = sm.WLS(y, Xc, weights=w) if weighted else sm.OLS(y, Xc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = model.fit(cov_type="cluster", cov_kwds={"groups": g}, use_t=True)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-9)


def test_cluster_with_more_clusters_than_rows_in_a_block() -> None:
    """Blocks of 100 rows and 400 clusters: the per-block sums go by sorted reduceat."""
    rng = np.random.default_rng(3)
    n = 2_000
    X = rng.standard_normal((n, 2))
    g = rng.integers(0, 400, n) * 7 - 1000  # negative, sparse labels
    y = X @ [1.0, -1.0] + rng.standard_normal(400)[(g + 1000) // 7] + rng.standard_normal(n)
    res = olsnet_fit(X, y).with_cov("cluster", groups=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.OLS(y, sm.add_constant(X)).fit(
            cov_type="cluster",
            cov_kwds={"groups": np.unique(g, return_inverse=True)[1]},
            use_t=True,
        )
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-9)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([5, -3, 5, 12, -3, 0]),
        np.array([7, 7, 2**40, 7], dtype=np.int64),  # wide range: np.unique
        np.array([3, 1, 2, 1], dtype=np.uint8),
        np.array(["b", "a", "b", "c"]),
    ],
)
def test_group_codes_equal_numpy_unique(labels) -> None:
    codes, G = group_codes(labels, labels.size)
    uniq, inverse = np.unique(labels, return_inverse=True)
    assert G == uniq.size
    np.testing.assert_array_equal(codes, inverse)


@pytest.mark.parametrize("n_groups", [5, 50, 5_000])
def test_cluster_sums_equal_add_at(n_groups) -> None:
    rng = np.random.default_rng(n_groups)
    codes = rng.integers(0, n_groups, 1_000)
    S = rng.standard_normal((1_000, 6))
    ref = np.zeros((n_groups, 6))
    np.add.at(ref, codes, S)
    groups, sums = cluster_sums(codes, S, n_groups)
    out = np.zeros_like(ref)
    if groups is None:
        out += sums
    else:
        out[groups] += sums
    np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
    groups, sums = group_sums(codes, S, n_groups)
    np.testing.assert_array_equal(groups, np.unique(codes))
    np.testing.assert_allclose(sums, ref[groups], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dfn, dfd", [(11, 999_989.0), (1, 1.0), (3, 7.0), (51, 2e6)])
def test_f_sf_rows_equals_fdtrc(dfn, dfd) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50_000) ** 2 * 10.0 ** rng.uniform(-12, 2, 50_000)
    x = np.concatenate([x, [0.0, np.nan, np.inf]])
    np.testing.assert_array_equal(f_sf_rows(x, dfn, dfd), sp.fdtrc(dfn, dfd, x))


def test_row_pass_results_do_not_depend_on_threads(data) -> None:
    from olsnet.solve._residuals import RowMap

    X, y, w, _ = data
    res = LinearRegression().fit(X, y, sample_weight=w).result_
    sol = res.solution
    rows = RowMap(sol.params, sol.R_x, sol.shift_x, sol.kept, sol.fit_intercept)
    blocks = list(_UnevenBlocks(X, y, w).blocks())

    def work(start, Q, E, _w):
        return start, np.einsum("ij,ij->", Q, Q), float(E.sum())

    one = row_pass(blocks, rows, work, n_threads=1)
    four = row_pass(blocks, rows, work, n_threads=4)
    assert one == four
    assert [s for s, _, _ in one] == sorted(s for s, _, _ in one)
    assert sum(h for _, h, _ in one) == pytest.approx(4.0, rel=1e-12)  # trace of the hat


def test_two_outputs_equal_one_fit_per_output() -> None:
    """Influence measures of a 2-output fit, column by column, are those of each output alone
    (weighted, a zero-weight row; the elementwise steps broadcast (n, 1) against (n, q))."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    Y = np.c_[X @ [1.0, 2.0, 3.0], X @ [0.0, 1.0, 0.0]] + rng.standard_normal((300, 2))
    w = rng.uniform(0.5, 2.0, 300)
    w[5] = 0.0
    both = LinearRegression().fit(X, Y, sample_weight=w).result_.get_influence()
    for j in range(2):
        one = LinearRegression().fit(X, Y[:, j], sample_weight=w).result_.get_influence()
        for name in ("resid_studentized_internal", "resid_studentized_external"):
            np.testing.assert_allclose(getattr(both, name)[:, j], getattr(one, name), rtol=1e-12)
        np.testing.assert_allclose(both.dffits[0][:, j], one.dffits[0], rtol=1e-12)
        np.testing.assert_allclose(both.cooks_distance[0][:, j], one.cooks_distance[0], rtol=1e-12)
        np.testing.assert_allclose(both.dfbetas[:, :, j], one.dfbetas, rtol=1e-12)
        assert np.isnan(both.dffits[0][5, j])


def test_reorthogonalized_rows_are_orthonormal_with_the_same_projection() -> None:
    from olsnet.inference.influence import reorthogonalized

    rng = np.random.default_rng(1)
    Q = rng.standard_normal((500, 4)) @ np.triu(rng.uniform(0.5, 2.0, (4, 4)))
    Qo, L = reorthogonalized(Q)
    np.testing.assert_allclose(Qo.T @ Qo, np.eye(4), atol=1e-13)
    np.testing.assert_allclose(L @ L.T, Q.T @ Q, rtol=1e-12)
    hat = np.einsum("ij,ij->i", Qo, Qo)
    np.testing.assert_allclose(hat, np.diag(Q @ np.linalg.solve(Q.T @ Q, Q.T)), rtol=1e-10)
