"""BLAS / LAPACK calls that release the GIL and work in place, for folds on a thread pool.

SciPy's f2py ``scipy.linalg.blas`` wrappers hold the GIL for the whole call, and NumPy's ``@``
mostly does for ``AᵀA`` (measured: a pure-Python thread made no progress during
``blas.dgemm``); two threads folding blocks through them ran no faster than one. ``np.dot``
releases it but takes ``dsyrk``, 2-3x slower here than ``dgemm`` on tall blocks of ~20
columns; the f2py ``dtpqrt`` copies a row slice of a buffer before working on it. ctypes
releases the GIL around every foreign call, so the routines below call SciPy's own Cython
entry points (``scipy.linalg.cython_blas`` and ``cython_lapack``, the stable C-level API other
packages link against, LP64 ``int``) through ctypes, on views in place. Where those cannot be
found the f2py wrappers are used instead (the same arithmetic, without the parallelism).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections import deque
from typing import Any

import numpy as np

__all__ = [
    "SMALL_GEMM",
    "ChunkQR",
    "GramAccumulator",
    "aligned_fortran",
    "default_workers",
    "dgemm_raw",
    "gemm_tn",
    "gram_chunk_rows",
    "small_gemm_rows",
    "syrk_tn",
    "tpqrt",
    "usable_cpus",
]

# OpenBLAS multiplies "small" matrices (m·n·k up to 100³ on x86-64) without packing them; for
# k ≈ 21 columns that is 3x faster per row than its packed dgemm and its dsyrk (measured, one
# thread, aligned buffer: 0.22-0.34 s per 10M rows of 21 columns in chunks of up to 2,264 rows,
# 0.8-1.0 s in chunks of 2,376 or more).
SMALL_GEMM = 100**3


# Above the small-matrix kernel, OpenBLAS runs a product m·n·k ≤ 65,536 · 4 on the calling
# thread and wakes its own threads beyond (on a busy machine one such call took 26-64 ms against
# 0.03-0.1 ms). Its small-matrix kernel for "TN" products (both operands column-major, as in
# BᵀB of a column-major chunk) only takes m·n ≤ 1,200 (OpenBLAS's Skylake-X permit rule).
SMP_THRESHOLD = 65536 * 4
TN_SMALL_MAX_MN = 1200


def gram_chunk_rows(k: int, least: int, most: int) -> int:
    """Rows per column-major chunk B (rows, k) so that ``BᵀB`` runs on the calling thread."""
    if k * k <= TN_SMALL_MAX_MN:
        return small_gemm_rows(k, least, most)
    return max(8, min(SMP_THRESHOLD // (k * k), most) // 8 * 8)


def small_gemm_rows(k: int, least: int, most: int) -> int:
    """Rows per chunk so that a (rows, k) chunk's ``AᵀA`` stays within OpenBLAS's small-matrix
    kernel, clipped to [least, most] and a multiple of 8 (aligned columns)."""
    return max(8, min(max(SMALL_GEMM // max(k * k, 1), least), most) // 8 * 8)


MAX_DEFAULT_WORKERS = 8  # n_jobs=None: the CPUs this process may use, at most this many


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """Threads for ``n_jobs=None``: the usable CPUs, at most ``MAX_DEFAULT_WORKERS``."""
    return min(usable_cpus(), MAX_DEFAULT_WORKERS)


_c_void_p = ctypes.c_void_p


def _entry_point(module: Any, name: str, nargs: int) -> Any:
    """ctypes function for ``module.name`` (every argument a pointer), or None."""
    try:
        capsule = module.__pyx_capi__[name]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        get_pointer.restype = _c_void_p
        get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        address = get_pointer(capsule, get_name(capsule))
    except (AttributeError, KeyError, ValueError, TypeError):  # pragma: no cover - other SciPy
        return None
    if not address:  # pragma: no cover
        return None
    return ctypes.CFUNCTYPE(None, *([_c_void_p] * nargs))(address)


def _load() -> tuple[Any, Any, Any]:
    from scipy.linalg import cython_blas, cython_lapack

    return (
        _entry_point(cython_blas, "dgemm", 13),
        _entry_point(cython_lapack, "dtpqrt", 12),
        _entry_point(cython_blas, "dsyrk", 10),
    )


_DGEMM, _DTPQRT, _DSYRK = _load()

# Read-only scalar arguments, made once: their addresses are what the routines take.
_KEEP: list[Any] = [
    ctypes.c_char(b"T"), ctypes.c_char(b"N"), ctypes.c_double(1.0), ctypes.c_char(b"U")
]  # fmt: skip
_T, _N, _ONE, _UPPER = (ctypes.addressof(x) for x in _KEEP)
_INTS: dict[int, int] = {}  # value -> address of a c_int holding it (never written by LAPACK)
# At most this many values are kept for good (one per distinct dimension: every n of a
# Fortran-ordered X would otherwise stay forever); others live in a per-thread ring.
_INTS_MAX = 4096
_RECENT_BOXES = 64
_RECENT = threading.local()
# BLAS's LP64 ``int``: a larger dimension or leading dimension (a row stride of 2³¹ elements,
# as in a view of a huge memory-mapped array) would wrap in a C int and make BLAS read the
# wrong elements; such operands take NumPy's own product instead
LP64_MAX = 2**31 - 1


def _int(value: int) -> int:
    """Address of a read-only C int equal to ``value``.

    Raises
    ------
    OverflowError
        ``value`` does not fit a C int (callers check first; ctypes would wrap it silently).
    """
    address = _INTS.get(value)
    if address is None:
        if not -LP64_MAX - 1 <= value <= LP64_MAX:
            raise OverflowError(f"{value} does not fit BLAS's 32-bit integer")
        box = ctypes.c_int(value)
        if len(_INTS) < _INTS_MAX:  # the sizes a process meets again and again
            _KEEP.append(box)
            address = _INTS[value] = ctypes.addressof(box)
        else:  # beyond: kept alive by this thread's last few (one call needs at most six)
            recent = _RECENT.__dict__.setdefault("boxes", deque(maxlen=_RECENT_BOXES))
            recent.append(box)
            address = ctypes.addressof(box)
    return address


def _as_fortran_operand(A: np.ndarray) -> tuple[int, int] | None:
    """(op, ld) that make the (b, m) float64 matrix ``A`` the Fortran operand ``op(M)`` with
    ``op(M)ᵀ = Aᵀ`` as dgemm's first factor: column-major A is ``M = A``, op "T"; row-major A
    is ``M = Aᵀ`` (m, b) with its row stride as leading dimension, op "N". None otherwise."""
    if A.dtype != np.float64 or A.ndim != 2 or A.strides[0] % 8 or A.strides[1] % 8:
        return None
    if max(*A.shape, *(abs(s) // 8 for s in A.strides)) > LP64_MAX:
        return None
    b, m = A.shape
    if A.strides[0] == 8 and A.strides[1] >= 8 * max(b, 1):
        return _T, A.strides[1] // 8
    if A.strides[1] == 8 and A.strides[0] >= 8 * max(m, 1):
        return _N, A.strides[0] // 8
    return None


def gemm_tn(C: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``C += AᵀB`` in place, the GIL released: ``A`` (b, m) and ``B`` (b, n) row- or
    column-major (views such as row blocks of a C-ordered X work without a copy), ``C`` (m, n)
    Fortran-ordered. Returns ``C``."""
    (b, m), n = A.shape, B.shape[1]
    fa, fb = _as_fortran_operand(A), _as_fortran_operand(B)
    if _DGEMM is None or fa is None or fb is None or not C.flags.f_contiguous:
        C += A.T @ B
        return C
    if b == 0 or m == 0 or n == 0:
        return C
    (op_a, lda), (op_b, ldb) = fa, fb
    op_b = _N if op_b == _T else _T  # B enters as itself, not transposed
    _DGEMM(
        op_a, op_b, _int(m), _int(n), _int(b), _ONE, A.ctypes.data, _int(lda),
        B.ctypes.data, _int(ldb), _ONE, C.ctypes.data, _int(m),
    )  # fmt: skip
    return C


