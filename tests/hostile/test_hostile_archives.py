"""Issue 13 items 3 and 7: malformed olsnet archives, each loaded in a capped child.

Every file is built here from a good archive by changing one thing. Each must end within 5 s
under 500 MB of peak memory with a FormatError naming the member and the field; nothing in it
runs, nothing is written.
"""

from __future__ import annotations

import io
import itertools
import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile_harness import assert_no_files_outside

import olsnet

LOAD = "import olsnet\nolsnet.load({path!r})\nprint('loaded')"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    """One good archive of each kind (fitted in this process; only the children load)."""
    folder = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(40)
    model = olsnet.LinearRegression().fit(X, y)
    paths = {
        "LinearRegression": folder / "lr.olsnet",
        "RegressionResult": folder / "res.olsnet",
        "Affine": folder / "aff.olsnet",
    }
    olsnet.save(model, paths["LinearRegression"])
    olsnet.save(model.result_, paths["RegressionResult"])
    olsnet.save(olsnet.Affine(np.ones((2, 3)), np.zeros(2)), paths["Affine"])
    return paths


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write(path: Path, content: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return path


def with_meta(src: Path, dest: Path, change) -> Path:
    content = members(src)
    meta = json.loads(content["metadata.json"])
    change(meta)
    content["metadata.json"] = json.dumps(meta).encode()
    return write(dest, content)


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A .npy v1.0 header declaring ``shape`` (no data follows)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def load_in_child(run_capped, path: Path, **kw):
    return run_capped(LOAD.format(path=str(path)), **kw)


def assert_refused(run_capped, tmp_path, path: Path, *fragments: str) -> str:
    run = load_in_child(run_capped, path)
    message = run.assert_error("FormatError", str(path), *fragments)
    assert_no_files_outside(run, tmp_path)
    return message


# ---- item 3: the examples of the issue ------------------------------------------------------


def test_a_shape_whose_int64_product_wraps_is_refused(run_capped, good, tmp_path):
    # 2**32 * 2**32 wraps to 0 in int64: sizes must be Python integers
    content = members(good["Affine"])
    meta = json.loads(content["metadata.json"])
    meta["arrays"]["weight"]["shape"] = [2**32, 2**32]
    content["metadata.json"] = json.dumps(meta).encode()
    content["arrays/weight.npy"] = npy_header((2**32, 2**32))
    path = write(tmp_path / "wrap.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'metadata.json'", "'arrays.weight.shape'")


def test_a_shape_over_the_memory_budget_is_refused_before_reading(run_capped, good, tmp_path):
    content = members(good["Affine"])
    meta = json.loads(content["metadata.json"])
    meta["arrays"]["weight"]["shape"] = [2**20, 2**20]  # 8 TiB of float64
    content["metadata.json"] = json.dumps(meta).encode()
    content["arrays/weight.npy"] = npy_header((2**20, 2**20))
    path = write(tmp_path / "big.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "8796093022224 bytes", "max_bytes")


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """The ZIP with ``member``'s sizes (local header and directory) set to ``size``."""
    out = bytearray(data)
    name = member.encode()
    # (signature, offset of the name length, of the name, of the two sizes)
    for sig, len_at, name_at, sizes_at in (
        (b"PK\x03\x04", 26, 30, 18),
        (b"PK\x01\x02", 28, 46, 20),
    ):
        at = out.find(sig)
        while at >= 0:
            n = struct.unpack_from("<H", out, at + len_at)[0]
            if bytes(out[at + name_at : at + name_at + n]) == name:
                struct.pack_into("<II", out, at + sizes_at, size, size)
            at = out.find(sig, at + 4)
    return bytes(out)


def test_a_member_declaring_400_mb_in_a_3_kb_file_is_refused(run_capped, good, tmp_path):
    content = members(good["Affine"])
    rows = 400 * 2**20 // 8 // 3
    meta = json.loads(content["metadata.json"])
    meta["arrays"]["weight"]["shape"] = [rows, 3]
    meta["arrays"]["bias"]["shape"] = [rows]
    content["metadata.json"] = json.dumps(meta).encode()
    content["arrays/weight.npy"] = npy_header((rows, 3))
    content["arrays/bias.npy"] = npy_header((rows,))
    path = write(tmp_path / "claims.olsnet", content)
    size = len(npy_header((rows, 3))) + rows * 3 * 8
    path.write_bytes(_declare_size(path.read_bytes(), "arrays/weight.npy", size))
    assert path.stat().st_size < 4096
    message = assert_refused(run_capped, tmp_path, path, "'arrays/weight.npy'")
    assert f"declares {size} bytes" in message


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("rank_", float("inf"), "'object.rank_' is inf"),
        ("rank_", 2.0, "'object.rank_' is 2.0"),
        ("rank_", 99, "'object.rank_' is 99"),
        ("rank_", True, "'object.rank_' is True"),
        ("state", [1, 2], "'object.state' is [1, 2]"),
        ("state", None, "'object.state' is None"),
        ("feature_names_in_", "abc", "'object.feature_names_in_' is 'abc'"),
        ("feature_names_in_", ["a", "b"], "a list of 3 texts"),
        ("n_features_in_", 2, "'object.n_features_in_' is 2"),
        ("intercept_is_scalar", "yes", "'object.intercept_is_scalar'"),
        ("params", {"fit_intercept": [[]]}, "'object.params.fit_intercept'"),
    ],
)
def test_estimator_fields_of_the_wrong_type_or_value_are_refused(
    run_capped, good, tmp_path, field, value, expect
):
    path = with_meta(
        good["LinearRegression"],
        tmp_path / "f.olsnet",
        lambda meta: meta["object"].__setitem__(field, value),
    )
    assert_refused(run_capped, tmp_path, path, "'metadata.json'", expect)


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("rank", float("inf"), "'object.state.rank' is inf"),
        ("nobs", -1, "'object.state.nobs' is -1"),
        ("fit_intercept", 1, "'object.state.fit_intercept' is 1"),
        ("feature_names", "abc", "'object.state.feature_names' is 'abc'"),
        ("target_names", ["y", "z"], "'object.state.target_names'"),
        ("sum_weights", float("nan"), "'object.state.sum_weights' is nan"),
        ("optimality", {"loss": [1]}, "'object.state.optimality.loss'"),
        ("kind", "os.system", "'object.state.kind'"),
        ("version", 10**19, "'object.state.version'"),
    ],
)
def test_result_state_fields_are_checked(run_capped, good, tmp_path, field, value, expect):
    path = with_meta(
        good["RegressionResult"],
        tmp_path / "r.olsnet",
        lambda meta: meta["object"]["state"].__setitem__(field, value),
    )
    assert_refused(run_capped, tmp_path, path, "'metadata.json'", expect)


