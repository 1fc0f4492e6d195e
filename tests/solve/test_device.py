"""The solver on the data's device (olsnet.solve._device) through array-api-compat.

CI has no GPU: every test without the ``cuda`` mark runs the same device code path on CPU torch
tensors, against independent references (NIST certified values, exact rational arithmetic) and
against the NumPy path. The ``cuda`` tests run where a CUDA device is present
(``pytest -m cuda``; ``benchmarks/bench_device.py`` runs them on the GPU machine).
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

import olsnet
from olsnet._nist import NIST_NAMES, lre, read_nist
from olsnet.errors import (
    AliasedColumnWarning,
    DataError,
    DeviceError,
    DeviceMemoryError,
    DimensionError,
    PrecisionWarning,
)

torch = pytest.importorskip("torch")

from array_api_compat import array_namespace  # noqa: E402

from olsnet.solve import _device  # noqa: E402

FLOOR = {name: (7.5 if name == "Filip" else 12.0) for name in NIST_NAMES}
HAS_CUDA = torch.cuda.is_available()


def _t(a, device="cpu"):
    return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)


def _nist_lres(res, case):
    out = {}
    for j, (b, s) in enumerate(zip(case.params, case.bse, strict=True)):
        out[f"B{j}"] = lre(float(res.params[j]), b)
        out[f"se(B{j})"] = lre(float(res.bse[j]), s)
    out["resid sd"] = lre(float(np.sqrt(res.scale)), case.resid_sd)
    out["R²"] = lre(float(res.rsquared), case.rsquared)
    return out


def _nist_on(device, name, nist_dir, policy="auto"):
    case = read_nist(nist_dir / f"{name}.dat")
    model = olsnet.LinearRegression(fit_intercept=case.fit_intercept, policy=policy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AliasedColumnWarning)
        res = model.fit(_t(case.X, device), _t(case.y, device)).result_
    return case, res


# -- NIST through the device path ----------------------------------------------------------------


@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_floors_on_torch_tensors(nist_dir, name):
    case, res = _nist_on("cpu", name, nist_dir)
    lres = _nist_lres(res, case)
    worst = min(lres, key=lres.get)
    assert lres[worst] >= FLOOR[name], f"{name}: {worst} has LRE {lres[worst]:.2f}: {lres}"


@pytest.mark.parametrize("name", NIST_NAMES)
def test_nist_device_path_equals_numpy_path(nist_dir, name):
    """Both paths refine to the least-squares solution of the same double data: they agree to
    1e-12, except on Filip, whose conditioning (cond ≈ 1e15 unscaled) leaves both at about 8
    correct digits and their difference at about 5e-11."""
    case, res = _nist_on("cpu", name, nist_dir)
    ref = olsnet.LinearRegression(fit_intercept=case.fit_intercept).fit(case.X, case.y).result_
    rtol = 1e-9 if name == "Filip" else 1e-12
    scale = np.max(np.abs(ref.params))
    np.testing.assert_allclose(res.params, ref.params, rtol=rtol, atol=0)
    # Wampler1 is an exact fit: its standard errors are rounding noise around 0
    np.testing.assert_allclose(res.bse, ref.bse, rtol=rtol, atol=1e-13 * scale)
    assert res.rsquared == pytest.approx(ref.rsquared, rel=1e-12)
    assert res.nobs == ref.nobs and res.df_resid == ref.df_resid


@pytest.mark.parametrize("name", ["Longley", "Wampler4", "Filip"])
def test_nist_fast_policy_on_torch_tensors(nist_dir, name):
    """policy='fast': the checked normal equations, then (Longley, Wampler4, Filip are far too
    ill-conditioned for them) the QR state plus double-double refinement passes."""
    case, res = _nist_on("cpu", name, nist_dir, policy="fast")
    ref = olsnet.LinearRegression(fit_intercept=case.fit_intercept, policy="fast")
    ref_res = ref.fit(case.X, case.y).result_
    lres, ref_lres = _nist_lres(res, case), _nist_lres(ref_res, case)
    assert min(lres.values()) >= min(ref_lres.values()) - 0.5, (lres, ref_lres)


# -- the double-double kernels against exact rational arithmetic --------------------------------


def _exact(values):
    return [[Fraction(float(v)) for v in row] for row in values]


U = Fraction(1, 2**53)  # unit roundoff of float64


def _within_double_double(got, exact, terms):
    """Rounded result of a computation in twice double precision: |err| <= u |s| + c u² Σ|t|."""
    bound = U * abs(exact) + 8 * len(terms) * U * U * sum(abs(t) for t in terms)
    return abs(Fraction(float(got)) - exact) <= bound


def test_dd_residual_is_accurate_as_in_twice_double():
    rng = np.random.default_rng(3)
    n, k, m = 40, 7, 2
    A = rng.standard_normal((n, k)) * 10.0 ** rng.integers(-8, 8, (n, k))
    x = rng.standard_normal((k, m))
    b = A @ x + 1e-10 * rng.standard_normal((n, m))  # cancels 18 digits: plain double has none
    r = 1e-12 * rng.standard_normal((n, m))
    xp = array_namespace(_t(A))
    got = _device.to_host(_device._dd_residual(xp, _t(b), _t(r), _t(A), _t(x)))
    Af, xf, bf, rf = _exact(A), _exact(x), _exact(b), _exact(r)
    for i in range(n):
        for j in range(m):
            terms = [bf[i][j], -rf[i][j]] + [-Af[i][t] * xf[t][j] for t in range(k)]
            assert _within_double_double(got[i, j], sum(terms), terms), (i, j)
    plain = b - r - A @ x
    assert not all(
        _within_double_double(
            plain[i, 0],
            sum([bf[i][0], -rf[i][0]] + [-Af[i][t] * xf[t][0] for t in range(k)]),
            [bf[i][0]],
        )
        for i in range(n)
    )


def test_dd_atr_is_accurate_as_in_twice_double():
    rng = np.random.default_rng(4)
    n, k, m = 257, 5, 2
    A = rng.standard_normal((n, k)) * 10.0 ** rng.integers(-6, 6, (n, k))
    r = rng.standard_normal((n, m))
    c = A.T @ r * (1 + 1e-13)  # c - Aᵀr cancels to ~1e-13 of its terms
    xp = array_namespace(_t(A))
    got = _device._dd_atr(xp, c, _t(A), _t(r))
    Af, rf = _exact(A), _exact(r)
    for t in range(k):
        for j in range(m):
            terms = [Fraction(float(c[t, j]))] + [-Af[i][t] * rf[i][j] for i in range(n)]
            assert _within_double_double(got[t, j], sum(terms), terms), (t, j)


# -- the paths on larger data --------------------------------------------------------------------


def _problem(n=50_000, p=10, q=1, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + offset
    Y = X @ rng.standard_normal((p, q)) + 3.0 + rng.standard_normal((n, q))
    w = rng.uniform(0.0, 2.0, n)
    w[::7] = 0.0  # zero-weight rows are not observations
    return X, Y, w


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("q", [1, 2])
def test_gram_path_equals_numpy_path(fit_intercept, weighted, q):
    X, Y, w = _problem(q=q)
    w = w if weighted else None
    sol = _device.device_lstsq(_t(X), _t(Y), None if w is None else _t(w), fit_intercept)
    assert sol.method == "gram"
    ref = olsnet.solve.lstsq(X, Y, w, fit_intercept)
    np.testing.assert_allclose(sol.params, ref.params, rtol=1e-12, atol=0)
    np.testing.assert_allclose(sol.cov_unscaled, ref.cov_unscaled, rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(sol.ssr, ref.ssr, rtol=1e-12)
    np.testing.assert_allclose(sol.centered_tss, ref.centered_tss, rtol=1e-12)
    assert (sol.nobs, sol.rank, sol.sum_weights) == (
        ref.nobs,
        ref.rank,
        pytest.approx(ref.sum_weights),
    )


def test_offsets_take_the_shifted_gram_and_refinement():
    X, Y, _ = _problem(offset=1e5)
    sol = _device.device_lstsq(_t(X), _t(Y), None, True)
    assert sol.method.startswith("gram")
    exact = olsnet.solve.exact_lstsq(X, Y, None, True)
    np.testing.assert_allclose(sol.params, exact.params, rtol=1e-10)


def test_ill_conditioned_falls_back_to_qr_and_refines():
    """κ ≈ 1e7 of the scaled design: past GRAM_MAX_COND, the blocked QR state plus passes.
    The fast policy's accuracy there is about 1e-7 against the exact path, on either path
    (measured on seeds 9-11: NumPy 9e-8, 4e-7, 7e-8; device 1.2e-7, 2.8e-8, 1.5e-7)."""
    X, Y, _ = _problem()
    rng = np.random.default_rng(9)
    X = np.c_[X, X[:, 0] + 1e-7 * rng.standard_normal(X.shape[0])]
    sol = _device.device_lstsq(_t(X), _t(Y), None, True)
    assert sol.method == "qr-blocks+refine"
    exact = olsnet.solve.exact_lstsq(X, Y, None, True)
    np.testing.assert_allclose(sol.params, exact.params, rtol=1e-6)
    np.testing.assert_allclose(sol.ssr, exact.ssr, rtol=1e-10)


def test_exact_policy_on_large_data_equals_numpy_exact():
    X, Y, w = _problem(n=20_000, p=5)
    sol = _device.device_lstsq(_t(X), _t(Y), _t(w), True, policy="exact")
    ref = olsnet.solve.exact_lstsq(X, Y, w, True)
    assert sol.method == "exact" and sol.nobs == ref.nobs
    np.testing.assert_allclose(sol.params, ref.params, rtol=1e-13)
    np.testing.assert_allclose(sol.cov_unscaled, ref.cov_unscaled, rtol=1e-12)
    np.testing.assert_allclose(sol.ssr, ref.ssr, rtol=1e-13)


@pytest.mark.parametrize("n", [30, 60_000])
def test_aliased_column_is_named_as_on_numpy(n):
    X, Y, _ = _problem(n=n, p=4)
    X = np.c_[X, 2.0 * X[:, 1]]
    with pytest.warns(AliasedColumnWarning, match="'x5'"):
        m = olsnet.LinearRegression().fit(_t(X), _t(Y[:, 0]))
    with pytest.warns(AliasedColumnWarning, match="'x5'"):
        ref = olsnet.LinearRegression().fit(X, Y[:, 0])
    assert np.isnan(m.coef_[4]) and m.rank_ == ref.rank_ == 5
    np.testing.assert_allclose(m.coef_[:4], ref.coef_[:4], rtol=1e-11)


@pytest.mark.parametrize("offset", [0.0, 1e5])
def test_device_source_fit_state_merges_with_numpy_states(offset):
    """The source protocol: a device source's state merges with a NumPy state, and the merged
    state solves to the fit of all rows (well conditioned: the Gram factor; offsets: QR)."""
    from olsnet.data._device import DeviceSource, as_device_design

    X, Y, w = _problem(n=40_000, p=6, offset=offset)
    seen = []
    src = DeviceSource(as_device_design(_t(X[:30_000]), _t(Y[:30_000, 0]), _t(w[:30_000])))
    state = src.fit_state(True, on_batch=lambda rows, nbytes: seen.append(rows))
    assert seen == [30_000]
    rest = olsnet.QRState.empty(6, 1, True).fold(X[30_000:], Y[30_000:], w[30_000:])
    sol = olsnet.solve.solve_state(state.merge(rest))
    exact = olsnet.solve.exact_lstsq(X, Y, w, True)
    np.testing.assert_allclose(sol.params, exact.params, rtol=1e-9)
    assert sol.nobs == exact.nobs


# -- the estimator: results, predict, statistics -------------------------------------------------


def test_fit_on_tensor_gives_numpy_results_and_predict_gives_tensor():
    X, Y, _ = _problem(n=500, p=3, q=2)
    m = olsnet.LinearRegression().fit(_t(X), _t(Y))
    ref = olsnet.LinearRegression().fit(X, Y)
    assert isinstance(m.coef_, np.ndarray) and m.coef_.shape == (2, 3)
    assert isinstance(m.result_.bse, np.ndarray)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12)
    pred = m.predict(_t(X))
    assert isinstance(pred, torch.Tensor) and pred.dtype == torch.float64 and pred.shape == (500, 2)
    np.testing.assert_allclose(pred.numpy(), ref.predict(X), rtol=1e-12)
    one = olsnet.LinearRegression().fit(_t(X), _t(Y[:, 0]))
    assert one.predict(_t(X)).shape == (500,)
    one_ref = olsnet.LinearRegression().fit(X, Y[:, 0])
    assert one.score(_t(X), _t(Y[:, 0])) == pytest.approx(one_ref.score(X, Y[:, 0]), rel=1e-12)


def test_robust_covariance_reads_the_device_rows():
    X, Y, w = _problem(n=3000, p=4)
    m = olsnet.LinearRegression(cov_type="HC3").fit(_t(X), _t(Y[:, 0]), _t(w))
    ref = olsnet.LinearRegression(cov_type="HC3").fit(X, Y[:, 0], w)
    np.testing.assert_allclose(m.result_.bse, ref.result_.bse, rtol=1e-10)
    assert m.result_.llf == pytest.approx(ref.result_.llf, rel=1e-12)


def test_y_and_weights_from_anywhere_are_moved_to_x():
    X, Y, w = _problem(n=400, p=3)
    ref = olsnet.LinearRegression().fit(X, Y[:, 0], w)
    for y_in, w_in in [(Y[:, 0], w), (list(Y[:, 0]), _t(w)), (_t(Y[:, 0]).float(), None)]:
        m = olsnet.LinearRegression().fit(_t(X), y_in, w_in)
        expect = ref if w_in is not None else olsnet.LinearRegression().fit(X, np.float32(Y[:, 0]))
        np.testing.assert_allclose(m.coef_, expect.coef_, rtol=1e-11)


def test_requires_grad_tensor_is_fitted_without_a_graph():
    X, Y, _ = _problem(n=200, p=2)
    Xt = _t(X).requires_grad_(True)
    m = olsnet.LinearRegression().fit(Xt, _t(Y[:, 0]))
    assert m.predict(Xt).requires_grad is False


def test_missing_drop_on_device():
    X, Y, _ = _problem(n=300, p=3)
    X[[5, 17], [0, 2]] = np.nan
    Y[40, 0] = np.inf
    m = olsnet.LinearRegression(missing="drop").fit(_t(X), _t(Y[:, 0]))
    ref = olsnet.LinearRegression(missing="drop").fit(X, Y[:, 0])
    assert m.result_.n_dropped == ref.result_.n_dropped == 3
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12)


# -- bad input ------------------------------------------------------------------------------------


def test_nan_names_column_and_row_as_on_numpy():
    X, Y, _ = _problem(n=100, p=4)
    X[37, 2] = np.nan
    X[50, 3] = np.inf
    with pytest.raises(DataError) as on_numpy:
        olsnet.LinearRegression().fit(X, Y[:, 0])
    with pytest.raises(DataError) as on_device:
        olsnet.LinearRegression().fit(_t(X), _t(Y[:, 0]))
    assert str(on_device.value) == str(on_numpy.value)
    assert "'x3' (index 2) has NaN at row 37" in str(on_device.value)
    Y[12, 0] = np.nan
    with pytest.raises(DataError, match=r"y column 'y' .*NaN at row 12"):
        olsnet.LinearRegression().fit(_t(X[:, :2]), _t(Y[:, 0]))


def test_predict_with_nan_names_row_and_column():
    X, Y, _ = _problem(n=100, p=3)
    m = olsnet.LinearRegression().fit(_t(X), _t(Y[:, 0]))
    X[8, 1] = np.nan
    with pytest.raises(DataError, match="row 8, column 1"):
        m.predict(_t(X))
    with pytest.raises(DimensionError, match="expecting 3 features"):
        m.predict(_t(X[:, :2]))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_computed_in_float64_with_a_warning(dtype):
    X, Y, _ = _problem(n=2000, p=3)
    Xh = _t(X).to(getattr(torch, dtype))
    with pytest.warns(PrecisionWarning, match=f"{dtype}.*float64"):
        m = olsnet.LinearRegression().fit(Xh, _t(Y[:, 0]))
    ref = olsnet.LinearRegression().fit(Xh.double().numpy(), Y[:, 0])
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12)


def test_float32_is_computed_in_float64_without_a_warning():
    """float32 tensors are converted without a warning (float32 keeps 7 digits of the data);
    the coefficients are those of the float64 values of the float32 data, in float64."""
    X, Y, _ = _problem(n=500, p=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = olsnet.LinearRegression().fit(_t(X).float(), _t(Y[:, 0]))
    ref = olsnet.LinearRegression().fit(X.astype(np.float32).astype(np.float64), Y[:, 0])
    assert m.coef_.dtype == np.float64
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12)


def test_device_without_float64_is_refused(monkeypatch):
    """Apple's MPS has no float64: simulated here, as CI has no such device."""
    from olsnet.data import _device as data_device

    monkeypatch.setattr(data_device, "float64_supported", lambda xp, device: False)
    X, Y, _ = _problem(n=50, p=2)
    with pytest.raises(DeviceError, match="no float64 arithmetic") as err:
        olsnet.LinearRegression().fit(_t(X).float(), _t(Y[:, 0]))
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, olsnet.OlsnetError)