_OPS = {"N": _N, "T": _T}


def dgemm_raw(
    op_a: str, op_b: str, m: int, n: int, k: int, a: int, lda: int, b: int, ldb: int, c: int,
    ldc: int,
) -> bool:  # fmt: skip
    """``C += op(A) op(B)`` on raw addresses of column-major operands (BLAS's own arguments:
    ``op_a``/``op_b`` "N" or "T", C (m, n) with leading dimension ``ldc``), the GIL released.

    No checks: the caller vouches for shapes, strides and lifetimes (for loops of many small
    products whose buffers and layouts are fixed, where :func:`gemm_tn`'s checks and pointer
    lookups cost more than the product). Returns False, doing nothing, when SciPy's Cython
    BLAS is not available (the caller then uses :func:`gemm_tn`).
    """
    if _DGEMM is None:  # pragma: no cover - SciPy without its Cython BLAS
        return False
    _DGEMM(
        _OPS[op_a], _OPS[op_b], _int(m), _int(n), _int(k), _ONE, a, _int(lda), b, _int(ldb),
        _ONE, c, _int(ldc),
    )  # fmt: skip
    return True


def syrk_tn(C: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``C += AᵀA`` on and above the diagonal of ``C`` (m, m), Fortran-ordered, in place by
    ``dsyrk`` (half the flops of ``gemm_tn``), the GIL released; ``A`` (b, m) row- or
    column-major (a C-ordered X itself works without a copy). The strict lower triangle of
    ``C`` is left as it was. This is the kernel of NumPy's own ``X.T @ X``: for large ``A``
    OpenBLAS threads it over all cores. Returns ``C``."""
    b, m = A.shape
    fa = _as_fortran_operand(A)
    if _DSYRK is None or fa is None or not C.flags.f_contiguous:
        C += np.triu(A.T @ A)
        return C
    if b == 0 or m == 0:
        return C
    op, lda = fa
    # op "T": C += MᵀM for column-major M = A; op "N": C += MMᵀ for M = Aᵀ (row-major A)
    _DSYRK(
        _UPPER, op, _int(m), _int(b), _ONE, A.ctypes.data, _int(lda), _ONE, C.ctypes.data, _int(m)
    )
    return C


def aligned_fortran(rows: int, k: int, align: int = 64) -> np.ndarray:
    """Empty (rows, k) Fortran-ordered float64 array whose data starts on an ``align``-byte
    boundary."""
    raw = np.empty(rows * k + align // 8)
    start = (-raw.ctypes.data % align) // 8
    return raw[start : start + rows * k].reshape(k, rows).T


class GramAccumulator:
    """``G = Σ BᵀB`` over chunks written into one reused Fortran-ordered buffer.

    ``buf`` (rows, k) is filled by the caller; ``add(b)`` adds ``buf[:b]ᵀ buf[:b]`` to ``G``
    (k, k) with ``dgemm``, not ``dsyrk``: OpenBLAS multiplies small products (m·n·k up to
    100³) without packing, 2-3x faster than its ``dsyrk`` for 20-odd columns. Pointers
    are taken once, so a call costs ~2 µs beyond the arithmetic. The buffer is 64-byte
    aligned (with ``rows`` a multiple of 8, every column is): OpenBLAS's AVX-512 kernel ran
    1.75x faster on aligned columns (35 against 20 GFlop/s, k = 21, one core).
    """

    def __init__(self, rows: int, k: int) -> None:
        self.buf = aligned_fortran(rows, k)
        self.G = np.zeros((k, k), order="F")
        self._k, self._ld = _int(k), _int(rows)
        self._b = self.buf.ctypes.data
        self._g = self.G.ctypes.data

    def add(self, b: int, start: int = 0) -> None:
        """``G += buf[start:start + b]ᵀ buf[start:start + b]`` (a buffer filled once can be
        added in several chunks, each small enough for the small-matrix kernel)."""
        if b <= 0:
            return
        if _DGEMM is None:  # pragma: no cover - SciPy without its Cython BLAS
            from scipy.linalg import blas

            B = self.buf[start : start + b]
            self.G[...] = blas.dgemm(1.0, B, B, beta=1.0, c=self.G, trans_a=1)
            return
        k, ld, ptr = self._k, self._ld, self._b + 8 * start
        _DGEMM(_T, _N, k, k, _int(b), _ONE, ptr, ld, ptr, ld, _ONE, self._g, k)


class ChunkQR:
    """``R`` (k, k) updated by the QR of ``[R; buf[:b]]`` (``dtpqrt``, panel ``nb``) for
    chunks written into one reused, aligned Fortran-ordered buffer ``buf`` (rows, k).

    As :class:`GramAccumulator`: the pointers, LAPACK's work arrays and its ``info`` are made
    once, so a call is one foreign call with the GIL released and no Python-side allocation --
    folds on many threads hold the GIL for a few microseconds per chunk, not tens. ``R`` starts
    at zero; one object per thread (it is not shared).
    """

    def __init__(self, rows: int, k: int, nb: int) -> None:
        self.buf = aligned_fortran(rows, k)
        self.R = np.zeros((k, k), order="F")
        self._nb = nb
        self._T = np.empty((nb, k), order="F")
        self._work = np.empty(nb * k)
        self._info = ctypes.c_int(0)
        self._args = (_int(k), _int(0), _int(nb), self.R.ctypes.data, _int(k), self.buf.ctypes.data)
        self._tail = (_int(rows), self._T.ctypes.data, _int(nb), self._work.ctypes.data)
        self._info_at = ctypes.addressof(self._info)

    def fold(self, b: int) -> None:
        """``R`` := R of ``[R; buf[:b]]`` (``buf[:b]`` is overwritten).

        Raises
        ------
        RuntimeError
            When LAPACK reports an illegal argument (``info != 0``).
        """
        if b <= 0:
            return
        if _DTPQRT is None:  # pragma: no cover - SciPy without its Cython LAPACK
            tpqrt(self.R, self.buf[:b], 0, self._nb)
            return
        kk, zero, nbb, r, ldr, ptr = self._args
        ldb, t, ldt, work = self._tail
        _DTPQRT(_int(b), kk, zero, nbb, r, ldr, ptr, ldb, t, ldt, work, self._info_at)
        if self._info.value != 0:  # pragma: no cover - arguments are built above
            raise RuntimeError(f"LAPACK dtpqrt failed with info={self._info.value}")


def tpqrt(R: np.ndarray, B: np.ndarray, l: int, nb: int) -> np.ndarray:  # noqa: E741
    """QR of ``[R; B]`` in place (LAPACK ``dtpqrt``): ``R`` (k, k) upper triangular,
    Fortran-ordered, becomes the new triangle; ``B`` (m, k) column-major is overwritten
    (``l``, LAPACK's name: rows of B's trapezoidal part, 0 for a full block, k for a
    triangle).

    Returns ``R``.

    Raises
    ------
    RuntimeError
        When LAPACK reports an illegal argument (``info != 0``).
    """
    m, k = B.shape
    fb = _as_fortran_operand(B)
    ldb = fb[1] if fb is not None and fb[0] == _T else None  # column-major B only
    if _DTPQRT is None or ldb is None or not R.flags.f_contiguous:
        from scipy.linalg import lapack

        R2, _, _, info = lapack.dtpqrt(l, nb, R, np.asfortranarray(B), overwrite_a=1)
        if info != 0:
            raise RuntimeError(f"LAPACK dtpqrt failed with info={info}")
        R[...] = R2
        return R
    if m == 0:
        return R
    T = np.empty((nb, k), order="F")
    work = np.empty(nb * k)
    info = ctypes.c_int(0)
    kk, nbb = _int(k), _int(nb)
    _DTPQRT(
        _int(m), kk, _int(l), nbb, R.ctypes.data, kk, B.ctypes.data, _int(ldb),
        T.ctypes.data, nbb, work.ctypes.data, ctypes.addressof(info),
    )  # fmt: skip
    if info.value != 0:
        raise RuntimeError(f"LAPACK dtpqrt failed with info={info.value}")
    return R
