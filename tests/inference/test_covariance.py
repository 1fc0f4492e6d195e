"""Covariance kernels as pure functions of arrays, against dense closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

from olsnet.inference import covariance as cov
from olsnet.solve import _residuals as residuals


def _problem(n=20_000, p=4, q=2, seed=0, weights=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * [1.0, 10.0, 0.1, 3.0][:p] + 5.0
    B = rng.normal(size=(p + 1, q))
    Y = B[0] + X @ B[1:] + rng.normal(size=(n, q)) * (1 + np.abs(X[:, :1]))  # heteroscedastic
    w = rng.uniform(0.0, 2.0, n) if weights else None
    if w is not None:
        w[::11] = 0.0  # rows of zero weight are not observations
    return X, Y, w


def _blocks(X, Y, w, size):
    for s in range(0, X.shape[0], size):
        yield X[s : s + size], Y[s : s + size], None if w is None else w[s : s + size]


@pytest.mark.parametrize("weighted", [False, True])
def test_pass_matches_dense_hc_formulas(weighted) -> None:
    X, Y, w = _problem(weights=weighted)
    n, p = X.shape
    A = np.column_stack([np.ones(n), X])  # (n, k)
    wv = np.ones(n) if w is None else w
    sw = np.sqrt(wv)
    params, *_ = np.linalg.lstsq(A * sw[:, None], Y * sw[:, None], rcond=None)
    shift = X[:100].mean(axis=0)  # R of shifted columns, as the streaming solver keeps it
    Z = np.column_stack([np.ones(n), X - shift]) * sw[:, None]
    R = sla.qr(Z, mode="r")[0][: p + 1]
    R *= np.where(np.diag(R) < 0, -1.0, 1.0)[:, None]
    kept = np.arange(p + 1)
    got = cov.residual_pass(_blocks(X, Y, w, 7000), params, R, shift, kept, True)
    assert got.nobs == int((wv > 0).sum())
    np.testing.assert_allclose(got.sum_log_weights, np.log(wv[wv > 0]).sum(), rtol=1e-12)
    Aw = A * sw[:, None]
    C = np.linalg.inv(Aw.T @ Aw)  # bread
    h = np.einsum("ij,jk,ik->i", Aw, C, Aw)
    E = (Y - A @ params) * sw[:, None]  # wresid
    T = cov.unshift_matrix(shift, p + 1, True)
    df = got.nobs - (p + 1)
    for j in range(Y.shape[1]):
        np.testing.assert_allclose(got.ssr[j], E[:, j] @ E[:, j], rtol=1e-12)
        for kind, u in [
            ("HC0", E[:, j] ** 2),
            ("HC1", E[:, j] ** 2 * got.nobs / df),
            ("HC2", E[:, j] ** 2 / (1 - h)),
            ("HC3", E[:, j] ** 2 / (1 - h) ** 2),
        ]:
            want = C @ (Aw.T @ (u[:, None] * Aw)) @ C
            V = cov.hc_covariance(kind, got.meats, R, T, got.nobs, df)[j]
            np.testing.assert_allclose(
                V, want, rtol=1e-9, atol=1e-12 * np.abs(want).max(), err_msg=kind
            )
    np.testing.assert_allclose(got.max_leverage, h.max(), rtol=1e-9)


def test_threads_and_blocks_do_not_change_the_sums() -> None:
    X, Y, w = _problem(n=30_000, seed=3)
    n, p = X.shape
    Z = np.column_stack([np.ones(n), X]) * np.sqrt(w)[:, None]
    R = sla.qr(Z, mode="r")[0][: p + 1]
    params = np.linalg.lstsq(Z, Y * np.sqrt(w)[:, None], rcond=None)[0]
    args = (params, R, np.zeros(p), np.arange(p + 1), True)
    one = cov.residual_pass(_blocks(X, Y, w, 30_000), *args, n_threads=1)
    many = cov.residual_pass(_blocks(X, Y, w, 30_000), *args, n_threads=3)
    np.testing.assert_array_equal(one.meats, many.meats)  # summed in row order either way
    default = cov.residual_pass(_blocks(X, Y, w, 30_000), *args)
    np.testing.assert_array_equal(default.meats, one.meats)
    split = cov.residual_pass(_blocks(X, Y, w, 999), *args)
    np.testing.assert_allclose(split.meats, one.meats, rtol=1e-12)


def test_chunk_rows_keep_products_small() -> None:
    for p in (1, 10, 50, 200):
        r, q = p + 1, 1
        c = residuals._chunk_rows(r, q, p)
        assert 64 <= c <= 8192 and c % 8 == 0
        if p <= 100:  # the row map's and the meat's products, meat and QᵀẼ in one
            assert max((r + q) * p, r * (r + q)) * c <= residuals._BLAS_SINGLE_THREAD_MNK
        # the one-kind pass: the row map in two halves, the meat in blocks of <= 1,200 entries
        s = residuals._chunk_rows(r, q, p, split=True)
        assert 64 <= s <= 8192 and s % 8 == 0 and s >= c
        if p <= 100:
            assert (r + q + 1) // 2 * p * s <= residuals._BLAS_SINGLE_THREAD_MNK
            assert all(m * (r + 1 - f) <= 1200 for f, m in residuals.tn_blocks(r))
            assert min(r * (r + 1), 1200) * s <= residuals._BLAS_SINGLE_THREAD_MNK


def test_hc_scale_and_options() -> None:
    assert cov.hc_scale("HC1", 100, 90.0) == pytest.approx(100 / 90, rel=1e-15)
    assert cov.hc_scale("HC3", 100, 90.0) == 1.0
    with pytest.raises(ValueError, match="'HC0'"):
        cov.hc_scale("HC4", 100, 90.0)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_jobs", [1, 3])
def test_leverage_from_r_equals_the_hat_matrix(weighted, n_jobs) -> None:
    """leverage() from the fit's R equals diag(Z̃ (Z̃ᵀZ̃)⁻¹ Z̃ᵀ) formed explicitly (pinv), an
    aliased column included; the blocked, threaded pass does not change it."""
    import olsnet

    rng = np.random.default_rng(5)
    n = 5000
    X = rng.standard_normal((n, 3)) + np.array([5.0, -2.0, 100.0])
    X = np.column_stack([X, X[:, 0] - X[:, 1]])  # aliased
    y = X[:, :3] @ [1.0, 2.0, 3.0] + rng.standard_normal(n)
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    if weighted:
        w[:10] = 0.0
    with pytest.warns(Warning):
        sol = olsnet.LinearRegression().fit(X, y, sample_weight=w).result_
    kept = np.flatnonzero(~sol.solution.aliased)
    h = cov.leverage(X, sol.solution.R_x, sol.solution.shift_x, kept, True, w, n_jobs=n_jobs)
    Z = np.column_stack([np.ones(n), X[:, :3]]) * np.sqrt(np.ones(n) if w is None else w)[:, None]
    H_diag = np.einsum("ij,ji->i", Z, np.linalg.pinv(Z))
    np.testing.assert_allclose(h, H_diag, rtol=1e-10, atol=1e-15)
    assert np.isclose(h.sum(), 4.0, rtol=1e-12)  # trace = rank


def _dense(X, Y, w, shift):
    """Dense references: params, R of the shifted √w [1 X - c], bread, h, wresid, Z̃."""
    n, p = X.shape
    A = np.column_stack([np.ones(n), X])
    sw = np.ones(n) if w is None else np.sqrt(w)
    params = np.linalg.lstsq(A * sw[:, None], Y * sw[:, None], rcond=None)[0]
    Z = np.column_stack([np.ones(n), X - shift]) * sw[:, None]
    R = sla.qr(Z, mode="r")[0][: p + 1]
    R *= np.where(np.diag(R) < 0, -1.0, 1.0)[:, None]
    Aw = A * sw[:, None]
    C = np.linalg.inv(Aw.T @ Aw)
    h = np.einsum("ij,jk,ik->i", Aw, C, Aw)
    E = (Y - A @ params) * sw[:, None]
    return params, R, C, h, E, Z, Aw


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("p", [4, 40])  # the meat in one product, and in blocks
@pytest.mark.parametrize("weighted", [False, True])
def test_one_kind_one_output_pass_matches_dense_formulas(weighted, p, layout) -> None:
    """The pass asked for one kind of one output scales Q in place and takes the meat's upper
    block triangle and QᵀẼ from the same products (one, or blocks the small-matrix kernel
    takes); asked for every kind, it makes a scaled copy per kind (row-major chunks at 41
    columns): each kind, X row-major, column-major and strided, against dense NumPy formulas,
    and the gradient Z̃ᵀẼ against the dense product."""
    assert len(residuals.tn_blocks(p + 1)) == (1 if p == 4 else 2)
    assert not residuals.row_major_for(p + 1, 1, 1)
    assert residuals.row_major_for(p + 1, 1, 3) == (p == 40)
    X, Y, w = _problem(n=12_000, p=min(p, 4), q=1, seed=p, weights=weighted)
    if p > 4:  # more columns: mixed scales and offsets
        rng = np.random.default_rng(9)
        X = np.column_stack([X, rng.normal(size=(X.shape[0], p - 4)) * 3.0 + 2.0])
        Y = Y + X[:, 4:] @ rng.normal(size=(p - 4, 1))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    n = X.shape[0]
    shift = X[:100].mean(axis=0)
    params, R, C, h, E, Z, Aw = _dense(X, Y, w, shift)
    kept = np.arange(p + 1)
    T = cov.unshift_matrix(shift, p + 1, True)
    wv = np.ones(n) if w is None else w
    df = int((wv > 0).sum()) - (p + 1)
    for kind, u in [
        ("HC0", E[:, 0] ** 2),
        ("HC1", E[:, 0] ** 2 * (df + p + 1) / df),
        ("HC2", E[:, 0] ** 2 / (1 - h)),
        ("HC3", E[:, 0] ** 2 / (1 - h) ** 2),
    ]:
        want = C @ (Aw.T @ (u[:, None] * Aw)) @ C
        for kinds in ((kind,), cov.HC_MEATS):
            got = cov.residual_pass(
                _blocks(X, Y, w, 5_000), params, R, shift, kept, True, kinds=kinds, n_threads=2
            )
            assert got.kinds == residuals.meat_kinds(kinds)
            V = cov.hc_covariance(kind, got.meats, R, T, got.nobs, df)[0]
            np.testing.assert_allclose(V, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())
            np.testing.assert_allclose(got.ssr[0], E[:, 0] @ E[:, 0], rtol=1e-12)
            grad = Z.T @ E  # tiny (the fit's optimality): compared on the scale of its terms
            scale = np.abs(Z).T @ np.abs(E)
            np.testing.assert_allclose(got.gradient, grad, rtol=0, atol=1e-13 * scale.max())
            np.testing.assert_allclose(got.max_leverage, h.max(), rtol=1e-9)


def test_a_chunk_with_leverage_one_keeps_the_gradient_finite() -> None:
    """A row with leverage 1 (its own dummy column) makes HC3's weight 0/0 in its chunk: the
    meat is NaN, as R's, but QᵀẼ comes from the general product and stays finite."""
    X, Y, _ = _problem(n=9_000, p=3, q=1, seed=5, weights=False)
    dummy = np.zeros((X.shape[0], 1))
    dummy[4_321] = 1.0
    X = np.hstack([X, dummy])
    shift = np.zeros(4)
    params, R, *_, E, Z, _ = _dense(X, Y, None, shift)
    got = cov.residual_pass(
        _blocks(X, Y, None, 9_000), params, R, shift, np.arange(5), True, kinds=("HC3",)
    )
    assert got.max_leverage == pytest.approx(1.0, abs=1e-12)
    assert np.isfinite(got.gradient).all()
    scale = np.abs(Z).T @ np.abs(E)
    np.testing.assert_allclose(got.gradient, Z.T @ E, rtol=0, atol=1e-13 * scale.max())