def test_out_of_device_memory_says_how_much_and_how_to_stream(monkeypatch):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 7.50 GiB")

    monkeypatch.setattr(_device, "_checked_gram", oom)
    X, Y, _ = _problem(n=50_000, p=10)
    with pytest.raises(DeviceMemoryError) as err:
        olsnet.LinearRegression().fit(_t(X), _t(Y[:, 0]))
    msg = str(err.value)
    assert "normal equations" in msg and "on top of the data's 0.00 GiB" in msg
    assert "olsnet.read" in msg and "Tried to allocate 7.50 GiB" in msg
    assert isinstance(err.value, MemoryError)


def test_bad_shapes_and_values():
    X, Y, _ = _problem(n=20, p=2)
    with pytest.raises(DimensionError, match="2-D"):
        olsnet.LinearRegression().fit(_t(X[:, 0]), _t(Y[:, 0]))
    with pytest.raises(DimensionError, match="different numbers of rows"):
        olsnet.LinearRegression().fit(_t(X), _t(Y[:5, 0]))
    with pytest.raises(DataError, match="Complex"):
        olsnet.LinearRegression().fit(torch.ones((5, 2), dtype=torch.complex128), _t(Y[:5, 0]))
    with pytest.raises(DataError, match="negative"):
        olsnet.LinearRegression().fit(_t(X), _t(Y[:, 0]), -np.ones(20))


