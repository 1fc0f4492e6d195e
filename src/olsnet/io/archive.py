"""Safe model files: ``save`` and ``load`` for Affine, LinearRegression, RegressionResult and
LinearNetwork. Nothing in a file is ever executed: no pickle, no code, no torch.load.

The format (``olsnet-archive``, format version 1)
--------------------------------------------------
A ZIP file whose members are all *stored* (no compression), with exactly these members:

``metadata.json``
    UTF-8 JSON object::

        {"format": "olsnet-archive", "format_version": 1, "kind": "<kind>",
         "olsnet_version": "0.1.0", "object": {...},
         "arrays": {"<name>": {"member": "arrays/<name>.npy", "shape": [..], "dtype": "<f8"}}}

    ``kind`` is one of ``Affine``, ``RegressionResult``, ``LinearRegression``,
    ``LinearNetwork``; ``object`` holds its JSON fields (below); ``arrays`` is the manifest of
    every array member. (Python's ``json`` writes NaN / Infinity as bare literals.)
``arrays/<name>.npy``
    One array in NumPy's ``.npy`` format (version 1.0 header, little-endian, C order, written
    with ``allow_pickle=False``). Allowed dtypes: ``<f8``, ``<f4``, ``<i8``, ``|u1``, ``|b1``.

Object fields by kind:

* ``Affine``: object ``feature_names``, ``target_names`` (lists or null), ``certificate``
  (its five fields, or null); arrays ``weight`` (q, p), ``bias`` (q,).
* ``RegressionResult``: object ``state`` (the result's JSON state); arrays ``result.*`` (its
  coefficient, covariance and R-factor arrays).
* ``LinearRegression``: object ``params`` (``get_params()``), ``intercept_is_scalar``,
  ``rank_``, ``n_features_in_``, ``feature_names_in_`` (list or null), ``state``; arrays
  ``coef_``, ``intercept_`` and ``result.*`` as above.
* ``LinearNetwork``: object ``n_features``, ``n_outputs``, ``hidden``, ``bias``, ``dtype``,
  ``feature_names``, ``target_names``, ``state_keys`` (the ``state_dict`` order); arrays
  ``state.<key>`` for every ``state_dict`` tensor (``0.weight``, ``0.bias``, ...). The
  training log is not stored.

``load`` checks, before building anything: the file is a ZIP; every member name is either
``metadata.json`` or listed in the manifest (unknown or missing members are refused); members
are stored, and each one's size is exactly what its manifest entry implies (a cap guards
``metadata.json``); each ``.npy`` header agrees with the manifest's shape and dtype and holds
no Python objects; the format name and version are known. Any failure raises
:class:`~olsnet.errors.FormatError` naming the file and member.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from typing import Any

import numpy as np

from .._fileutil import atomic_write
from ..affine import Affine, Certificate
from ..errors import FormatError, InputTypeError, NotFittedError
from ..inference import RegressionResult
from ._result_state import result_from_state, result_state

__all__ = ["load", "save"]

FORMAT_NAME = "olsnet-archive"
FORMAT_VERSION = 1
KINDS = ("Affine", "RegressionResult", "LinearRegression", "LinearNetwork")
ALLOWED_DTYPES = ("<f8", "<f4", "<i8", "|u1", "|b1")
MAX_METADATA_BYTES = 64 * 2**20
MAX_NPY_HEADER_BYTES = 64 * 2**10
_MEMBER_RE = re.compile(r"^arrays/[A-Za-z0-9_.\-]{1,200}\.npy$")


# ---- turning objects into (kind, object JSON, arrays) and back ------------------------------


def _names(value: Any) -> list[str] | None:
    return None if value is None else [str(v) for v in value]


def _result_parts(result: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta, arrays = result_state(result)
    return {"state": meta}, {f"result.{k}": v for k, v in arrays.items()}


def _result_from(obj: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    state = {k[len("result.") :]: v for k, v in arrays.items() if k.startswith("result.")}
    return result_from_state(obj["state"], state)


def _is_network(obj: Any) -> bool:
    cls_names = {c.__name__ for c in type(obj).__mro__}
    return "LinearNetwork" in cls_names


def _dump(obj: Any) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    if isinstance(obj, Affine):
        cert = obj.certificate
        fields = (
            None
            if cert is None
            else {
                "max_abs_diff": cert.max_abs_diff,
                "max_rel_diff": cert.max_rel_diff,
                "n_probes": cert.n_probes,
                "tolerance": cert.tolerance,
                "source": cert.source,
            }
        )
        return (
            "Affine",
            {
                "feature_names": _names(obj.feature_names),
                "target_names": _names(obj.target_names),
                "certificate": fields,
            },
            {"weight": np.asarray(obj.weight), "bias": np.asarray(obj.bias)},
        )
    if _is_network(obj):
        state = obj.state_dict()
        dtype = str(next(iter(state.values())).dtype).replace("torch.", "")
        return (
            "LinearNetwork",
            {
                "n_features": int(obj.n_features),
                "n_outputs": int(obj.n_outputs),
                "hidden": [int(h) for h in obj.hidden],
                "bias": bool(obj.bias),
                "dtype": dtype,
                "feature_names": _names(obj.feature_names),
                "target_names": _names(obj.target_names),
                "state_keys": list(state),
            },
            {f"state.{k}": v.detach().cpu().numpy() for k, v in state.items()},
        )
    if isinstance(obj, RegressionResult):
        fields, arrays = _result_parts(obj)
        return "RegressionResult", fields, arrays
    if type(obj).__name__ == "LinearRegression" and hasattr(obj, "get_params"):
        if not hasattr(obj, "result_"):
            raise NotFittedError("this LinearRegression is not fitted; fit it before save")
        fields, arrays = _result_parts(obj.result_)
        names = getattr(obj, "feature_names_in_", None)
        fields.update(
            {
                "params": obj.get_params(),
                "rank_": int(obj.rank_),
                "n_features_in_": int(obj.n_features_in_),
                "intercept_is_scalar": bool(np.ndim(obj.intercept_) == 0),
                "feature_names_in_": _names(names),
            }
        )
        arrays.update(
            {
                "coef_": np.asarray(obj.coef_, dtype=np.float64),
                "intercept_": np.atleast_1d(np.asarray(obj.intercept_, dtype=np.float64)),
            }
        )
        return "LinearRegression", fields, arrays
    raise InputTypeError(
        f"save takes an Affine, LinearRegression, RegressionResult or "
        f"LinearNetwork; got {type(obj).__name__}"
    )


def _build(kind: str, obj: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    if kind == "Affine":
        cert = obj.get("certificate")
        return Affine(
            arrays["weight"],
            arrays["bias"],
            feature_names=obj.get("feature_names"),
            target_names=obj.get("target_names"),
            certificate=None if cert is None else Certificate(**cert),
        )
    if kind == "RegressionResult":
        return _result_from(obj, arrays)
    if kind == "LinearRegression":
        from ..estimator import LinearRegression

        model = LinearRegression(**obj["params"])
        model.result_ = _result_from(obj, arrays)
        model.coef_ = np.array(arrays["coef_"])
        intercept = np.array(arrays["intercept_"])
        model.intercept_ = float(intercept[0]) if obj["intercept_is_scalar"] else intercept
        model.rank_ = int(obj["rank_"])
        model.n_features_in_ = int(obj["n_features_in_"])
        if obj.get("feature_names_in_") is not None:
            model.feature_names_in_ = np.asarray(obj["feature_names_in_"], dtype=object)
        return model
    import torch

    from ..nn import LinearNetwork

    dtype = getattr(torch, str(obj["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise FormatError(f"LinearNetwork dtype {obj['dtype']!r} is not a torch dtype")
    net = LinearNetwork(
        int(obj["n_features"]),
        int(obj["n_outputs"]),
        tuple(obj["hidden"]),
        bias=bool(obj["bias"]),
        dtype=dtype,
        feature_names=obj["feature_names"],
        target_names=obj["target_names"],
    )
    state = {k: torch.from_numpy(np.array(arrays[f"state.{k}"])) for k in obj["state_keys"]}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise FormatError(f"LinearNetwork arrays do not fit its configuration: {err}") from None
    return net.eval()


# ---- the file -------------------------------------------------------------------------------


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` to ``path`` as an olsnet archive (see the module docstring for the format).

    Parameters
    ----------
    obj : Affine, LinearRegression (fitted), RegressionResult or LinearNetwork
    path : str or path-like
        Written atomically: a temporary file in the same folder, renamed over ``path``.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "map.olsnet")
    >>> save(Affine(np.eye(2), np.zeros(2)), path)
    >>> load(path).weight.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    kind, fields, arrays = _dump(obj)
    manifest: dict[str, Any] = {}
    members: dict[str, bytes] = {}
    for name, value in arrays.items():
        arr = np.ascontiguousarray(value)
        if arr.dtype == bool:
            arr = arr.astype(np.bool_)
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype.str not in ALLOWED_DTYPES:
            arr = arr.astype(np.float64)
        member = f"arrays/{name}.npy"
        manifest[name] = {"member": member, "shape": list(arr.shape), "dtype": arr.dtype.str}
        members[member] = _npy_bytes(arr)
    from .. import __version__

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "olsnet_version": __version__,
        "object": fields,
        "arrays": manifest,
    }
    with atomic_write(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps(meta, indent=1).encode("utf-8"))
        for member, data in members.items():
            zf.writestr(member, data)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    if info.compress_type != zipfile.ZIP_STORED:
        raise FormatError(
            f"{where}: member {info.filename!r} is compressed; olsnet archives store "
            "members uncompressed"
        )
    if info.file_size > limit or info.compress_size != info.file_size:
        raise FormatError(
            f"{where}: member {info.filename!r} declares {info.file_size} bytes, "
            f"more than the {limit} its manifest allows"
        )
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) != info.file_size:
        raise FormatError(
            f"{where}: member {info.filename!r} is truncated ({len(data)} of "
            f"{info.file_size} bytes)"
        )
    return data


def _parse_npy(data: bytes, entry: dict[str, Any], member: str, where: str) -> np.ndarray:
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(buf)
        else:
            raise ValueError(f".npy version {version} is not accepted")
    except ValueError as err:
        raise FormatError(f"{where}: member {member!r} is not a valid .npy array: {err}") from None
    if dtype.hasobject:
        raise FormatError(
            f"{where}: member {member!r} holds Python objects (dtype {dtype}); "
            "olsnet archives hold numbers only and never unpickle"
        )
    if dtype.str != entry["dtype"] or list(shape) != list(entry["shape"]) or fortran:
        raise FormatError(
            f"{where}: member {member!r} has shape {list(shape)} and dtype {dtype.str}"
            f"{' (Fortran order)' if fortran else ''}; metadata.json says {entry['shape']} and "
            f"{entry['dtype']}"
        )
    expected = buf.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise FormatError(
            f"{where}: member {member!r} has {len(data)} bytes, its header implies {expected}"
        )
    buf.seek(0)
    arr = np.load(buf, allow_pickle=False)
    arr.setflags(write=False)
    return arr


def _check_manifest(meta: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise FormatError(f"{where}: metadata.json names format {found!r}, not {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise FormatError(
            f"{where}: format version {version!r} is not supported (this olsnet "
            f"reads version {FORMAT_VERSION}); a newer olsnet may read it"
        )
    if meta.get("kind") not in KINDS:
        raise FormatError(f"{where}: object kind {meta.get('kind')!r} is not one of {KINDS}")
    manifest = meta.get("arrays")
    if not isinstance(manifest, dict) or not isinstance(meta.get("object"), dict):
        raise FormatError(f"{where}: metadata.json lacks the 'object' and 'arrays' tables")
    for name, entry in manifest.items():
        ok = (
            isinstance(entry, dict)
            and entry.get("member") == f"arrays/{name}.npy"
            and _MEMBER_RE.match(entry["member"])
            and entry.get("dtype") in ALLOWED_DTYPES
            and isinstance(entry.get("shape"), list)
            and all(isinstance(s, int) and 0 <= s < 2**40 for s in entry["shape"])
        )
        if not ok:
            raise FormatError(
                f"{where}: manifest entry for array {name!r} is malformed: "
                f"{entry!r} (member arrays/<name>.npy, dtype one of "
                f"{ALLOWED_DTYPES}, shape a list of sizes)"
            )
    return manifest


def load(path: str | os.PathLike[str], *, max_bytes: int = 2**34) -> Any:
    """Read an olsnet archive written by :func:`save`, checking it completely first.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int, default 16 GiB
        Largest total size of the arrays accepted.

    Returns
    -------
    Affine, LinearRegression, RegressionResult or LinearNetwork
        Whatever was saved (a LinearNetwork comes back in eval mode).

    Raises
    ------
    FormatError
        Naming the file and member: not a ZIP or truncated, unknown or missing members,
        compressed or oversized members, Python objects, arrays that disagree with the
        manifest, unknown format or version.
    """
    where = os.fspath(path)
    try:
        zf = zipfile.ZipFile(where, "r")
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise FormatError(
            f"{where} is not an olsnet archive (not a complete ZIP file: {err})"
        ) from None
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise FormatError(f"{where}: duplicate member names in the archive")
        by_name = {i.filename: i for i in infos}
        if "metadata.json" not in by_name:
            raise FormatError(f"{where}: member 'metadata.json' is missing")
        try:
            raw = _read_member(zf, by_name["metadata.json"], MAX_METADATA_BYTES, where)
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FormatError(f"{where}: member 'metadata.json' is not UTF-8 JSON: {err}") from None
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise FormatError(f"{where}: member 'metadata.json' cannot be read: {err}") from None
        manifest = _check_manifest(meta, where)
        expected = {"metadata.json"} | {e["member"] for e in manifest.values()}
        unknown = sorted(set(names) - expected)
        if unknown:
            raise FormatError(
                f"{where}: unknown member(s) {unknown}; an olsnet archive holds only "
                "metadata.json and the arrays its manifest lists"
            )
        missing = sorted(expected - set(names))
        if missing:
            raise FormatError(f"{where}: member(s) {missing} listed in metadata.json are missing")
        total = 0
        arrays: dict[str, np.ndarray] = {}
        for name, entry in manifest.items():
            dtype = np.dtype(entry["dtype"])
            nbytes = int(np.prod(entry["shape"], dtype=np.int64)) * dtype.itemsize
            total += nbytes
            if total > max_bytes:
                raise FormatError(
                    f"{where}: arrays exceed max_bytes={max_bytes} at member {entry['member']!r}"
                )
            try:
                data = _read_member(
                    zf, by_name[entry["member"]], nbytes + MAX_NPY_HEADER_BYTES, where
                )
            except (zipfile.BadZipFile, EOFError, OSError) as err:
                raise FormatError(
                    f"{where}: member {entry['member']!r} cannot be read: {err}"
                ) from None
            arrays[name] = _parse_npy(data, entry, entry["member"], where)
    try:
        return _build(meta["kind"], meta["object"], arrays)
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise FormatError(
            f"{where}: the {meta['kind']} stored in it is incomplete or "
            f"inconsistent: {type(err).__name__}: {err}"
        ) from None