def test_affine_feature_names_as_a_string_are_refused(run_capped, good, tmp_path):
    path = with_meta(
        good["Affine"],
        tmp_path / "abc.olsnet",
        lambda meta: meta["object"].__setitem__("feature_names", "abc"),
    )
    assert_refused(run_capped, tmp_path, path, "'object.feature_names' is 'abc'", "3 texts")


def test_metadata_nested_200000_levels_is_refused_without_recursion(run_capped, good, tmp_path):
    content = members(good["Affine"])
    meta = content["metadata.json"].decode()
    deep = "[" * 200_000 + "]" * 200_000
    content["metadata.json"] = meta.replace('"certificate": null', f'"certificate": {deep}')
    path = write(tmp_path / "deep.olsnet", content)
    message = assert_refused(run_capped, tmp_path, path, "'metadata.json'", "nests more than")
    assert "Recursion" not in message


def test_a_5000_digit_version_number_is_refused(run_capped, good, tmp_path):
    content = members(good["Affine"])
    meta = content["metadata.json"].decode()
    content["metadata.json"] = meta.replace(
        '"format_version": 1', '"format_version": ' + "9" * 5000
    )
    path = write(tmp_path / "digits.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'metadata.json'", "5000 digits")


def test_coef_disagreeing_with_the_result_params_is_refused(run_capped, good, tmp_path):
    content = members(good["LinearRegression"])
    coef = np.load(io.BytesIO(content["arrays/coef_.npy"]))
    content["arrays/coef_.npy"] = npy(coef + 1.0)
    path = write(tmp_path / "coef.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'arrays/coef_.npy'", "'arrays/result.params.npy'")
    content = members(good["LinearRegression"])
    content["arrays/intercept_.npy"] = npy(np.array([42.0]))
    path = write(tmp_path / "intercept.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'arrays/intercept_.npy'")


def test_rank_disagreeing_with_the_aliased_flags_is_refused(run_capped, good, tmp_path):
    content = members(good["RegressionResult"])
    content["arrays/result.aliased.npy"] = npy(np.array([0, 0, 1, 0], dtype=np.uint8))
    path = write(tmp_path / "alias.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'object.state.rank'", "aliased")
    content["arrays/result.aliased.npy"] = npy(np.array([0, 0, 7, 0], dtype=np.uint8))
    path = write(tmp_path / "alias7.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'arrays/result.aliased.npy'", "0 and 1")