# -- CUDA ----------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("name", NIST_NAMES)
def test_cuda_nist_floors(nist_dir, name):
    case, res = _nist_on("cuda", name, nist_dir)
    lres = _nist_lres(res, case)
    worst = min(lres, key=lres.get)
    assert lres[worst] >= FLOOR[name], f"{name}: {worst} has LRE {lres[worst]:.2f}: {lres}"


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("weighted", [False, True])
def test_cuda_fit_equals_numpy_and_predict_stays_on_the_gpu(weighted):
    X, Y, w = _problem(n=200_000, p=20)
    w = w if weighted else None
    m = olsnet.LinearRegression().fit(_t(X, "cuda"), _t(Y[:, 0], "cuda"), w)
    ref = olsnet.LinearRegression().fit(X, Y[:, 0], w)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(m.result_.bse, ref.result_.bse, rtol=1e-10)
    pred = m.predict(_t(X, "cuda"))
    assert pred.device.type == "cuda" and pred.dtype == torch.float64
    expect = ref.predict(X)
    np.testing.assert_allclose(
        pred.cpu().numpy(), expect, rtol=1e-12, atol=1e-13 * np.abs(expect).max()
    )


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_nan_mixed_devices_and_half_precision():
    X, Y, _ = _problem(n=1000, p=4)
    X[77, 1] = np.nan
    with pytest.raises(DataError, match=r"'x2' \(index 1\) has NaN at row 77"):
        olsnet.LinearRegression().fit(_t(X, "cuda"), _t(Y[:, 0]))  # y on the CPU: moved
    X[77, 1] = 0.5
    m = olsnet.LinearRegression().fit(_t(X, "cuda"), _t(Y[:, 0]))
    np.testing.assert_allclose(m.coef_, olsnet.LinearRegression().fit(X, Y[:, 0]).coef_, rtol=1e-12)
    with pytest.warns(PrecisionWarning):
        olsnet.LinearRegression().fit(_t(X, "cuda").to(torch.bfloat16), _t(Y[:, 0], "cuda"))


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_out_of_memory_is_an_olsnet_error():
    """A per-process cap on the allocator makes the exact path's Q of a 1.6 GB X not fit."""
    X = torch.randn(2_000_000, 100, dtype=torch.float64, device="cuda")
    y = X[:, 0] + 1.0
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, 4.5 * 2**30 / total))
    try:
        with pytest.raises(DeviceMemoryError, match="GiB of device memory"):
            olsnet.LinearRegression(policy="exact").fit(X, y)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        del X, y
        torch.cuda.empty_cache()


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cupy_array_is_fitted_on_its_device():
    cp = pytest.importorskip("cupy")
    X, Y, _ = _problem(n=100_000, p=8)
    m = olsnet.LinearRegression().fit(cp.asarray(X), cp.asarray(Y[:, 0]))
    np.testing.assert_allclose(m.coef_, olsnet.LinearRegression().fit(X, Y[:, 0]).coef_, rtol=1e-12)
    pred = m.predict(cp.asarray(X))
    assert isinstance(pred, cp.ndarray)
