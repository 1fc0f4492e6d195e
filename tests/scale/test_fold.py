"""The fast block fold and the thread pool: the same fit as the in-memory exact solver."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import statsmodels.api as sm
from _scale_data import make_regression
from hypothesis import given, settings
from hypothesis import strategies as st

from olsnet.errors import DataError
from olsnet.scale import fit_state_threaded, fold_arrays
from olsnet.solve import QRState, exact_lstsq, lstsq, solve_state
from olsnet.solve._fold import fold_columns, merge_states


def _close(a, b, rtol=1e-12):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_fold_arrays_matches_exact_and_statsmodels(weights, fit_intercept):
    X, Y, w = make_regression(5000, 6, q=2, seed=3, weights=weights)
    sol = solve_state(fold_arrays(X, Y, w, fit_intercept, chunk_rows=700))
    ref = exact_lstsq(X, Y, w, fit_intercept)
    _close(sol.params, ref.params)
    _close(sol.cov_unscaled, ref.cov_unscaled, rtol=1e-11)
    _close(sol.ssr, ref.ssr)
    _close(sol.centered_tss, ref.centered_tss)
    assert sol.nobs == 5000
    exog = sm.add_constant(X) if fit_intercept else X
    sm_fit = sm.WLS(Y[:, 0], exog, weights=1.0 if w is None else w).fit()
    _close(sol.params[:, 0], sm_fit.params, rtol=1e-10)


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gram_kernel_matches_exact_and_qr_kernel(weights, fit_intercept):
    X, Y, w = make_regression(5000, 6, q=2, seed=4, weights=weights)
    cols = [*X.T, *Y.T]
    gram = fold_columns(cols, 6, w, fit_intercept, kernel="gram")
    qr = fold_columns(cols, 6, w, fit_intercept, chunk_rows=700)
    ref = exact_lstsq(X, Y, w, fit_intercept)
    _close(solve_state(gram).params, ref.params, rtol=1e-11)
    _close(gram.R, qr.R, rtol=1e-10)  # same factor (diag >= 0) up to rounding
    _close(gram.zsum, qr.zsum)  # column sums read off the Gram matrix's row of ones
    assert (gram.nobs, gram.sum_weights) == (qr.nobs, qr.sum_weights)


@pytest.mark.parametrize("kernel", ["gram", "qr"])
def test_nonfinite_value_located_by_either_kernel(kernel):
    X, Y, _ = make_regression(9000, 4, seed=6)
    X[7777, 3] = np.inf
    with pytest.raises(DataError, match=r"X column 3 has a NaN or inf at row 7777"):
        fold_columns([*X.T, *Y.T], 4, None, True, kernel=kernel)


def test_gram_kernel_hands_squares_that_overflow_to_qr():
    from olsnet.solve._kernels import GramNotDefinite

    X, Y, _ = make_regression(100, 2, seed=6)
    X[50, 1] = 1e200  # finite, but its square is not
    with pytest.raises(GramNotDefinite):
        fold_columns([*X.T, *Y.T], 2, None, True, kernel="gram")
    state = fold_columns([*X.T, *Y.T], 2, None, True)  # Householder QR needs no squares
    _close(solve_state(state).params, lstsq(X, Y, None, True, policy="exact").params, rtol=1e-9)


def test_fold_arrays_equals_qrstate_fold(data):
    X, Y, _ = data
    fast = fold_arrays(X, Y, None, True)
    slow = QRState.empty(4, 1, True).fold(X, Y)
    _close(fast.R, slow.R, rtol=1e-11)
    _close(fast.zsum, slow.zsum)
    assert (fast.nobs, fast.sum_weights) == (slow.nobs, slow.sum_weights)


def test_zero_weights_are_not_observations():
    X, Y, w = make_regression(400, 3, seed=5, weights=True)
    w[::4] = 0.0
    keep = w > 0
    a = solve_state(fold_arrays(X, Y, w, True))
    b = solve_state(fold_arrays(X[keep], Y[keep], w[keep], True))
    _close(a.params, b.params)
    assert a.nobs == b.nobs == keep.sum()


def test_nonfinite_value_names_row_and_column(data):
    X, Y, _ = data
    X = X.copy()
    X[2345, 2] = np.nan
    with pytest.raises(DataError, match=r"X column 2 has a NaN or inf at row 2345"):
        fold_arrays(X, Y, None, True, chunk_rows=1000)


@pytest.mark.parametrize("n_jobs", [2, 3, None])
def test_thread_count_does_not_change_the_fit(n_jobs):
    X, Y, w = make_regression(20_000, 5, seed=7, weights=True)
    one = fit_state_threaded((X, Y, w), True, n_jobs=1, block_rows=1500)
    many = fit_state_threaded((X, Y, w), True, n_jobs=n_jobs, block_rows=1500)
    # blocks are merged in block order whatever the thread count: the same operations
    np.testing.assert_array_equal(one.R, many.R)
    _close(solve_state(many).params, exact_lstsq(X, Y, w, True).params)


def test_threaded_block_source_equals_in_memory_estimator(data):
    from olsnet import LinearRegression
    from olsnet.data import ArraySource, as_design

    X, Y, _ = data
    source = ArraySource(as_design(X, Y[:, 0]), block_rows=512)
    state = source.fit_state(True, n_jobs=2)  # the source's own threaded fold
    _close(solve_state(state).params, solve_state(fit_state_threaded(source, True, 1)).params)
    streamed = LinearRegression(cov_type="HC2").fit(source)
    in_memory = LinearRegression(cov_type="HC2").fit(X, Y[:, 0])
    _close(streamed.coef_, in_memory.coef_)
    _close(streamed.result_.bse, in_memory.result_.bse)


def test_error_in_a_block_stops_the_pool():
    X, Y, _ = make_regression(1000, 2, seed=1)

    class Failing:
        n_features, n_outputs = 2, 1
        feature_names, target_names = ("a", "b"), ("y",)

        def blocks(self):
            yield X[:500], Y[:500], None
            raise OSError("disk went away after row 500")

    with pytest.raises(OSError, match="row 500"):
        fit_state_threaded(Failing(), True, n_jobs=2)


@st.composite
def splits_and_tree(draw):
    n = 240
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=12)))
    picks = draw(st.lists(st.integers(0, 10**6), min_size=len(cuts), max_size=len(cuts)))
    slow = draw(st.lists(st.booleans(), min_size=len(cuts) + 1, max_size=len(cuts) + 1))
    return [0, *cuts, n], picks, slow


@settings(max_examples=40, deadline=None)
@given(splits_and_tree(), st.booleans())
def test_random_splits_in_random_merge_trees_give_the_same_fit(plan, weighted):
    bounds, picks, slow = plan
    X, Y, w = make_regression(240, 3, q=2, seed=9, weights=weighted)
    states = []
    for (a, b), use_slow in zip(itertools.pairwise(bounds), slow, strict=True):
        wb = None if w is None else w[a:b]
        if use_slow:  # the lead's fold: states of both kinds must merge
            states.append(QRState.empty(3, 2, True).fold(X[a:b], Y[a:b], wb))
        else:
            states.append(fold_arrays(X[a:b], Y[a:b], wb, True))
    for pick in picks:  # merge a random pair (any order: merging is commutative) until one
        i = pick % len(states)
        j = (pick // len(states)) % (len(states) - 1)
        j = j + 1 if j >= i else j
        # both merges: the lead's QRState.merge and the dtpqrt merge of equal shifts
        merged = states[i].merge(states[j]) if pick % 2 else merge_states(states[i], states[j])
        states = [s for k, s in enumerate(states) if k not in (i, j)] + [merged]
    (state,) = states
    ref = exact_lstsq(X, Y, w, True)
    sol = solve_state(state)
    _close(sol.params, ref.params)
    _close(sol.ssr, ref.ssr, rtol=1e-11)
    assert state.nobs == 240


def test_tasks_in_flight_are_bounded():
    """fold_in_pool runs at most max_in_flight tasks at once, whatever n_jobs (memory bound)."""
    import threading
    import time

    from olsnet.solve._pool import fold_in_pool

    X, Y, _ = make_regression(1200, 3, seed=2)
    lock = threading.Lock()
    running, peak = [0], [0]

    def task(rows: slice) -> QRState:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)  # the GIL is free: other workers may run meanwhile
        with lock:
            running[0] -= 1
        return fold_arrays(X[rows], Y[rows], None, True)

    def run(max_in_flight):
        peak[0] = 0
        tasks = (lambda s=slice(i, i + 100): task(s) for i in range(0, 1200, 100))
        state = fold_in_pool(tasks, QRState.empty(3, 1, True), 4, max_in_flight)
        _close(solve_state(state).params, exact_lstsq(X, Y, None, True).params)
        return peak[0]

    assert run(2) <= 2
    assert run(1) == 1
    assert run(None) > 2  # four workers, eight tasks in flight


def test_narrow_chunks_keep_every_blas_call_of_dtpqrt_single_threaded():
    """``qr_chunk``: dtpqrt's level-2 calls (rows x (nb - 1)) within OpenBLAS's single-thread
    bound for dger (8,192) and its dgemm (nb x (k - nb) x rows) within SMP_THRESHOLD, for every
    narrow width; wide designs keep the level-3 panels of ``panel_for``."""
    from olsnet.solve._blas import SMP_THRESHOLD
    from olsnet.solve._fold import CHUNK_ROWS, NARROW_MAX_K, qr_chunk
    from olsnet.solve._kernels import panel_for

    for k in range(1, NARROW_MAX_K):
        rows, nb = qr_chunk(k)
        assert rows % 8 == 0 and 8 <= rows <= 8192 and 1 <= nb <= k
        assert rows * (nb - 1) <= 8192
        assert nb * max(k - nb, 0) * rows <= SMP_THRESHOLD
    assert qr_chunk(22) == (4096, 2)  # twice the rows of the 2,048-row chunks before
    assert qr_chunk(130) == (CHUNK_ROWS, panel_for(130))


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_default_chunks_give_householder_r_of_the_design(weights, fit_intercept):
    """Default chunking (several 4,096-row chunks and a short one): R and the column sums equal
    those of one Householder QR of the whole weighted design (numpy), to rounding."""
    X, Y, w = make_regression(4096 * 3 + 123, 7, q=2, seed=12, weights=weights)
    state = fold_arrays(X, Y, w, fit_intercept)
    A = np.column_stack([np.ones(len(X)), X, Y]) if fit_intercept else np.column_stack([X, Y])
    sw = np.ones(len(X)) if w is None else np.sqrt(w)
    R = np.linalg.qr(A * sw[:, None], mode="r")
    R *= np.sign(np.diagonal(R))[:, None]
    np.testing.assert_allclose(state.R, R, rtol=0, atol=1e-12 * np.abs(R).max())
    wz = (np.column_stack([X, Y]) * (sw**2)[:, None]).sum(axis=0)
    np.testing.assert_allclose(state.zsum, wz, rtol=1e-12)
    assert state.nobs == (len(X) if w is None else np.count_nonzero(w))


def test_nonfinite_found_after_the_fold_names_the_first_bad_row():
    """NaN and inf are looked for once the chunks are folded: the first bad row is named, even
    with a second one in a later chunk; finite values whose sums overflow get their own error."""
    X, Y, _ = make_regression(4096 * 3, 5, seed=13)
    X[9000, 4] = np.inf
    X[5000, 1] = np.nan
    with pytest.raises(DataError, match=r"X column 1 has a NaN or inf at row 5000"):
        fold_arrays(X, Y, None, True)
    Y2 = Y.copy()
    Y2[11_000, 0] = np.nan
    with pytest.raises(DataError, match=r"y column 0 has a NaN or inf at row 11000"):
        fold_arrays(X[:, :0], Y2, None, True)
    big = np.full((10, 1), 1e308)
    with pytest.raises(DataError, match="overflow"):
        fold_arrays(big, np.ones((10, 1)), None, True)
