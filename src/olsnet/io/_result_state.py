"""A :class:`~olsnet.inference.RegressionResult` as plain data and back, for safe model files.

The state is ``(meta, arrays)``: a JSON-able dict and plain numeric arrays (never pickled
objects). The current covariance is stored, and the HC meats when they have been computed, so
a loaded result switches among the covariance types computed before without data. The format
is version 1 of ``kind = "olsnet.RegressionResult"`` (unchanged since it was written inline in
``inference/result.py``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from .._types import COV_TYPES, RESULT_COV_TYPES, check_option
from ..errors import FormatError
from ..inference import RegressionResult
from ..inference._residual_tests import ResidualTests
from ..inference.covariance import ResidualPass
from ..inference.optimality import optimality_from_dict, optimality_to_dict
from ..solve import LstsqSolution

__all__ = ["result_from_state", "result_state"]

KIND = "olsnet.RegressionResult"
_FLOAT_ARRAYS = ("cov_unscaled", "cov", "ssr", "centered_tss", "uncentered_tss", "R_x", "shift_x")


def result_state(result: RegressionResult) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta: JSON-able dict, arrays: plain numeric ndarrays) of ``result``."""
    sol = result.solution
    meta: dict[str, Any] = {
        "kind": KIND,
        "version": 1,
        "nobs": sol.nobs,
        "sum_weights": sol.sum_weights,
        "rank": sol.rank,
        "fit_intercept": sol.fit_intercept,
        "condition_number": _json_float(sol.condition_number),
        "feature_names": list(result.feature_names),
        "target_names": list(result.target_names),
        "y_ndim": result.y_ndim,
        "cov_type": result.cov_type,
        "n_dropped": result.n_dropped,
        "method": sol.method,
        "sum_log_weights": _sum_log_weights_if_known(result),
        "optimality": None if result.optimality is None else optimality_to_dict(result.optimality),
    }
    arrays = {
        "params": np.array(sol.params),
        "cov_unscaled": np.array(sol.cov_unscaled),
        "cov": np.array(result.covariance),
        "ssr": np.array(sol.ssr),
        "centered_tss": np.array(sol.centered_tss),
        "uncentered_tss": np.array(sol.uncentered_tss),
        "aliased": sol.aliased.astype(np.uint8),
        "R_x": np.array(sol.R_x),
        "shift_x": np.array(sol.shift_x),
    }
    if result.cov_middle is not None:
        arrays["cov_middle"] = np.array(result.cov_middle)
    if result.cov_type not in COV_TYPES:  # cluster / HAC: what describes the covariance
        meta["cov_kwds"] = [[k, _jsonable(v)] for k, v in result.cov_kwds]
        meta["df_inference"] = result.df_inference
        meta["cov_reason"] = result.cov_reason
    tests = _residual_tests_if_known(result)
    if tests is not None and tests.reason is None:
        meta["residual_tests"] = {k: [_json_float(x) for x in v] for k, v in tests.values.items()}
        if tests.quantiles is not None:
            arrays["residual_quantiles"] = np.array(tests.quantiles)
    dp = result.known_residual_pass
    if dp is not None and not dp.complete:
        try:  # with the data at hand, every meat, so that the loaded result switches HC kinds
            dp = result.residual_pass()
        except Exception:  # a source that can no longer be read: no meats stored
            dp = None
    if dp is not None:
        arrays["hc_meats"] = np.array(dp.meats)
        arrays["gradient"] = np.array(dp.gradient)
        meta["max_leverage"] = dp.max_leverage
    return meta, arrays


def _sum_log_weights_if_known(result: RegressionResult) -> float | None:
    try:
        return result.sum_log_weights
    except Exception:  # a source that can no longer be read: store what is known
        return result.known_sum_log_weights


def _residual_tests_if_known(result: RegressionResult) -> Any:
    try:  # with the data at hand, made now so that the loaded summary shows them
        return result.residual_tests() if result.source is not None else None
    except Exception:  # a source that can no longer be read: store what is known
        return result.known_residual_tests


