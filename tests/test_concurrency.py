"""Fits from many threads at once (issue 13 item 17): the same results as sequential fits, each
warning delivered to the thread that caused it, and no process-global state changed.

``warnings.catch_warnings`` is itself not thread-safe before Python 3.14 (it swaps module-global
state), so the per-thread capture here is one ``showwarning`` hook installed before the threads
start that files each warning under the thread it was raised in (``warnings.warn`` calls the
hook synchronously in the raising thread).
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import olsnet
from olsnet.errors import AliasedColumnWarning

threadpoolctl = pytest.importorskip("threadpoolctl")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("formulaic")

N_THREADS, FITS_PER_THREAD = 8, 20


def _cases(tmp_path):
    """Mixed fits: small exact, the Gram path, a file, a formula, an aliased column."""
    rng = np.random.default_rng(0)
    X_small = rng.standard_normal((100, 3))
    y_small = X_small @ [1.0, -2.0, 0.5] + rng.standard_normal(100)
    X_big = rng.standard_normal((60_000, 10)) + 3.0  # n (p + 2) > EXACT_MAX_ELEMENTS: Gram
    y_big = X_big @ np.arange(10.0) + rng.standard_normal(60_000)
    X_alias = rng.standard_normal((200, 3))
    X_alias = np.column_stack([X_alias, X_alias[:, 0] + X_alias[:, 1]])  # x4 = x1 + x2
    y_alias = X_alias[:, :3] @ [1.0, 2.0, 3.0] + rng.standard_normal(200)
    frame = pd.DataFrame(X_small, columns=["a", "b", "c"]).assign(y=y_small)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)

    def small():
        return olsnet.LinearRegression().fit(X_small, y_small).result_

    def gram():
        return olsnet.LinearRegression(cov_type="HC3").fit(X_big, y_big).result_

    def aliased():
        return olsnet.LinearRegression().fit(X_alias, y_alias).result_

    def from_file():
        return olsnet.LinearRegression().fit(olsnet.read(path, y="y")).result_

    def formula():
        return olsnet.ols("y ~ a + np.log(b * b + 1) + c", frame)

    return [small, gram, aliased, from_file, formula]


def _values(result):
    return np.concatenate([np.ravel(result.params), np.ravel(result.bse), np.ravel(result.ssr)])


def test_threads_equal_sequential_and_keep_warnings_and_global_state(tmp_path):
    cases = _cases(tmp_path)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        expected = [_values(case()) for case in cases]
    blas_before = threadpoolctl.threadpool_info()

    caught: dict[int, list[warnings.WarningMessage]] = {}
    original_hook = warnings.showwarning

    def per_thread(message, category, filename, lineno, file=None, line=None):
        caught.setdefault(threading.get_ident(), []).append(category)

    warnings.showwarning = per_thread
    try:
        with warnings.catch_warnings():  # main thread only, before any worker starts
            warnings.simplefilter("always")
            warnings.showwarning = per_thread
            filters_before = list(warnings.filters)

            def work(t: int):
                plan = [(t + i) % len(cases) for i in range(FITS_PER_THREAD)]
                got = [(j, _values(cases[j]())) for j in plan]
                return threading.get_ident(), plan, got

            with ThreadPoolExecutor(N_THREADS) as pool:
                runs = list(pool.map(work, range(N_THREADS)))
            assert warnings.filters == filters_before  # no fit touched the filters
    finally:
        warnings.showwarning = original_hook

    for ident, plan, got in runs:
        for j, values in got:
            np.testing.assert_allclose(values, expected[j], rtol=1e-13, atol=1e-13)
        # each aliased fit warned once, in its own thread, and nothing else did
        warned = [c for c in caught.get(ident, []) if c is AliasedColumnWarning]
        assert len(warned) == plan.count(2), (ident, plan, caught.get(ident))
    assert threadpoolctl.threadpool_info() == blas_before  # BLAS thread counts unchanged