def test_ragged_chunks_reuse_one_buffer_per_thread() -> None:
    """A block's last chunk is shorter: its buffers are views of the full chunk's, so a source
    of many blocks of different lengths costs no more memory than one chunk per thread."""
    X, Y, _ = _problem(n=50, p=3, q=1, weights=False)
    rows = residuals.RowMap(np.ones((4, 1)), np.eye(4), np.zeros(3), np.arange(4), True)
    full = rows.scratch(rows.chunk)
    for c in (1, 17, 33, rows.chunk - 1):
        tail = rows.scratch(c)
        assert tail.T.shape == (c, 5) and tail.T.flags.f_contiguous
        assert np.shares_memory(tail.T, full.T) and np.shares_memory(tail.h, full.h)
    assert rows.scratch(rows.chunk) is full
    B1 = rows.buffer("B", (100, 4), "F")
    B2 = rows.buffer("B", (7, 4), "F")
    assert B2.flags.f_contiguous and np.shares_memory(B1, B2)
    Q, E = rows(X[:33], Y[:33], None)  # a short chunk through the views: Q = [1 X], E = Y - ΣX - 1
    np.testing.assert_allclose(Q, np.column_stack([np.ones(33), X[:33]]), rtol=1e-15)
    np.testing.assert_allclose(E[:, 0], Y[:33, 0] - 1.0 - X[:33].sum(axis=1), rtol=1e-12)
