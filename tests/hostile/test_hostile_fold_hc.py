"""Hostile input for the HC pass (solve/_residuals.py: the raw dgemm of ``RowMap``) and the
threaded file fold (data/_file_fold.py, Parquet spans).

References are independent: statsmodels ``OLS(...).fit(cov_type=...)`` for the HC standard
errors, the in-memory exact fit for the file folds. Anything that could crash the
interpreter (a raw BLAS call given the wrong shape) runs in a capped child (``run_capped``).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from olsnet import LinearRegression
from olsnet.errors import DataError, DimensionError

# ---- item 1: the HC pass ---------------------------------------------------------------------

_FIT = """
import numpy as np
from olsnet import LinearRegression
rng = np.random.default_rng(0)
X = rng.normal(size=(50, 3))
y = X @ [1.0, 2.0, 3.0] + rng.normal(size=50)
model = LinearRegression().fit(X, y)
res = model.result_
"""


def _child(body: str) -> str:
    return textwrap.dedent(_FIT) + textwrap.dedent(body)


@pytest.mark.parametrize(
    "attach",
    [
        # arrays: with_data's own check
        "res.with_data(wide, y).with_cov('HC3').bse",
        # a block source: with_data cannot see the width; the row kernel must refuse it
        "res.with_data(Blocks()).with_cov('HC3').bse",
    ],
)
def test_a_wider_X_never_reaches_the_raw_dgemm(run_capped, attach):
    # the row kernel multiplies X (c, p') by its (p, r + q) map with p' as the inner dimension:
    # 3 million extra columns read 72 MB past the map's end (a segfault before the check)
    code = _child(
        f"""
        wide = np.hstack([X, np.ones((50, 3_000_000))])
        class Blocks:
            def blocks(self):
                yield X, y[:, None], None
                yield wide, y[:, None], None
        {attach}
        """
    )
    run = run_capped(code, timeout_s=60, mem_mb=2500, address_space_mb=6000)
    run.assert_olsnet_error("the fit has 3 feature(s)")


def test_partial_residuals_of_another_width_never_reaches_the_raw_dgemm(run_capped):
    code = _child(
        """
        m = LinearRegression().partial_fit(X, y)
        m.partial_residuals(np.hstack([X, np.ones((50, 3_000_000))]), y)
        """
    )
    run = run_capped(code, timeout_s=60, mem_mb=2500, address_space_mb=6000)
    run.assert_olsnet_error("the fit has 3 feature(s)")


@pytest.fixture(scope="module")
def fitted() -> tuple[np.ndarray, np.ndarray, object]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = X @ [1.0, 2.0, 3.0, 4.0] + rng.normal(size=300)
    return X, y, LinearRegression().fit(X, y).result_


@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "inf")])
@pytest.mark.parametrize("where", ["X", "y"])
def test_with_data_names_a_nonfinite_value(fitted, value, kind, where):
    X, y, res = fitted
    X, y = X.copy(), y.copy()
    if where == "X":
        X[5, 2] = value
    else:
        y[7] = value
    # NaN made the ssr check NaN, which compares False: the rows were taken, every SE NaN
    with pytest.raises(DataError, match=f"{kind} at row {5 if where == 'X' else 7}"):
        res.with_data(X, y).with_cov("HC3")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (lambda X, y: (X[:, :2], y), "has 2 column"),  # an IndexError from deep inside
        (lambda X, y: (X, np.c_[y, y]), "2 output"),  # a broadcasting ValueError
        (lambda X, y: (X, y, np.ones(299)), "sample_weight must have shape"),
        (lambda X, y: (X, y, np.ones(301)), "sample_weight must have shape"),
    ],
)
def test_with_data_of_the_wrong_shape_is_a_dimension_error(fitted, args, match):
    X, y, res = fitted
    with pytest.raises(DimensionError, match=match):
        res.with_data(*args(X, y))


def test_a_block_source_with_a_longer_y_is_refused(fitted):
    # row_pass cut the block's y to X's rows (y[span]): extra rows were dropped silently
    X, y, res = fitted

    class Blocks:
        def blocks(self):
            yield X, np.r_[y, 0.0][:, None], None

    with pytest.raises(DimensionError, match="y of shape"):
        res.with_data(Blocks()).with_cov("HC0").bse  # noqa: B018


# ---- item 2: the threaded file fold, Parquet spans ---------------------------------------------


def _parquet(path, X, y, group_rows, scale=1.0):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {f"x{i}": X[:, i] for i in range(X.shape[1])}
    pq.write_table(pa.table({**cols, "y": scale * y}), path, row_group_size=group_rows)


@pytest.mark.parametrize("change", ["replaced", "rewritten in place"])
def test_a_parquet_file_changed_between_spans_is_an_error_not_a_mix(tmp_path, change):
    # spans are opened one by one on the workers: a file replaced (an atomic save) after its
    # metadata was read was folded half old, half new under the old metadata, silently
    # (slopes 1.80 from a file of slopes 1 replaced by one of slopes 5)
    import os

    import olsnet
    from olsnet.errors import DataFileError

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40_000, 3))
    y = X.sum(axis=1) + rng.normal(size=40_000)
    path = tmp_path / "d.parquet"
    _parquet(path, X, y, 4000)
    calls = []

    def on_batch(rows, nbytes):
        calls.append(rows)
        if len(calls) == 2:  # after the metadata, before the later spans are opened
            if change == "replaced":
                _parquet(tmp_path / "new.parquet", X, y, 4000, scale=5.0)
                os.replace(tmp_path / "new.parquet", path)
            else:
                _parquet(path, X, y, 4000, scale=5.0)

    source = olsnet.read(path, y="y", batch_rows=4000)
    # rewritten in place, a span already open may also find the file cut short mid-write
    match = "changed while it was being read"
    if change != "replaced":
        match += "|not a readable Parquet file"
    with pytest.raises(DataFileError, match=match) as err:
        LinearRegression(n_jobs=4).fit(source, on_batch=on_batch)
    assert str(path) in str(err.value)
    # untouched, the same threaded fit is the in-memory one
    _parquet(path, X, y, 4000)
    res = LinearRegression(n_jobs=4).fit(olsnet.read(path, y="y", batch_rows=4000)).result_
    ref = LinearRegression(policy="exact").fit(X, y).result_
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-10)


@pytest.mark.parametrize(
    ("n_jobs", "error"),
    [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError), ("4", TypeError)],
)
def test_a_bad_n_jobs_is_the_matching_builtin(tmp_path, n_jobs, error):
    # 0 and -2 are integers out of range: a ValueError (scikit-learn's), not a TypeError
    import olsnet
    from olsnet.errors import OlsnetError

    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 2))
    _parquet(tmp_path / "d.parquet", X, X.sum(axis=1), 30)
    with pytest.raises(error, match=f"n_jobs={n_jobs!r} is not accepted") as err:
        LinearRegression(n_jobs=n_jobs).fit(olsnet.read(tmp_path / "d.parquet", y="y"))
    assert isinstance(err.value, OlsnetError)


def test_a_row_stride_beyond_a_c_int_never_reaches_blas_wrapped(tmp_path):
    # X a view of a memory-mapped (sparse) file whose rows are 2³² + 16 elements apart: BLAS
    # takes a 32-bit leading dimension, which wrapped to 16 in the C int, so the raw dgemm of
    # the HC pass read the wrong elements (HC0 standard errors of 1e11 instead of 0.1)
    import statsmodels.api as sm

    from olsnet.solve._blas import gemm_tn

    ld, n, p = 2**32 + 16, 12, 2
    path = tmp_path / "sparse.bin"
    try:
        with open(path, "wb") as f:
            f.truncate(n * ld * 8)  # sparse: only the pages written below take disk
        mm = np.memmap(path, dtype=np.float64, mode="r+", shape=(n, ld))
    except (OSError, ValueError, OverflowError) as exc:  # pragma: no cover - no sparse files
        pytest.skip(f"no 400 GB sparse memory map here: {exc}")
    rng = np.random.default_rng(5)
    Xs = rng.normal(size=(n, p))
    y = Xs @ [1.0, 2.0] + rng.normal(size=n)
    mm[:, :p] = Xs
    mm[0, p : 16 * n] = 1e6  # where a leading dimension of 16 would read
    X = mm[:, :p]
    res = LinearRegression().fit(X, y).result_
    for cov in ("HC0", "HC3"):
        ref = sm.OLS(y, sm.add_constant(Xs)).fit(cov_type=cov).bse
        np.testing.assert_allclose(res.with_cov(cov).bse, ref, rtol=1e-9)
    G = gemm_tn(np.zeros((p, p), order="F"), X, X)
    np.testing.assert_allclose(G, Xs.T @ Xs, rtol=1e-12)
    del mm


@pytest.mark.parametrize("n_jobs", [1, 4])
@pytest.mark.parametrize("kind", ["uint64", "int64"])
def test_integers_beyond_2_53_are_rounded_as_numpy_does(tmp_path, n_jobs, kind):
    # pyarrow's safe cast to float64 refused them: a bare ArrowInvalid from inside the fold
    import pyarrow as pa
    import pyarrow.parquet as pq

    import olsnet

    rng = np.random.default_rng(6)
    n = 2000
    big = rng.integers(1, 200, size=n).astype(kind) * np.array(2**55, dtype=kind)  # > 2^53
    big[::7] += np.array(1, dtype=kind)  # not a double: rounds to the nearest one
    x0 = rng.normal(size=n)
    y = x0 + 1e-17 * big.astype(np.float64) + rng.normal(size=n)
    pq.write_table(pa.table({"x0": x0, "big": big, "y": y}), tmp_path / "d.parquet", 300)
    res = LinearRegression(n_jobs=n_jobs).fit(olsnet.read(tmp_path / "d.parquet", y="y"))
    ref = LinearRegression(policy="exact").fit(np.c_[x0, big.astype(np.float64)], y)
    np.testing.assert_allclose(res.result_.params, ref.result_.params, rtol=1e-10)


@pytest.mark.parametrize("offset", [1e6, 1e9])
@pytest.mark.parametrize("cov", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_standard_errors_of_columns_with_huge_offsets(offset, cov):
    # X + 1e9: the one-pass meats took residuals from the intercept b0 ≈ -c·β and Q from
    # X G - c G (cancellation): HC SEs 3e-8 off statsmodels on the same rows shifted back
    # (Xd = Xv - offset is exact, and the slopes' SEs do not depend on the shift)
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    Xv = rng.normal(size=(2000, 3)) + offset
    Xd = Xv - offset
    y = Xd @ [1.0, 2.0, 3.0] + rng.normal(size=2000) * (1 + np.abs(Xd[:, 0]))
    res = LinearRegression().fit(Xv, y).result_.with_cov(cov)
    ref = sm.OLS(y, sm.add_constant(Xd)).fit(cov_type=cov)
    np.testing.assert_allclose(res.bse[1:], ref.bse[1:], rtol=1e-10)


def test_a_file_rewritten_after_the_fit_is_not_used_for_its_hc_pass(tmp_path):
    # the HC pass reads the file again: rewritten since the fit, it gave the new rows' meats at
    # the old coefficients (SEs 4.6x the fit's), silently
    import olsnet

    rng = np.random.default_rng(8)
    X = rng.normal(size=(5000, 3))
    y = X.sum(axis=1) + rng.normal(size=5000)
    path = tmp_path / "d.parquet"
    _parquet(path, X, y, 1000)
    res = LinearRegression(n_jobs=4).fit(olsnet.read(path, y="y")).result_
    _parquet(path, X, y, 1000, scale=3.0)
    with pytest.raises(DataError, match="not the rows of the fit") as err:
        res.with_cov("HC3")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cov", ["HC2", "HC3"])
def test_a_row_of_leverage_exactly_one_makes_hc2_hc3_unavailable(cov):
    # a dummy column with a single 1 fits its row exactly: h = 1, e = 0, HC3 divides 0 by 0.
    # R (4.x, sandwich): set.seed(1); X <- matrix(rnorm(1200), 300); d <- c(1, rep(0, 299));
    # y <- X %*% 1:4 + rnorm(300); f <- lm(y ~ X + d); hatvalues(f)[1] is 1 and
    # sqrt(diag(vcovHC(f, type = "HC3"))) is NaN throughout, with a warning naming row 1.
    # The pass's leverage was 1 - 1.7e-14, outside R's 10 eps: HC3 gave 0.97 for d's SE.
    import statsmodels.api as sm

    from olsnet.errors import NotAvailableWarning

    rng = np.random.default_rng(9)
    X = np.c_[rng.normal(size=(300, 4)), np.eye(300)[:, 0]]
    y = X[:, :4] @ [1.0, 2.0, 3.0, 4.0] + rng.normal(size=300)
    res = LinearRegression().fit(X, y).result_
    with pytest.warns(NotAvailableWarning, match="row\\(s\\) 0 have leverage 1"):
        out = res.with_cov(cov)
    assert np.isnan(out.bse).all() and "leverage 1" in out.cov_reason
    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC0").bse  # HC0 is defined there
    np.testing.assert_allclose(res.with_cov("HC0").bse, ref, rtol=1e-9)


def test_a_block_source_of_lists_or_text_is_converted_or_refused(fitted):
    # with_data converted a block source's blocks, the HC pass did not: lists raised a bare
    # AttributeError ('list' object has no attribute 'ndim'), text a NumPy UFuncTypeError
    import statsmodels.api as sm

    from olsnet.errors import InputTypeError

    X, y, res = fitted

    class Blocks:
        def __init__(self, convert):
            self.convert = convert

        def blocks(self):
            yield self.convert(X), self.convert(y[:, None]), None

    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type="HC3").bse
    for convert in (lambda a: a.tolist(), lambda a: a.astype(str), lambda a: a.astype(object)):
        out = res.with_data(Blocks(convert)).with_cov("HC3").bse
        np.testing.assert_allclose(out, ref, rtol=1e-9)

    def text(a):
        a = a.astype(object)
        a[3, 0] = "abc"
        return a

    with pytest.raises(InputTypeError, match="not numbers"):
        res.with_data(Blocks(text)).with_cov("HC3")
