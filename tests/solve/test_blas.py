"""GIL-free BLAS/LAPACK entry points: the same arithmetic as NumPy, other threads keep running."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from olsnet.solve import _blas
from olsnet.solve._blas import GramAccumulator, aligned_fortran, gemm_tn, syrk_tn, tpqrt


@pytest.fixture(params=["ctypes", "f2py fallback"])
def entry_points(request, monkeypatch):
    """Run a test through SciPy's Cython entry points, then through the f2py fallback (used
    where those cannot be found): the same arithmetic either way."""
    if request.param != "ctypes":
        monkeypatch.setattr(_blas, "_DGEMM", None)
        monkeypatch.setattr(_blas, "_DTPQRT", None)
        monkeypatch.setattr(_blas, "_DSYRK", None)
    return request.param


def test_aligned_fortran_is_aligned_and_column_major():
    for rows, k in [(8, 3), (2264, 21), (1000, 7)]:
        A = aligned_fortran(rows, k)
        assert A.shape == (rows, k) and A.flags.f_contiguous
        assert A.ctypes.data % 64 == 0


@pytest.mark.parametrize("b", [1, 77, 2264])
def test_gram_accumulator_sums_chunk_products(b, entry_points):
    rng = np.random.default_rng(b)
    acc = GramAccumulator(2264, 9)
    expected = np.zeros((9, 9))
    for _ in range(3):
        chunk = rng.standard_normal((b, 9))
        acc.buf[:b] = chunk
        acc.add(b)
        expected += chunk.T @ chunk
    np.testing.assert_allclose(acc.G, expected, rtol=1e-13, atol=1e-12)
    acc.add(0)  # no rows: nothing changes
    np.testing.assert_allclose(acc.G, expected, rtol=1e-13, atol=1e-12)


def test_tpqrt_on_a_block_view_matches_numpy_qr(entry_points):
    rng = np.random.default_rng(1)
    buf = aligned_fortran(500, 6)
    A = rng.standard_normal((300, 6))
    buf[:300] = A
    R = np.zeros((6, 6), order="F")
    tpqrt(R, buf[:300], 0, 4)  # a row slice of a larger Fortran buffer (ld 500)
    ref = np.linalg.qr(A, mode="r")
    np.testing.assert_allclose(np.abs(np.triu(R)), np.abs(ref), rtol=1e-12, atol=1e-12)


def test_tpqrt_merges_two_triangles(entry_points):
    rng = np.random.default_rng(2)
    Ra = np.asfortranarray(np.linalg.qr(rng.standard_normal((50, 5)), mode="r"))
    Rb = np.asfortranarray(np.linalg.qr(rng.standard_normal((40, 5)), mode="r"))
    ref = np.linalg.qr(np.vstack([Ra, Rb]), mode="r")
    out = tpqrt(Ra.copy(order="F"), Rb.copy(order="F"), 5, 4)
    np.testing.assert_allclose(np.abs(np.triu(out)), np.abs(ref), rtol=1e-12, atol=1e-13)


def test_gemm_tn_on_row_and_column_major_views(entry_points):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((1000, 7))
    Z = rng.standard_normal((1000, 3))
    for A in (X[100:400], np.asfortranarray(X)[100:400], X[::3]):
        for B in (Z[100:400], np.asfortranarray(Z)[100:400], Z[::3], A):
            if B.shape[0] != A.shape[0]:
                continue
            C = np.zeros((A.shape[1], B.shape[1]), order="F")
            gemm_tn(C, A, B)
            gemm_tn(C, A, B)
            np.testing.assert_allclose(C, 2 * A.T @ B, rtol=1e-13, atol=1e-12)


def test_syrk_tn_adds_the_upper_triangle_exactly(entry_points):
    """Integer entries (|x| < 2^10, 300 rows): every product and sum is exact in float64, so
    ``syrk_tn`` must equal the integer Gram matrix exactly on and above the diagonal, and leave
    the lower triangle untouched; on row-major, column-major and strided row views."""
    rng = np.random.default_rng(5)
    Xi = rng.integers(-1000, 1000, size=(900, 9))
    X = Xi.astype(np.float64)
    for sl, A in [
        (slice(100, 400), X[100:400]),
        (slice(100, 400), np.asfortranarray(X)[100:400]),
        (slice(None, None, 3), X[::3]),
    ]:
        exact = Xi[sl].T @ Xi[sl]  # int64, exact
        C = np.full((9, 9), 7.0, order="F")
        syrk_tn(C, A)
        syrk_tn(C, A)
        upper = np.triu_indices(9)
        lower = np.tril_indices(9, -1)
        np.testing.assert_array_equal(C[upper], 7.0 + 2 * exact[upper])
        np.testing.assert_array_equal(C[lower], 7.0)


def test_long_blas_call_lets_other_threads_run():
    """While this thread is inside dgemm, a pure-Python thread keeps counting at a good part
    of its free-running rate (the GIL is released); through SciPy's f2py ``blas.dgemm``,
    which holds the GIL, it managed 7% (one switch interval)."""
    from threadpoolctl import threadpool_limits

    acc = GramAccumulator(400_000, 60)
    acc.buf[:] = np.random.default_rng(3).standard_normal((400_000, 60))
    count, stop = [0], threading.Event()

    def spin() -> None:
        while not stop.is_set():
            count[0] += 1

    def counted(fn) -> tuple[int, float]:
        before, t0 = count[0], time.perf_counter()
        fn()
        return count[0] - before, time.perf_counter() - t0

    t = threading.Thread(target=spin)
    t.start()
    try:
        with threadpool_limits(1):  # one core for BLAS, one for the counting thread
            during, seconds = counted(lambda: acc.add(400_000))
            free, free_seconds = counted(lambda: time.sleep(seconds))
    finally:
        stop.set()
        t.join()
    assert during / seconds > 0.3 * free / free_seconds


def test_distinct_dimensions_beyond_the_cap_do_not_grow_the_int_cache(monkeypatch):
    """Every distinct n of a Fortran-ordered X is a leading dimension; past ``_INTS_MAX``
    values the C ints live in a per-thread ring, and the products stay exact (integers)."""
    monkeypatch.setattr(_blas, "_INTS", dict(list(_blas._INTS.items())))
    monkeypatch.setattr(_blas, "_INTS_MAX", len(_blas._INTS))  # full: nothing more is kept
    kept = len(_blas._INTS)
    rng = np.random.default_rng(0)
    for n in range(3_001, 3_041):  # 40 new row counts: column-major leading dimensions
        A = np.asfortranarray(rng.integers(-5, 6, (n, 3)).astype(float))
        C = gemm_tn(np.zeros((3, 3), order="F"), A, A)
        np.testing.assert_array_equal(C, A.T @ A)
    assert len(_blas._INTS) == kept