def result_from_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> RegressionResult:
    """Rebuild a result saved by :func:`result_state` (no data attached).

    Raises
    ------
    FormatError
        The state is not a result's, lacks a member, or has arrays of the wrong shape.
    """
    if meta.get("kind") != KIND:
        raise FormatError(f"not a RegressionResult state (kind={meta.get('kind')!r})")
    try:
        params = np.asarray(arrays["params"], dtype=np.float64)
        k, q = params.shape
        a = {name: np.asarray(arrays[name], dtype=np.float64) for name in _FLOAT_ARRAYS}
        aliased = np.asarray(arrays["aliased"]).astype(bool)
        rank = int(meta["rank"])
        expected = {
            "cov_unscaled": (k, k),
            "cov": (q, k, k),
            "ssr": (q,),
            "centered_tss": (q,),
            "uncentered_tss": (q,),
            "R_x": (rank, rank),
            "shift_x": (k - int(meta["fit_intercept"]),),
        }
        for name, shape in expected.items():
            if a[name].shape != shape:
                raise FormatError(f"array {name!r} has shape {a[name].shape}, expected {shape}")
        if aliased.shape != (k,):
            raise FormatError(f"array 'aliased' has shape {aliased.shape}, expected ({k},)")
        data_pass = None
        if "hc_meats" in arrays:
            meats = np.asarray(arrays["hc_meats"], dtype=np.float64)
            if meats.shape != (q, 3, rank, rank):
                raise FormatError(
                    f"array 'hc_meats' has shape {meats.shape}, expected {(q, 3, rank, rank)}"
                )
            data_pass = ResidualPass(
                meats,
                a["ssr"].copy(),
                float(meta.get("sum_log_weights") or 0.0),
                int(meta["nobs"]),
                float(meta.get("max_leverage", np.nan)),
                np.asarray(arrays.get("gradient", np.zeros((rank, q))), dtype=np.float64),
            )
        solution = LstsqSolution(
            params=params,
            cov_unscaled=a["cov_unscaled"],
            ssr=a["ssr"],
            centered_tss=a["centered_tss"],
            uncentered_tss=a["uncentered_tss"],
            nobs=int(meta["nobs"]),
            sum_weights=float(meta["sum_weights"]),
            rank=rank,
            aliased=aliased,
            fit_intercept=bool(meta["fit_intercept"]),
            shift_x=a["shift_x"],
            R_x=a["R_x"],
            condition_number=_float_or_nan(meta["condition_number"]),
            method=str(meta["method"]),
        )
        opt = meta.get("optimality")
        tests = None
        if "residual_tests" in meta:
            values = {
                str(k): np.array([_float_or_nan(x) for x in v], dtype=np.float64)
                for k, v in meta["residual_tests"].items()
            }
            if any(v.shape != (q,) for v in values.values()):
                raise FormatError(f"'residual_tests' must hold {q} value(s) per statistic")
            quant = arrays.get("residual_quantiles")
            if quant is not None and np.shape(quant) != (q, 5):
                raise FormatError(f"array 'residual_quantiles' must have shape {(q, 5)}")
            tests = ResidualTests(
                values, None if quant is None else np.asarray(quant, dtype=np.float64), None
            )
        base = RegressionResult.from_solution(
            solution,
            None,
            feature_names=tuple(meta["feature_names"]),
            target_names=tuple(meta["target_names"]),
            y_ndim=int(meta["y_ndim"]),
            n_dropped=int(meta["n_dropped"]),
            optimality=None if opt is None else optimality_from_dict(opt),
            data_pass=data_pass,
            sum_log_weights=meta.get("sum_log_weights"),
            residual_tests=tests,
        )
        cov_type = check_option("cov_type", meta["cov_type"], RESULT_COV_TYPES)
        if cov_type in COV_TYPES and (cov_type == "nonrobust" or data_pass is not None):
            return base.with_cov(cov_type)  # recomputed in the factored basis: the same numbers
        middle = None
        if "cov_middle" in arrays:
            middle = np.asarray(arrays["cov_middle"], dtype=np.float64)
            if middle.shape != (q, rank, rank):
                raise FormatError(
                    f"array 'cov_middle' has shape {middle.shape}, expected {(q, rank, rank)}"
                )
        df_inf = meta.get("df_inference")
        return replace(
            base,
            cov_type=cov_type,
            covariance=_readonly(a["cov"]),
            cov_middle=None if middle is None else _readonly(middle),
            cov_kwds=tuple((str(k), v) for k, v in meta.get("cov_kwds", [])),
            df_inference=None if df_inf is None else float(df_inf),
            cov_reason=meta.get("cov_reason"),
        )
    except KeyError as exc:
        raise FormatError(f"RegressionResult state is missing {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"RegressionResult state is malformed: {exc}") from None


def _readonly(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.flags.writeable = False
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    return v


def _json_float(v: float) -> float | str:
    """A float for JSON: "nan", "inf" and "-inf" as strings (JSON has no such numbers)."""
    return float(v) if math.isfinite(v) else str(float(v))


def _float_or_nan(v: Any) -> float:
    return float("nan") if v is None else float(v)  # also reads "nan", "inf" strings