# ---- the rest of the kind -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        (b'{"format": "olsnet-archive", "format": "x"}', "appears twice"),
        (b"[1, 2]", "not an object"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b'{"format": "olsnet-archive", "format_version": 1e400}', "format_version"),
    ],
)
def test_metadata_that_is_not_a_plain_object_is_refused(run_capped, good, tmp_path, raw, expect):
    content = members(good["Affine"])
    content["metadata.json"] = raw
    path = write(tmp_path / "meta.olsnet", content)
    assert_refused(run_capped, tmp_path, path, "'metadata.json'", expect)


@pytest.mark.parametrize(
    ("entry", "expect"),
    [
        ({"member": "arrays/weight.npy", "shape": [2, -3], "dtype": "<f8"}, "shape"),
        ({"member": "arrays/weight.npy", "shape": [2, 3.0], "dtype": "<f8"}, "shape"),
        ({"member": "arrays/weight.npy", "shape": [2, True], "dtype": "<f8"}, "shape"),
        ({"member": "arrays/weight.npy", "shape": [1] * 40, "dtype": "<f8"}, "shape"),
        ({"member": "arrays/weight.npy", "shape": [2, 3], "dtype": "|O"}, "dtype"),
        ({"member": "../../etc/passwd", "shape": [2, 3], "dtype": "<f8"}, "member"),
        ("weight", "'arrays.weight'"),
    ],
)
def test_malformed_manifest_entries_are_refused(run_capped, good, tmp_path, entry, expect):
    path = with_meta(
        good["Affine"],
        tmp_path / "manifest.olsnet",
        lambda meta: meta["arrays"].__setitem__("weight", entry),
    )
    assert_refused(run_capped, tmp_path, path, "'metadata.json'", expect)


def test_a_zip_directory_listing_too_many_members_is_refused(run_capped, good, tmp_path):
    data = bytearray(good["Affine"].read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 65_001, 65_001)
    path = tmp_path / "many.olsnet"
    path.write_bytes(bytes(data))
    assert_refused(run_capped, tmp_path, path, "65001 members")


def test_an_object_array_never_unpickles(run_capped, good, tmp_path, marker):
    class Payload:  # pickles as builtins.open(marker, "w"): creates the marker if unpickled
        def __reduce__(self):
            return (open, marker.call[1])

    content = members(good["Affine"])
    buf = io.BytesIO()
    np.save(buf, np.array([[Payload()] * 3] * 2, dtype=object), allow_pickle=True)
    content["arrays/weight.npy"] = buf.getvalue()
    assert pickle.dumps(Payload()).count(b"open") == 1
    path = write(tmp_path / "pickle.olsnet", content)
    run = load_in_child(run_capped, path)
    run.assert_error("FormatError", "'arrays/weight.npy'", "Python objects")
    marker.assert_absent(run)


# ---- item 7: networks declaring more than they store ----------------------------------------


def network_archive(tmp_path: Path, n_features: int, hidden: list[int], stored: bool) -> Path:
    """A LinearNetwork archive declaring ``n_features`` -> ``hidden`` -> 1; its arrays are
    tiny (``stored=False``) or declared at full size without the bytes (``stored=True``)."""
    widths = [n_features, *hidden, 1]
    arrays, content = {}, {}
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        for key, shape in ((f"{i}.weight", (b, a)), (f"{i}.bias", (b,))):
            shape = shape if stored else (1,) * len(shape)
            arrays[f"state.{key}"] = {
                "member": f"arrays/state.{key}.npy",
                "shape": list(shape),
                "dtype": "<f8",
            }
            content[f"arrays/state.{key}.npy"] = (
                npy_header(shape) if stored else npy(np.zeros(shape))
            )
    meta = {
        "format": "olsnet-archive",
        "format_version": 1,
        "kind": "LinearNetwork",
        "olsnet_version": olsnet.__version__,
        "object": {
            "n_features": n_features,
            "n_outputs": 1,
            "hidden": hidden,
            "bias": True,
            "dtype": "float64",
            "feature_names": None,
            "target_names": None,
            "state_keys": [k[len("state.") :] for k in arrays],
        },
        "arrays": arrays,
    }
    return write(tmp_path / "net.olsnet", {"metadata.json": json.dumps(meta), **content})


def test_a_network_declaring_30000_by_30000_with_tiny_arrays_allocates_nothing(
    run_capped, tmp_path
):
    path = network_archive(tmp_path, 30_000, [30_000], stored=False)
    run = load_in_child(run_capped, path)
    run.assert_error("FormatError", "'arrays.state.0.weight.shape' is [1, 1]", "[30000, 30000]")
    assert run.peak_mb < 200


