"""The many-core wide Gram path (``GRAM_BLAS_THREADED_*``: k >= 96, n k² large, >= 8 CPUs) runs
on machines with many cores only; here it is forced on (CPU count and size bound patched) and
must give the R factor of the default path, and the same fit as QR of the design."""

import numpy as np
import pytest

from olsnet.solve import _gram


def _R(monkeypatch, cpus, X, Y, w, shift):
    monkeypatch.setattr(_gram, "usable_cpus", lambda: cpus)
    monkeypatch.setattr(_gram, "GRAM_BLAS_THREADED_MIN_FLOPS", 1)
    calls = []
    real = _gram._gram_rows

    def spy(*args):
        calls.append(args[-1] is True)  # the wide path passes symmetric=True (dsyrk blocks)
        return real(*args)

    monkeypatch.setattr(_gram, "_gram_rows", spy)
    state = _gram.gram_state(X, Y, w, True, shift=shift)
    assert state is not None
    assert calls and all(calls) == (cpus >= 8), calls  # the path asked for was taken
    return state.R


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shifted", [False, True])
def test_wide_path_equals_the_default_path(monkeypatch, weighted, shifted) -> None:
    rng = np.random.default_rng(11)
    n, p = 5000, 100
    X = rng.standard_normal((n, p)) + 3.0
    Y = (X @ rng.standard_normal(p) + rng.standard_normal(n))[:, None]
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    shift = np.concatenate([X.mean(axis=0), Y.mean(axis=0)]) if shifted else None
    wide = _R(monkeypatch, 16, X, Y, w, shift)
    default = _R(monkeypatch, 2, X, Y, w, shift)
    # R is unique up to row signs (both paths factor the same Gram matrix by Cholesky)
    np.testing.assert_allclose(
        np.abs(wide), np.abs(default), rtol=1e-12, atol=1e-12 * np.abs(default).max()
    )
    # and its leading block factors the (weighted, shifted) design: RᵀR = AᵀWA
    A = np.column_stack([np.ones(n), X, Y])
    if shift is not None:
        A[:, 1:] -= shift
    if w is not None:
        A = A * np.sqrt(w)[:, None]
    G = A.T @ A
    np.testing.assert_allclose(wide.T @ wide, G, rtol=1e-10, atol=1e-9 * np.abs(G).max())
