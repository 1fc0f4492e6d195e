"""Every threshold that decides accuracy or speed in olsnet, in one place, with its measurement.

Paths that use them: ``_policy.lstsq`` (in-memory fits), ``_exact`` (the refined exact path),
``_kernels`` (row folds), ``olsnet.data`` file folds. Benchmarks behind the numbers:
``benchmarks/bench_core.py``, ``bench_scale.py``, ``bench_small.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

__all__ = [
    "COV_REFINE_COND",
    "EXACT_AUTO_MAX_ELEMENTS",
    "EXACT_MAX_ELEMENTS",
    "FILE_GRAM_MAX_COND",
    "GRAM_BLAS_THREADED_BLOCK_BYTES",
    "GRAM_BLAS_THREADED_BLOCK_ROWS",
    "GRAM_BLAS_THREADED_MIN_CPUS",
    "GRAM_BLAS_THREADED_MIN_FLOPS",
    "GRAM_BLAS_THREADED_MIN_K",
    "GRAM_CLEAN_COND",
    "GRAM_FOLD_MIN_DIAG",
    "GRAM_MAX_COND",
    "REFINE_MAX_PASSES",
    "SSR_CANCELLATION",
]

# Device arrays, policy="auto": factored on the host by the exact path up to this many entries
# of [1 X Y] (olsnet.solve._device).
EXACT_MAX_ELEMENTS = 400_000
# In-memory NumPy fits, policy="auto": the exact path (QR + extended-precision refinement) up to
# this many entries of [1 X Y]; above it the checked normal equations (condition number decides,
# refinement passes where it is needed: _policy). Its extended-precision passes (long double,
# no BLAS) cost ~5x the Gram fold per entry: at (30,000 x 10) 9.9 ms against 1.6 ms for the
# checked Gram path (scikit-learn 7.6 ms), at (1,000 x 10) the two are equal (0.7 ms), measured
# on the loaded 2-core machine, 2026-11-30 (benchmarks/bench_speed.py --part small).
EXACT_AUTO_MAX_ELEMENTS = 32_768
# Condition number κ of the column-scaled R of [1 X] (in-memory normal equations):
GRAM_CLEAN_COND = 30.0  # accepted as is: κ² eps ≈ 2e-13
GRAM_MAX_COND = 1e6  # κ² eps ≈ 1e-4: corrected semi-normal refinement still contracts
REFINE_MAX_PASSES = 4  # refinement passes over the data at most (each halves the error or stops)
SSR_CANCELLATION = 1e3  # refine when TSS / SSR exceeds this (R² > 0.999): yᵀy - βᵀXᵀy cancels
# Streamed files (no second pass over the data is cheap): the Gram fold is kept when κ of the
# column-scaled [1 X] factor is at most this (cond² · eps ≈ 2e-12); else the files are re-read
# and folded by Householder QR.
FILE_GRAM_MAX_COND = 100.0
# A block's Gram matrix whose scaled Cholesky factor has a diagonal entry below this is
# (nearly) singular: that block is folded by QR instead.
GRAM_FOLD_MIN_DIAG = 1e-7
# Exact path: below this κ, (AᵀA)⁻¹ = R⁻¹R⁻ᵀ in double is accurate to ~1e-14 relative and its
# refinement (O(n r²) long-double work a step: 9 s at 2,000 x 198) is skipped.
COV_REFINE_COND = 100.0
# In-memory normal equations (``_gram.gram_state``) with wide designs on many rows: from k =
# 1 + p + q ≥ GRAM_BLAS_THREADED_MIN_K columns (OpenBLAS's small-matrix kernel then takes at most
# ~96 rows a call, so Python's per-block overhead, serialized by the GIL, dominates: 8M x 100 took
# 4.69 s on 16 cores, numpy's X.T @ X 0.1-0.2 s) and n·k² ≥ GRAM_BLAS_THREADED_MIN_FLOPS
# (where waking BLAS threads, ~0.1 ms a call when idle, is < 1% of the work at 16 cores'
# ~200 GFlop/s), G is folded by one thread of ours in blocks of GRAM_BLAS_THREADED_BLOCK_ROWS rows
# (at most GRAM_BLAS_THREADED_BLOCK_BYTES per block copy), each product large enough that
# OpenBLAS threads it over all cores itself (no nested threads of ours). Each block's AᵀA is one
# ``dsyrk`` (NumPy's own kernel for X.T @ X: half the flops of dgemm), and, unweighted and
# unshifted, on X itself (a view, no copy), with Xᵀ[1 Y] on the same block while it is in the
# last-level cache: one read of X. (2e6 x 100 on the quiet 2-core machine, path forced:
# 0.72 s against 0.53 s for NumPy's X.T @ X alone and 0.86 s for the small-kernel blocks.)
# Below either bound the small-kernel blocks stay (no BLAS threads).
GRAM_BLAS_THREADED_MIN_K = 96
GRAM_BLAS_THREADED_MIN_FLOPS = 1e9
GRAM_BLAS_THREADED_BLOCK_ROWS = 65_536  # 2^16 rows: 1.3 GFlop a product at k = 100
GRAM_BLAS_THREADED_BLOCK_BYTES = 64 * 2**20
# ... and only with this many usable CPUs: on the busy 2-core machine the BLAS-threaded blocks
# were slower and erratic (2e6 x 100: 0.75-18.9 s against 1.06-1.82 s for the small-kernel
# blocks on 2 threads of ours, 2026-11-30), so few cores keep the small-kernel path.
GRAM_BLAS_THREADED_MIN_CPUS = 8