def test_a_network_declaring_30000_by_30000_arrays_is_checked_against_the_budget(
    run_capped, tmp_path
):
    path = network_archive(tmp_path, 30_000, [30_000], stored=True)
    run = run_capped(f"import olsnet\nolsnet.load({str(path)!r}, max_bytes=2**30)")
    run.assert_error("FormatError", "need 7200480008 bytes", "max_bytes=1073741824")
    # within the default budget (8 GiB), the file still has to hold the bytes it declares
    run = load_in_child(run_capped, path)
    run.assert_error("FormatError", "'arrays/state.0.weight.npy'", "implies 7200000128")
    assert run.peak_mb < 200


def test_a_network_with_wrong_state_keys_or_dtype_is_refused(run_capped, tmp_path):
    path = network_archive(tmp_path, 3, [2], stored=True)
    content = members(path)
    meta = json.loads(content["metadata.json"])
    meta["object"]["dtype"] = "int64"
    path = write(tmp_path / "dtype.olsnet", {**content, "metadata.json": json.dumps(meta)})
    assert_refused(run_capped, tmp_path, path, "'object.dtype' is 'int64'")
    meta["object"]["dtype"] = "float64"
    meta["object"]["state_keys"] = ["0.weight"]
    path = write(tmp_path / "keys.olsnet", {**content, "metadata.json": json.dumps(meta)})
    assert_refused(run_capped, tmp_path, path, "'object.state_keys'")
    meta["object"]["state_keys"] = ["0.weight", "0.bias", "1.weight", "1.bias"]
    meta["object"]["hidden"] = [2, "__import__('os')"]
    path = write(tmp_path / "hidden.olsnet", {**content, "metadata.json": json.dumps(meta)})
    assert_refused(run_capped, tmp_path, path, "'object.hidden'")


def test_good_archives_still_load_in_a_capped_child(run_capped, good):
    for path in good.values():
        run = load_in_child(run_capped, path)
        run.assert_ok()
        assert run.stdout.strip() == "loaded"


# ---- the whole kind: every field, every hostile value ---------------------------------------

FUZZ = r"""
import io, json, random, sys, zipfile
import numpy as np
import olsnet
from olsnet.errors import FormatError

HOSTILE = [None, True, -1, 2**62, float("inf"), float("nan"), "x", [], {"a": 1}, [[[]]]]

def leaves(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, path + (i,))

def replaced(obj, path, value):
    obj = json.loads(json.dumps(obj))
    if not path:
        return value
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj

rng = np.random.default_rng(5)
X = rng.standard_normal((30, 3)); X[:, 2] = X[:, 0] + X[:, 1]
y = X[:, 0] + rng.standard_normal(30)
import warnings; warnings.simplefilter("ignore")
objects = {
    "lr": olsnet.LinearRegression().fit(X, y),
    "lr2": olsnet.LinearRegression(fit_intercept=False).fit(X, np.c_[y, -y]),
    "aff": olsnet.Affine(np.ones((2, 3)), np.zeros(2), feature_names=["a", "b", "c"]),
}
objects["res"] = objects["lr"].result_
bad, n = [], 0
for label, obj in objects.items():
    buf = io.BytesIO()
    path = f"{label}.olsnet"
    olsnet.save(obj, path)
    with zipfile.ZipFile(path) as zf:
        members = {m: zf.read(m) for m in zf.namelist()}
    meta = json.loads(members["metadata.json"])
    for where in list(leaves(meta)):
        for value in HOSTILE:
            changed = replaced(meta, where, value)
            with zipfile.ZipFile("m.olsnet", "w") as zf:
                for m, data in members.items():
                    zf.writestr(m, json.dumps(changed) if m == "metadata.json" else data)
            n += 1
            try:
                olsnet.load("m.olsnet")
            except FormatError:
                pass
            except Exception as e:
                bad.append(f"{label} {where} = {value!r}: {type(e).__name__}: {e}"[:300])
    raw = open(path, "rb").read()
    for _ in range(60):  # random byte changes anywhere in the file
        data = bytearray(raw)
        for at in rng.integers(0, len(data), size=rng.integers(1, 4)):
            data[at] = int(rng.integers(0, 256))
        open("m.olsnet", "wb").write(bytes(data))
        n += 1
        try:
            olsnet.load("m.olsnet")
        except FormatError:
            pass
        except Exception as e:
            bad.append(f"{label} bytes: {type(e).__name__}: {e}"[:300])
print(n)
print("\n".join(bad))
"""


@pytest.mark.slow
def test_every_field_of_every_kind_with_hostile_values_gives_format_error_or_loads(run_capped):
    run = run_capped(FUZZ, timeout_s=120)
    run.assert_ok()
    count, *bad = run.stdout.strip().splitlines()
    assert int(count) > 1000
    assert not bad, "\n".join(bad[:20])
