"""RegressionResult behaviour: immutability, statistics that do not apply, aliased columns,
zero weights, summaries, serialisation, and results without data."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from inference_helpers import SCALAR_STATS, olsnet_fit, random_weights, statsmodels_fit
from sklearn.datasets import load_diabetes

from olsnet.data import ArraySource, as_design
from olsnet.errors import AliasedColumnWarning, DataError, FormatError, NotAvailableWarning
from olsnet.inference import RegressionResult
from olsnet.io._result_state import result_from_state, result_state
from olsnet.solve import QRState, exact_lstsq, solve_state

STATS = [name for name in SCALAR_STATS if name != "condition_number"]


@pytest.fixture(scope="module")
def diabetes():
    d = load_diabetes(as_frame=True)
    return d.data, d.target


def _same(a, b, rtol=1e-10) -> None:
    for name in [*STATS, "params", "bse", "tvalues", "pvalues"]:
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=rtol, atol=0, err_msg=name
        )
    np.testing.assert_allclose(
        a.cov_params(), b.cov_params(), rtol=rtol, atol=1e-14 * np.abs(b.cov_params()).max()
    )


# -- immutability ---------------------------------------------------------------------------------
def test_result_is_immutable_and_with_cov_returns_new(diabetes) -> None:
    X, y = diabetes
    res = olsnet_fit(X, y)
    bse_before = res.bse.copy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.cov_type = "HC3"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.params = np.zeros(11)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        res.params[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        res.cov_params()[0, 0] = 1.0
    robust = res.with_cov("HC3")
    assert robust is not res
    assert res.cov_type == "nonrobust" and robust.cov_type == "HC3"
    np.testing.assert_array_equal(res.bse, bse_before)
    assert not np.allclose(robust.bse, res.bse, rtol=1e-3)
    # switching back gives the nonrobust numbers again, exactly
    np.testing.assert_array_equal(robust.with_cov("nonrobust").bse, bse_before)


def test_with_cov_rejects_unknown_option(diabetes) -> None:
    X, y = diabetes
    with pytest.raises(ValueError, match="'HC3'"):
        olsnet_fit(X, y).with_cov("hc3")


# -- statistics that do not apply ------------------------------------------------------------------
def test_intercept_only_model_has_no_f(diabetes) -> None:
    _X, y = diabetes
    X = np.ones((len(y), 1))
    with pytest.warns(AliasedColumnWarning, match="x1"):
        res = olsnet_fit(X, y)
    assert res.aliased == ("x1",)
    assert res.df_model == 0 and res.rank == 1
    with pytest.warns(NotAvailableWarning, match="no regressors besides the intercept"):
        assert np.isnan(res.fvalue)
    ref = statsmodels_fit(np.empty((len(y), 0)), y)
    np.testing.assert_allclose(res.params[0], ref.params[0], rtol=1e-12)
    np.testing.assert_allclose(res.bse[0], ref.bse[0], rtol=1e-10)
    assert np.isnan(res.params[1]) and np.isnan(res.bse[1]) and np.isnan(res.pvalues[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rendering does not warn
        text = res.summary().as_text()
    assert "no regressors besides the intercept" in text
    assert "aliased" in text


def test_constant_y_r2_not_available() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    res = olsnet_fit(X, np.full(30, 2.5))
    with pytest.warns(NotAvailableWarning, match="y is constant"):
        assert np.isnan(res.rsquared)
    with pytest.warns(NotAvailableWarning, match="exact"):
        assert np.isnan(res.llf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = res.summary()
        text, md, html = summary.as_text(), summary.as_markdown(), summary.as_html()
    for rendering in (text, md, html):
        assert "y is constant" in rendering and "n/a" in rendering


def test_no_residual_df_every_test_not_available() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(3, 2)), rng.normal(size=3)
    res = olsnet_fit(X, y, cov_type="HC1")
    assert res.df_resid == 0
    with pytest.warns(NotAvailableWarning, match="no residual degrees of freedom"):
        assert np.isnan(res.scale)
    assert np.isnan(res.bse).all() and np.isnan(res.conf_int()).all()
    np.testing.assert_allclose(
        res.params, np.linalg.solve(np.column_stack([np.ones(3), X]), y), rtol=1e-10
    )
    text = str(res.summary())
    assert "no residual degrees of freedom (nobs 3 - rank 3 = 0)" in text
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert "no residual degrees of freedom" in d["outputs"][0]["not_available"]["scale"]


# -- aliased columns and zero weights --------------------------------------------------------------
@pytest.mark.parametrize("cov_type", ["nonrobust", "HC2"])
def test_aliased_column_matches_reduced_model(diabetes, cov_type) -> None:
    X, y = diabetes
    Xd = X.assign(bmi_again=2.0 * X["bmi"])
    w = random_weights(len(y), seed=2)
    with pytest.warns(AliasedColumnWarning, match="bmi_again"):
        res = olsnet_fit(Xd, y, w, cov_type=cov_type)
    ref = statsmodels_fit(X, y, w, cov_type=cov_type)
    assert res.aliased == ("bmi_again",)
    assert res.df_model == ref.df_model
    np.testing.assert_allclose(res.bse[:-1], ref.bse, rtol=1e-9)
    np.testing.assert_allclose(res.fvalue, ref.fvalue, rtol=1e-9)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-9)
    assert np.isnan(res.cov_params()[-1]).all()
    assert "bmi_again" in res.summary().as_text()


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC3"])
def test_zero_weight_equals_dropped_row(diabetes, cov_type) -> None:
    X, y = diabetes
    w = random_weights(len(y), seed=4)
    w[::7] = 0.0
    keep = w > 0
    res = olsnet_fit(X, y, w, cov_type=cov_type)
    dropped = olsnet_fit(X[keep], y[keep], w[keep], cov_type=cov_type)
    assert res.nobs == keep.sum()
    _same(res, dropped, rtol=1e-9)


def test_source_with_shifted_qr_state(diabetes) -> None:
    """HC covariances from a solution whose R factor is of shifted columns (the streaming path)."""
    X, y = diabetes
    design = as_design(X, y)
    shift = np.concatenate([design.X[:50].mean(axis=0), design.Y[:50].mean(axis=0)])
    state = QRState(np.zeros((12, 12)), shift, 10, 1, True)
    for start in range(0, len(y), 150):
        sl = slice(start, start + 150)
        state = state.fold(design.X[sl], design.Y[sl])
    solution = solve_state(state)
    assert np.abs(solution.shift_x).max() > 0
    for cov_type in ("HC0", "HC3"):
        res = RegressionResult.from_solution(
            solution, ArraySource(design, 64), y_ndim=1, cov_type=cov_type
        )
        ref = statsmodels_fit(X, y, cov_type=cov_type)
        np.testing.assert_allclose(res.cov_params(), ref.cov_params(), rtol=1e-9)
        assert res.feature_names == tuple(X.columns)


@settings(max_examples=8, deadline=None)
@given(block_rows=hs.integers(1, 500), seed=hs.integers(0, 2**16))
def test_block_split_and_row_order_do_not_change_hc(block_rows, seed) -> None:
    X, y = load_diabetes(return_X_y=True)
    base = olsnet_fit(X, y, cov_type="HC3", block_rows=442)
    perm = np.random.default_rng(seed).permutation(len(y))
    other = olsnet_fit(X[perm], y[perm], cov_type="HC3", block_rows=block_rows)
    for kind in ("HC0", "HC1", "HC2", "HC3"):
        np.testing.assert_allclose(
            other.with_cov(kind).cov_params(), base.with_cov(kind).cov_params(), rtol=1e-9
        )


# -- summaries -------------------------------------------------------------------------------------
def test_summary_renders_with_frame_names(diabetes) -> None:
    X, y = diabetes
    res = olsnet_fit(X, y, cov_type="HC1")
    s = res.summary()
    text, md, html = s.as_text(), s.as_markdown(), s._repr_html_()
    for name in [*X.columns, "Intercept", "target"]:
        assert name in text and name in md and name in html
    assert "HC1" in text and "R-squared:" in text and "P>|t|" in text
    assert str(s) == text and str(res) == text
    frame = s.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["Intercept", *X.columns]
    np.testing.assert_allclose(frame["coef"], res.params, rtol=1e-15)
    np.testing.assert_allclose(frame["std err"], res.bse, rtol=1e-15)
    np.testing.assert_allclose(frame["[0.025"], res.conf_int()[:, 0], rtol=1e-15)
    json.dumps(s.to_dict(), allow_nan=False)


def test_multi_output_summary_has_a_block_per_target(diabetes) -> None:
    X, y = diabetes
    Y = pd.DataFrame({"progression": y, "half": 0.5 * y + X["bmi"]})
    res = olsnet_fit(X, Y)
    s = res.summary()
    assert len(s.blocks) == 2
    text = s.as_text()
    assert "Regression Results: progression" in text and "Regression Results: half" in text
    frame = s.to_frame()
    assert frame.index.names == ["target", "parameter"]
    np.testing.assert_allclose(frame.loc["half", "coef"], res.params[:, 1], rtol=1e-15)


def test_to_dict_is_json_and_matches_attributes(diabetes) -> None:
    X, y = diabetes
    res = olsnet_fit(X, y, random_weights(len(y)), cov_type="HC3")
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    out = d["outputs"][0]
    assert d["model"] == "WLS" and d["cov_type"] == "HC3"
    assert out["rsquared"] == res.rsquared and out["llf"] == res.llf
    assert [c["name"] for c in out["coefficients"]] == list(res.param_names)
    assert [c["std_err"] for c in out["coefficients"]] == list(res.bse)


# -- serialisation and results without data --------------------------------------------------------
def test_state_dict_round_trip_keeps_hc_without_data(diabetes) -> None:
    X, y = diabetes
    res = olsnet_fit(X, y, random_weights(len(y), seed=9), cov_type="HC3")
    meta, arrays = result_state(res)
    meta = json.loads(json.dumps(meta, allow_nan=False))
    for name, a in arrays.items():
        assert isinstance(a, np.ndarray) and a.dtype.kind in "fiu", name
    back = result_from_state(meta, arrays)
    assert back.source is None
    _same(back, res, rtol=0)
    assert back.summary().as_text() == res.summary().as_text()
    _same(back.with_cov("HC1"), res.with_cov("HC1"), rtol=1e-15)


def test_results_without_data_say_the_data_are_needed(diabetes) -> None:
    X, y = diabetes
    design = as_design(X, y)
    solution = exact_lstsq(design.X, design.Y, None, True)
    res = RegressionResult.from_solution(solution, None, y_ndim=1)
    assert res.feature_names == tuple(f"x{j}" for j in range(1, 11))
    with pytest.raises(DataError, match="needs the data"):
        res.with_cov("HC0")
    with pytest.raises(DataError, match="no data are attached"):
        res.get_prediction()
    with pytest.warns(NotAvailableWarning, match="needs Σ log w"):
        assert np.isnan(res.llf)
    # statistics that need only the solution are there
    ref = statsmodels_fit(X, y)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-9)
    # a loaded nonrobust result has no HC meats
    back = result_from_state(*result_state(olsnet_fit(X, y)))
    with pytest.raises(DataError, match="needs the data"):
        back.with_cov("HC3")


def test_malformed_state_is_a_format_error(diabetes) -> None:
    X, y = diabetes
    meta, arrays = result_state(olsnet_fit(X, y))
    bad = dict(arrays, cov=arrays["cov"][:, :3])
    with pytest.raises(FormatError, match="'cov'"):
        result_from_state(meta, bad)
    with pytest.raises(FormatError, match="missing 'rank'"):
        result_from_state({k: v for k, v in meta.items() if k != "rank"}, arrays)


class _CountingSource:
    """A block source that counts its passes (and says nothing about weights)."""

    def __init__(self, design, weighted_flag=None):
        self.inner = ArraySource(design, 100)
        self.feature_names, self.target_names = design.feature_names, design.target_names
        self.n_features, self.n_outputs = design.n_features, design.n_outputs
        self.passes = 0
        if weighted_flag is not None:
            self.weighted = weighted_flag

    def blocks(self):
        self.passes += 1
        yield from self.inner.blocks()


def test_llf_needs_no_pass_when_the_source_says_unweighted(diabetes) -> None:
    X, y = diabetes
    design = as_design(X, y)
    solution = exact_lstsq(design.X, design.Y, None, True)
    ref = statsmodels_fit(X, y)
    quiet = _CountingSource(design, weighted_flag=False)
    res = RegressionResult.from_solution(solution, quiet, y_ndim=1)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)
    assert quiet.passes == 0
    res.summary()  # the residual lines (Omnibus, Durbin-Watson, quantiles): one pass, cached
    res.summary()
    assert quiet.passes == 1
    unknown = _CountingSource(design)  # no flag: one light pass for Σ log w, then cached
    res = RegressionResult.from_solution(solution, unknown, y_ndim=1)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)
    assert unknown.passes == 1
    res.summary()
    assert unknown.passes == 2
    # in memory, a pass computes only the meat its kind needs (each about a third of the
    # pass) and keeps it: one pass per kind, none for a kind already known (HC1 is HC0's)
    hc0 = res.with_cov("HC0")
    assert unknown.passes == 3
    hc0.with_cov("HC3").with_cov("HC1").with_cov("HC0").with_cov("HC3")
    assert unknown.passes == 4
    assert res.known_residual_pass is not None and res.known_residual_pass.complete is False


def test_source_with_its_own_residual_pass_is_used(diabetes) -> None:
    from olsnet.inference.covariance import residual_pass

    X, y = diabetes
    design = as_design(X, y)
    solution = exact_lstsq(design.X, design.Y, None, True)
    calls = []

    class Distributed(_CountingSource):
        def residual_pass(self, params, R_x, shift_x, kept, fit_intercept):
            calls.append(kept.size)
            return residual_pass(self.inner.blocks(), params, R_x, shift_x, kept, fit_intercept)

    src = Distributed(design, weighted_flag=False)
    res = RegressionResult.from_solution(solution, src, y_ndim=1, cov_type="HC2")
    np.testing.assert_allclose(res.bse, statsmodels_fit(X, y, cov_type="HC2").bse, rtol=1e-9)
    assert calls == [11] and src.passes == 0


@settings(max_examples=10, deadline=None)
@given(
    col=hs.integers(0, 9),
    log_scale=hs.floats(-3, 3),
    kind=hs.sampled_from(["nonrobust", "HC0", "HC1", "HC2", "HC3"]),
)
def test_rescaling_a_column_keeps_its_t_value(col, log_scale, kind) -> None:
    X, y = load_diabetes(return_X_y=True)
    factor = 10.0**log_scale
    Xs = X.copy()
    Xs[:, col] *= factor
    base = olsnet_fit(X, y, cov_type=kind)
    scaled = olsnet_fit(Xs, y, cov_type=kind)
    np.testing.assert_allclose(scaled.params[1 + col], base.params[1 + col] / factor, rtol=1e-9)
    np.testing.assert_allclose(scaled.bse[1 + col], base.bse[1 + col] / factor, rtol=1e-9)
    np.testing.assert_allclose(scaled.tvalues, base.tvalues, rtol=1e-9)
    np.testing.assert_allclose(scaled.fvalue, base.fvalue, rtol=1e-9)


def test_from_solution_checks_names_and_shape(diabetes) -> None:
    from olsnet.errors import DimensionError

    X, y = diabetes
    design = as_design(X, y)
    solution = exact_lstsq(design.X, design.Y, None, True)
    with pytest.raises(DimensionError, match="got 2 names for 10 columns"):
        RegressionResult.from_solution(solution, None, feature_names=["a", "b"])
    with pytest.raises(DimensionError, match="y_ndim"):
        RegressionResult.from_solution(solution, None, y_ndim=3)
