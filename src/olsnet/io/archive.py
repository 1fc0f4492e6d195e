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
* ``RegressionResult``: object ``state`` (the result's JSON state) and, for a formula fit,
  ``model_spec`` (the formula, its columns, levels, dates and stateful-transform state:
  ``olsnet.data.model_spec.ModelSpec.to_json``; checked on load against the coefficients'
  names, and its formula may call only the documented transforms); arrays ``result.*`` (its
  coefficient, covariance and R-factor arrays).
* ``LinearRegression``: object ``params`` (``get_params()``), ``intercept_is_scalar``,
  ``rank_``, ``n_features_in_``, ``feature_names_in_`` (list or null), ``state``; arrays
  ``coef_``, ``intercept_`` and ``result.*`` as above (``model_spec`` too, as above).
* ``LinearNetwork``: object ``n_features``, ``n_outputs``, ``hidden``, ``bias``, ``dtype``,
  ``feature_names``, ``target_names``, ``state_keys`` (the ``state_dict`` order); arrays
  ``state.<key>`` for every ``state_dict`` tensor (``0.weight``, ``0.bias``, ...). The
  training log is not stored.

``load`` checks, before building anything (:mod:`olsnet.io._validate_archive`): the path
is a regular file; the ZIP directory's member count and size; every member name is either
``metadata.json`` or listed in the manifest (unknown or missing members are refused); members
are stored, lie inside the file, and each one's size is exactly what its manifest entry implies
(a cap guards ``metadata.json``, whose nesting depth and integer lengths are bounded before it
is parsed); array sizes, computed with Python integers, fit the ``max_bytes`` budget; every
object field has its type and range and agrees with the shapes of the arrays (a network's
layers with its weights, a result's names with its coefficients); each ``.npy`` header agrees
with the manifest's shape and dtype and holds no Python objects; the format name and version
are known; after reading, the stored values agree (``coef_`` and ``intercept_`` with the
result's ``params``, ``rank_`` and the rank with the aliased flags). Any failure raises
:class:`~olsnet.errors.FormatError` naming the file, member and field.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from .._fileutil import atomic_write
from .._safe_open import open_regular
from ..affine import Affine, Certificate
from ..data.model_spec import ModelSpec
from ..errors import FormatError, InputTypeError, NotFittedError
from ..inference import RegressionResult
from ._result_state import result_from_state, result_state
from ._validate_archive import (
    ALLOWED_DTYPES,
    array_nbytes,
    check_manifest,
    check_object,
    check_values,
    check_zip_directory,
    parse_metadata,
)

__all__ = ["load", "save"]

FORMAT_NAME = "olsnet-archive"
FORMAT_VERSION = 1
KINDS = ("Affine", "RegressionResult", "LinearRegression", "LinearNetwork")
MAX_METADATA_BYTES = 64 * 2**20
MAX_NPY_HEADER_BYTES = 64 * 2**10
MAX_ARRAY_BYTES = 2**33
"""Default ``max_bytes`` of :func:`load`: 8 GiB of arrays (a 10,000-feature regression with
its HC meats stores about 4.8 GB)."""
_FILE_OVERHEAD_BYTES = 2**28  # ZIP headers, .npy headers and the directory, beyond the arrays


# ---- turning objects into (kind, object JSON, arrays) and back ------------------------------


def _names(value: Any) -> list[str] | None:
    return None if value is None else [str(v) for v in value]


def _result_parts(result: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta, arrays = result_state(result)
    fields: dict[str, Any] = {"state": meta}
    if getattr(result, "model_spec", None) is not None:
        fields["model_spec"] = result.model_spec.to_json()  # the formula, as plain JSON
    return fields, {f"result.{k}": v for k, v in arrays.items()}


def _result_from(obj: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    state = {k[len("result.") :]: v for k, v in arrays.items() if k.startswith("result.")}
    result = result_from_state(obj["state"], state)
    if obj.get("model_spec") is None:
        return result
    spec = ModelSpec.from_json(obj["model_spec"])  # FormatError when malformed
    spec.check_consistent(result.feature_names, result.target_names)
    return dataclasses.replace(result, model_spec=spec)


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
        if model.result_.model_spec is not None:
            model.model_spec_ = model.result_.model_spec
        return model
    import torch

    from ..nn import LinearNetwork

    dtype = getattr(torch, str(obj["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise FormatError(f"LinearNetwork dtype {obj['dtype']!r} is not a torch dtype")
    # built on the meta device (no memory, no random init), then given the stored tensors
    net = LinearNetwork(
        int(obj["n_features"]),
        int(obj["n_outputs"]),
        tuple(obj["hidden"]),
        bias=bool(obj["bias"]),
        dtype=dtype,
        device="meta",
        feature_names=obj["feature_names"],
        target_names=obj["target_names"],
    )
    state = {
        k: torch.from_numpy(np.array(arrays[f"state.{k}"])).to(dtype) for k in obj["state_keys"]
    }
    try:
        net.load_state_dict(state, strict=True, assign=True)
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
    file_size = os.fstat(zf.fp.fileno()).st_size  # type: ignore[union-attr]
    if info.header_offset + info.file_size > file_size:
        raise FormatError(
            f"{where}: member {info.filename!r} declares {info.file_size} bytes at offset "
            f"{info.header_offset} of a {file_size}-byte file"
        )
    with zf.open(info) as fh:
        data = fh.read(info.file_size)
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
    offset = buf.tell()
    count = math.prod(shape)
    if len(data) != offset + count * dtype.itemsize:
        raise FormatError(
            f"{where}: member {member!r} has {len(data)} bytes, its header implies "
            f"{offset + count * dtype.itemsize}"
        )
    # a read-only view of the member's bytes: no second copy
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_ARRAY_BYTES) -> Any:
    """Read an olsnet archive written by :func:`save`, checking it completely first.

    Parameters
    ----------
    path : str or path-like
        A regular file (not a FIFO, device or directory).
    max_bytes : int, default 8 GiB (``MAX_ARRAY_BYTES``)
        The memory budget: the largest total size of the arrays accepted, checked from the
        declared shapes (Python integers) before anything is read or allocated. A network or
        regression declaring more is refused; raise it to load larger models. Loading needs
        about twice this at most (the file's bytes and the built object).

    Returns
    -------
    Affine, LinearRegression, RegressionResult or LinearNetwork
        Whatever was saved (a LinearNetwork comes back in eval mode).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    FormatError
        Naming the file, member and field: not a regular file, not a ZIP or truncated,
        unknown or missing members, compressed or oversized members, Python objects, arrays
        that disagree with the manifest, malformed or inconsistent fields (see
        :mod:`olsnet.io._validate_archive`), arrays over ``max_bytes``, unknown format or
        version.
    """
    where = os.fspath(path)
    limit = max_bytes + MAX_METADATA_BYTES + _FILE_OVERHEAD_BYTES
    with open_regular(where, limit, what="a model archive") as fh:
        check_zip_directory(fh, os.fstat(fh.fileno()).st_size, where)
        try:
            zf = zipfile.ZipFile(fh, "r")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as err:
            raise FormatError(
                f"{where} is not an olsnet archive (not a complete ZIP file: {err})"
            ) from None
        with zf:
            try:
                meta, arrays = _read_checked(zf, where, max_bytes)
            except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as err:
                # damaged headers, unsupported ZIP versions or methods, encrypted members
                raise FormatError(
                    f"{where} is not a readable olsnet archive: {type(err).__name__}: {err}"
                ) from None
    try:
        return _build(meta["kind"], meta["object"], arrays)
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, LookupError, ArithmeticError) as err:
        # a field combination the checks did not foresee: still the file's fault, not a crash
        raise FormatError(
            f"{where}: the {meta['kind']} stored in it is incomplete or "
            f"inconsistent: {type(err).__name__}: {err}"
        ) from None


def _read_checked(
    zf: zipfile.ZipFile, where: str, max_bytes: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """metadata.json and every array, each checked before the next step allocates."""
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise FormatError(f"{where}: duplicate member names in the archive")
    by_name = {i.filename: i for i in infos}
    if "metadata.json" not in by_name:
        raise FormatError(f"{where}: member 'metadata.json' is missing")
    try:
        raw = _read_member(zf, by_name["metadata.json"], MAX_METADATA_BYTES, where)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise FormatError(f"{where}: member 'metadata.json' cannot be read: {err}") from None
    meta = parse_metadata(raw, where)
    manifest = check_manifest(
        meta, where, format_name=FORMAT_NAME, version=FORMAT_VERSION, kinds=KINDS
    )
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
    total = sum(array_nbytes(e) for e in manifest.values())
    if total > max_bytes:
        raise FormatError(
            f"{where}: the arrays declared in metadata.json need {total} bytes, more than "
            f"max_bytes={max_bytes}; pass a larger max_bytes to load a model this large"
        )
    check_object(meta["kind"], meta["object"], manifest, where)
    arrays: dict[str, np.ndarray] = {}
    for name, entry in manifest.items():
        member = entry["member"]
        try:
            data = _read_member(
                zf, by_name[member], array_nbytes(entry) + MAX_NPY_HEADER_BYTES, where
            )
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            raise FormatError(f"{where}: member {member!r} cannot be read: {err}") from None
        arrays[name] = _parse_npy(data, entry, member, where)
    check_values(meta["kind"], meta["object"], arrays, where)
    return meta, arrays
