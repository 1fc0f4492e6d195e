"""Checks of an olsnet archive before anything in it is built (used by ``io.archive.load``).

Every check raises :class:`~olsnet.errors.FormatError` naming the file, the member and the
field, saying what arrived and what is allowed. The order matters for memory:

1. the ZIP directory (:func:`check_zip_directory`): member count and directory size from the
   end record, before :mod:`zipfile` builds one object per member;
2. ``metadata.json`` (:func:`parse_metadata`): nesting depth bounded *before* ``json`` recurses,
   integers bounded in digits, duplicate keys refused;
3. the manifest (:func:`check_manifest`) and the object's fields against the manifest's shapes
   (:func:`check_object`): sizes are products of Python integers (no int64 wrap-around), a
   network's declared layers must match the arrays it stores, so nothing is allocated for a
   configuration the file does not back with bytes;
4. after the arrays are read, their values (:func:`check_values`): aliased flags are 0/1, the
   estimator's ``coef_`` / ``intercept_`` / ``rank_`` agree with its result.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import struct
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from ..errors import FormatError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_MEMBERS",
    "array_nbytes",
    "check_manifest",
    "check_object",
    "check_values",
    "check_zip_directory",
    "parse_metadata",
]

META = "metadata.json"
MAX_MEMBERS = 65_000
"""Most members an archive may list (a ZIP without ZIP64 holds at most 65,535)."""
MAX_CENTRAL_DIRECTORY_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 64
"""Deepest nesting of ``metadata.json`` (olsnet writes at most 5 levels)."""
MAX_INT_DIGITS = 20
"""Longest integer literal in ``metadata.json`` (int64 has 19 digits)."""
MAX_NDIM = 8
MAX_SIZE = 2**62
ALLOWED_DTYPES = ("<f8", "<f4", "<i8", "|u1", "|b1")
FLOAT_DTYPES = ("<f8", "<f4")
NETWORK_DTYPES = ("float64", "float32", "float16", "bfloat16")
_MEMBER_RE = re.compile(r"^arrays/[A-Za-z0-9_.\-]{1,200}\.npy$")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def _bad(where: str, member: str, field: str, value: Any, allowed: str) -> FormatError:
    return FormatError(f"{where}: member {member!r}, field {field!r} is {_short(value)}; {allowed}")


# ---- 1. the ZIP directory -------------------------------------------------------------------

_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory record (22 bytes)
_ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes, just before the end record
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes


def check_zip_directory(fh: IO[bytes], size: int, where: str) -> None:
    """Member count and central-directory size, read from the end record (ZIP64 too)."""
    tail_len = min(size, _EOCD.size + 65_535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise FormatError(
            f"{where} is not an olsnet archive (not a complete ZIP file: no end-of-directory record)"
        )
    _, _, _, _, count, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    if count == 0xFFFF or cd_size == 0xFFFFFFFF:
        loc_at = size - tail_len + at - _ZIP64_LOCATOR.size
        if loc_at >= 0:
            fh.seek(loc_at)
            sig, _, rec_at, _ = _ZIP64_LOCATOR.unpack(fh.read(_ZIP64_LOCATOR.size))
            if sig == b"PK\x06\x07" and 0 <= rec_at <= size - _ZIP64_EOCD.size:
                fh.seek(rec_at)
                rec = _ZIP64_EOCD.unpack(fh.read(_ZIP64_EOCD.size))
                if rec[0] == b"PK\x06\x06":
                    count, cd_size = rec[7], rec[8]
    if count > MAX_MEMBERS:
        raise FormatError(
            f"{where}: the ZIP directory lists {count} members; an olsnet archive has at most "
            f"{MAX_MEMBERS}"
        )
    if cd_size > min(size, MAX_CENTRAL_DIRECTORY_BYTES):
        raise FormatError(
            f"{where}: the ZIP directory declares {cd_size} bytes in a {size}-byte file "
            f"(at most {MAX_CENTRAL_DIRECTORY_BYTES} allowed)"
        )
    fh.seek(0)


# ---- 2. metadata.json -----------------------------------------------------------------------

_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _depth(raw: bytes) -> int:
    """Deepest ``[``/``{`` nesting outside strings (a linear scan; json is not called)."""
    depth = deepest = 0
    for m in _JSON_TOKENS.finditer(raw):
        c = m.group()[:1]
        if c in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return depth
            deepest = max(deepest, depth)
        elif c in b"]}":
            depth -= 1
    return deepest


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(
            f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS} allowed)"
        )
    return int(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"key {dup!r} appears twice in one object")
    return out


def parse_metadata(raw: bytes, where: str) -> dict[str, Any]:
    """``metadata.json`` as a dict: UTF-8 JSON, nesting and integers bounded, no duplicates."""
    if _depth(raw) > MAX_JSON_DEPTH:
        raise FormatError(
            f"{where}: member {META!r} nests more than {MAX_JSON_DEPTH} levels deep; olsnet "
            "archives nest at most a few"
        )
    try:
        meta = json.loads(
            raw.decode("utf-8"), parse_int=_parse_int, object_pairs_hook=_no_duplicates
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise FormatError(f"{where}: member {META!r} is not valid UTF-8 JSON: {err}") from None
    if not isinstance(meta, dict):
        raise FormatError(
            f"{where}: member {META!r} holds a JSON {type(meta).__name__}, not an object"
        )
    return meta


# ---- 3. the manifest and the object's fields ------------------------------------------------


def array_nbytes(entry: dict[str, Any]) -> int:
    """Bytes of a manifest entry's array, as a Python integer (no wrap-around)."""
    return math.prod(entry["shape"]) * np.dtype(entry["dtype"]).itemsize


def check_manifest(
    meta: dict[str, Any], where: str, *, format_name: str, version: int, kinds: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The header fields and the ``arrays`` manifest (member names, dtypes, shapes)."""
    found = meta.get("format")
    if found != format_name:
        raise FormatError(f"{where}: {META} names format {_short(found)}, not {format_name!r}")
    got = meta.get("format_version")
    if got != version or isinstance(got, bool):
        raise FormatError(
            f"{where}: member {META!r}, field 'format_version': format version {_short(got)} is "
            f"not supported (this olsnet reads version {version}); a newer olsnet may read it"
        )
    if meta.get("kind") not in kinds:
        raise _bad(where, META, "kind", meta.get("kind"), f"allowed: {', '.join(kinds)}")
    olsnet_version = meta.get("olsnet_version")
    if olsnet_version is not None and (
        not isinstance(olsnet_version, str) or len(olsnet_version) > 64
    ):
        raise _bad(where, META, "olsnet_version", olsnet_version, "a version text")
    manifest = meta.get("arrays")
    if not isinstance(meta.get("object"), dict):
        raise _bad(where, META, "object", meta.get("object"), "a JSON object is required")
    if not isinstance(manifest, dict):
        raise _bad(where, META, "arrays", manifest, "a JSON object (the manifest) is required")
    if len(manifest) > MAX_MEMBERS:
        raise _bad(where, META, "arrays", f"{len(manifest)} entries", f"at most {MAX_MEMBERS}")
    for name, entry in manifest.items():
        field = f"arrays.{name}"
        if not isinstance(entry, dict):
            raise _bad(where, META, field, entry, "an object {member, shape, dtype}")
        if entry.get("member") != f"arrays/{name}.npy" or not _MEMBER_RE.match(
            f"arrays/{name}.npy"
        ):
            raise _bad(where, META, field + ".member", entry.get("member"), f"'arrays/{name}.npy'")
        if entry.get("dtype") not in ALLOWED_DTYPES:
            raise _bad(where, META, field + ".dtype", entry.get("dtype"), f"{ALLOWED_DTYPES}")
        shape = entry.get("shape")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or not all(type(s) is int and 0 <= s for s in shape)
            or math.prod(shape) > MAX_SIZE
        ):
            raise _bad(
                where,
                META,
                field + ".shape",
                shape,
                f"a list of at most {MAX_NDIM} sizes >= 0 with product at most 2**62",
            )
    return manifest


class _Fields:
    """Typed reads of one JSON object of ``metadata.json``, each naming its field."""

    def __init__(self, obj: Any, path: str, where: str) -> None:
        if not isinstance(obj, dict):
            raise _bad(where, META, path, obj, "a JSON object is required")
        self.obj, self.path, self.where = obj, path, where

    def bad(self, key: str, allowed: str) -> FormatError:
        return _bad(self.where, META, f"{self.path}.{key}", self.obj.get(key, "<missing>"), allowed)

    def get(self, key: str) -> Any:
        if key not in self.obj:
            raise FormatError(f"{self.where}: member {META!r} lacks field '{self.path}.{key}'")
        return self.obj[key]

    def integer(self, key: str, lo: int = 0, hi: int = 2**62) -> int:
        v = self.get(key)
        if type(v) is not int or not lo <= v <= hi:
            raise self.bad(key, f"an integer from {lo} to {hi}")
        return v

    def boolean(self, key: str) -> bool:
        v = self.get(key)
        if type(v) is not bool:
            raise self.bad(key, "true or false")
        return v

    def number(self, key: str, *, finite: bool = True, none: bool = False) -> float | None:
        v: Any = self.get(key) if not none else self.obj.get(key)
        if v is None and none:
            return None
        if not finite and v in ("nan", "inf", "-inf"):
            return float(v)
        if type(v) not in (int, float) or (finite and not math.isfinite(v)):
            kind = "a finite number" if finite else "a number"
            raise self.bad(key, kind + (" or null" if none else ""))
        return float(v)

    def text(self, key: str, choices: Sequence[str] | None = None, max_len: int = 200) -> str:
        v = self.get(key)
        if not isinstance(v, str) or len(v) > max_len or (choices and v not in choices):
            raise self.bad(key, f"one of {tuple(choices)}" if choices else "a short text")
        return v

    def names(self, key: str, length: int | None, *, none: bool = True) -> list[str] | None:
        v = self.obj.get(key) if none else self.get(key)
        if v is None and none:
            return None
        if (
            not isinstance(v, list)
            or not all(isinstance(s, str) and len(s) <= 10_000 for s in v)
            or (length is not None and len(v) != length)
        ):
            n = "" if length is None else f"{length} "
            raise self.bad(key, f"a list of {n}texts" + (" or null" if none else ""))
        return v

    def sub(self, key: str, *, none: bool = False) -> _Fields | None:
        v = self.obj.get(key) if none else self.get(key)
        if v is None and none:
            return None
        return _Fields(v, f"{self.path}.{key}", self.where)


def _shape(manifest: dict[str, Any], name: str, where: str) -> tuple[int, ...]:
    if name not in manifest:
        raise FormatError(f"{where}: member 'arrays/{name}.npy' is missing from the manifest")
    return tuple(manifest[name]["shape"])


def _expect(
    manifest: dict[str, Any], name: str, shape: tuple[int, ...], where: str, dtypes=FLOAT_DTYPES
) -> None:
    got = _shape(manifest, name, where)
    member = manifest[name]["member"]
    if got != shape:
        raise _bad(where, META, f"arrays.{name}.shape", list(got), f"{list(shape)} expected")
    if manifest[name]["dtype"] not in dtypes:
        raise FormatError(
            f"{where}: member {member!r} has dtype {manifest[name]['dtype']}; allowed: {dtypes}"
        )


def _check_result_state(
    state: _Fields, manifest: dict[str, Any], where: str, prefix: str = "result."
) -> tuple[int, int, bool]:
    """The result's JSON state against its arrays' shapes; returns ``(k, q, fit_intercept)``."""
    state.text("kind", ("olsnet.RegressionResult",))
    if state.integer("version", 1, 1) != 1:  # pragma: no cover - int() already bounds it
        raise state.bad("version", "1")
    params = _shape(manifest, prefix + "params", where)
    if len(params) != 2:
        raise _bad(where, META, f"arrays.{prefix}params.shape", list(params), "(k, q) expected")
    k, q = params
    fit_intercept = state.boolean("fit_intercept")
    if k < int(fit_intercept) or q < 1:
        raise _bad(where, META, f"arrays.{prefix}params.shape", [k, q], "k >= intercept, q >= 1")
    rank = state.integer("rank", 0, k)
    state.integer("nobs", 0)
    state.integer("n_dropped", 0)
    state.number("sum_weights")
    state.number("condition_number", finite=False, none=True)
    state.number("sum_log_weights", none=True)
    if "max_leverage" in state.obj:
        state.number("max_leverage", finite=False, none=True)
    state.names("feature_names", k - int(fit_intercept), none=False)
    state.names("target_names", q, none=False)
    state.integer("y_ndim", 1, 2)
    if state.obj["y_ndim"] == 1 and q != 1:
        raise state.bad("y_ndim", f"2 for {q} targets")
    state.text("cov_type")
    state.text("method")
    opt = state.sub("optimality", none=True)
    if opt is not None:
        for key in opt.obj:
            opt.number(key, finite=False)
    tests = state.sub("residual_tests", none=True)
    if tests is not None:
        for key, values in tests.obj.items():
            if not isinstance(values, list) or len(values) != q:
                raise tests.bad(key, f"a list of {q} numbers (one per target)")
            for i in range(q):
                _Fields({"v": values[i]}, f"{tests.path}.{key}[{i}]", where).number(
                    "v", finite=False, none=True
                )
    if "cov_kwds" in state.obj:
        kwds = state.obj["cov_kwds"]
        if not isinstance(kwds, list) or not all(
            isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str) for kv in kwds
        ):
            raise state.bad("cov_kwds", "a list of [name, value] pairs")
    if state.obj.get("df_inference") is not None:
        state.number("df_inference", finite=False)
    if state.obj.get("cov_reason") is not None:
        state.text("cov_reason", max_len=10_000)
    p = k - int(fit_intercept)
    for name, shape in {
        "cov_unscaled": (k, k),
        "cov": (q, k, k),
        "ssr": (q,),
        "centered_tss": (q,),
        "uncentered_tss": (q,),
        "R_x": (rank, rank),
        "shift_x": (p,),
    }.items():
        _expect(manifest, prefix + name, shape, where)
    _expect(manifest, prefix + "aliased", (k,), where, dtypes=("|u1", "|b1"))
    if prefix + "hc_meats" in manifest:
        _expect(manifest, prefix + "hc_meats", (q, 3, rank, rank), where)
    if prefix + "gradient" in manifest:
        _expect(manifest, prefix + "gradient", (rank, q), where)
    if prefix + "cov_middle" in manifest:
        _expect(manifest, prefix + "cov_middle", (q, rank, rank), where)
    if prefix + "residual_quantiles" in manifest:
        _expect(manifest, prefix + "residual_quantiles", (q, 5), where)
    return k, q, fit_intercept


def _check_affine(obj: _Fields, manifest: dict[str, Any], where: str) -> None:
    shape = _shape(manifest, "weight", where)
    if len(shape) != 2:
        raise _bad(where, META, "arrays.weight.shape", list(shape), "(q, p) expected")
    q, p = shape
    _expect(manifest, "weight", (q, p), where)
    _expect(manifest, "bias", (q,), where)
    obj.names("feature_names", p)
    obj.names("target_names", q)
    cert = obj.sub("certificate", none=True)
    if cert is not None:
        for key in ("max_abs_diff", "max_rel_diff", "tolerance"):
            cert.number(key, finite=False)
        cert.integer("n_probes")
        cert.text("source", max_len=10_000)


def _check_estimator(obj: _Fields, manifest: dict[str, Any], where: str) -> None:
    k, q, fit_intercept = _check_result_state(obj.sub("state"), manifest, where)  # type: ignore[arg-type]
    params = obj.sub("params")
    assert params is not None
    for key, value in params.obj.items():
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise params.bad(key, "a text, number, true/false or null")
    p = obj.integer("n_features_in_")
    if p != k - int(fit_intercept):
        raise obj.bad("n_features_in_", f"{k - int(fit_intercept)} (the result's features)")
    obj.integer("rank_", 0, k)
    scalar = obj.boolean("intercept_is_scalar")
    obj.names("feature_names_in_", p)
    _expect(manifest, "coef_", (p,) if obj.obj["state"]["y_ndim"] == 1 else (q, p), where)
    _expect(manifest, "intercept_", (1,) if scalar else (q,), where)


def _check_network(obj: _Fields, manifest: dict[str, Any], where: str) -> int:
    """Layers, names and keys against the stored arrays; returns the parameter count."""
    n_in = obj.integer("n_features", 1)
    n_out = obj.integer("n_outputs", 1)
    hidden = obj.get("hidden")
    if (
        not isinstance(hidden, list)
        or len(hidden) > 1000
        or not all(type(h) is int and h >= 1 for h in hidden)
    ):
        raise obj.bad("hidden", "a list of at most 1000 positive widths")
    bias = obj.boolean("bias")
    obj.text("dtype", NETWORK_DTYPES)
    obj.names("feature_names", n_in)
    obj.names("target_names", n_out)
    widths = [n_in, *hidden, n_out]
    expected: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        expected[f"{i}.weight"] = (b, a)
        if bias:
            expected[f"{i}.bias"] = (b,)
    keys = obj.get("state_keys")
    if keys != list(expected):
        raise obj.bad("state_keys", f"{_short(list(expected))} for these layers")
    for key, shape in expected.items():
        _expect(manifest, f"state.{key}", shape, where)
    return sum(math.prod(s) for s in expected.values())


def check_object(kind: str, obj: dict[str, Any], manifest: dict[str, Any], where: str) -> None:
    """The object's fields, and each field against the shapes of the arrays it describes.

    Only shapes from the manifest are used: nothing has been read or allocated yet.
    """
    fields = _Fields(obj, "object", where)
    if kind == "Affine":
        _check_affine(fields, manifest, where)
    elif kind == "RegressionResult":
        _check_result_state(fields.sub("state"), manifest, where)  # type: ignore[arg-type]
    elif kind == "LinearRegression":
        _check_estimator(fields, manifest, where)
    else:
        _check_network(fields, manifest, where)


# ---- 4. the values --------------------------------------------------------------------------


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def check_values(kind: str, obj: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
    """Values that must agree with each other (after the arrays are read)."""
    if kind in ("RegressionResult", "LinearRegression"):
        aliased = arrays["result.aliased"]
        if not np.isin(aliased, (0, 1)).all():
            raise FormatError(
                f"{where}: member 'arrays/result.aliased.npy' holds values other than 0 and 1"
            )
        rank = obj["state"]["rank"]
        if int(aliased.sum()) != len(aliased) - rank:
            raise FormatError(
                f"{where}: member {META!r}, field 'object.state.rank' is {rank}, but "
                f"'arrays/result.aliased.npy' marks {int(aliased.sum())} of {len(aliased)} "
                "coefficients aliased; rank + aliased must be the number of coefficients"
            )
    if kind != "LinearRegression":
        return
    state = obj["state"]
    params = np.asarray(arrays["result.params"], dtype=np.float64)  # (k, q)
    fit_intercept = state["fit_intercept"]
    coef = params[int(fit_intercept) :].T  # (q, p)
    stored = np.asarray(arrays["coef_"], dtype=np.float64)
    if not _same(stored, coef[0] if state["y_ndim"] == 1 else coef):
        raise FormatError(
            f"{where}: member 'arrays/coef_.npy' disagrees with 'arrays/result.params.npy' "
            "(the estimator's coef_ must be its result's params); the file was altered"
        )
    intercept = np.asarray(arrays["intercept_"], dtype=np.float64)
    want = params[0] if fit_intercept else np.zeros(params.shape[1])
    if not _same(intercept, want[: len(intercept)]) or (
        not obj["intercept_is_scalar"] and len(intercept) != len(want)
    ):
        raise FormatError(
            f"{where}: member 'arrays/intercept_.npy' disagrees with "
            "'arrays/result.params.npy' (the estimator's intercept_ must be its result's)"
        )
    if obj["rank_"] != state["rank"]:
        raise _bad(where, META, "object.rank_", obj["rank_"], f"{state['rank']} (the result's)")
