"""save / load round trips, and crafted files that load must refuse without executing them."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import olsnet
from olsnet.errors import FormatError, InputTypeError
from olsnet.io.archive import load, save


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(60)
    return olsnet.LinearRegression(cov_type="HC1").fit(X, y), X


def test_linear_regression_round_trip(fitted, tmp_path):
    model, X = fitted
    save(model, tmp_path / "m.olsnet")
    back = load(tmp_path / "m.olsnet")
    assert back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(back.result_.bse, model.result_.bse)
    assert back.result_.cov_type == "HC1" and back.intercept_ == model.intercept_


def test_regression_result_round_trip(fitted, tmp_path):
    result = fitted[0].result_
    save(result, tmp_path / "r.olsnet")
    back = load(tmp_path / "r.olsnet")
    for name in ("params", "bse", "pvalues", "rsquared", "fvalue"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))


def test_affine_round_trip_keeps_names_and_certificate(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double().eval()
    affine = olsnet.collapse(net).with_names(["a", "b", "c"], ["u", "v"])
    save(affine, tmp_path / "a.olsnet")
    back = load(tmp_path / "a.olsnet")
    assert back.allclose(affine, rtol=0, atol=0)
    assert back.feature_names == ("a", "b", "c") and back.certificate == affine.certificate


def test_linear_network_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    net = olsnet.LinearNetwork(3, 2, hidden=(4, 5), seed=3, feature_names=["p", "q", "r"])
    save(net, tmp_path / "n.olsnet")
    back = load(tmp_path / "n.olsnet")
    assert isinstance(back, olsnet.LinearNetwork) and back.hidden == (4, 5)
    X = torch.randn(7, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(back(X), net(X), rtol=0, atol=0)
    assert back.feature_names == ("p", "q", "r")


def test_save_is_atomic_and_refuses_unknown_objects(tmp_path):
    path = tmp_path / "keep.olsnet"
    save(olsnet.Affine(np.eye(2), np.ones(2)), path)
    before = path.read_bytes()
    with pytest.raises(InputTypeError, match="dict"):
        save({"weight": 1}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.olsnet"]  # no temporary file left behind


# ---- crafted files ----------------------------------------------------------------------------


def members_of(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.fixture()
def good(tmp_path):
    path = tmp_path / "good.olsnet"
    save(olsnet.Affine(np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0])), path)
    return path


class Payload:
    """Unpickling this would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_member_is_refused_and_never_run(good, tmp_path):
    marker = tmp_path / "pwned"
    members = members_of(good)
    members["arrays/weight.npy"] = pickle.dumps(Payload(str(marker)))
    write_members(tmp_path / "pickle1.olsnet", members)
    with pytest.raises(FormatError, match=r"'arrays/weight\.npy'"):
        load(tmp_path / "pickle1.olsnet")
    # an object array in .npy form: np.save pickles it, load must not
    buf = io.BytesIO()
    np.save(buf, np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    members["arrays/weight.npy"] = buf.getvalue()
    write_members(tmp_path / "pickle2.olsnet", members)
    with pytest.raises(FormatError, match="Python objects"):
        load(tmp_path / "pickle2.olsnet")
    assert not marker.exists()


def test_extra_member_is_refused(good, tmp_path):
    members = members_of(good)
    members["model.pkl"] = pickle.dumps({"a": 1})
    write_members(tmp_path / "extra.olsnet", members)
    with pytest.raises(FormatError, match=r"unknown member\(s\) \['model.pkl'\]"):
        load(tmp_path / "extra.olsnet")


def test_truncated_file_is_refused(good, tmp_path):
    data = good.read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        (tmp_path / "cut.olsnet").write_bytes(data[:cut])
        with pytest.raises(FormatError, match=r"cut\.olsnet"):
            load(tmp_path / "cut.olsnet")


def test_arrays_disagreeing_with_metadata_are_refused(good, tmp_path):
    members = members_of(good)
    meta = json.loads(members["metadata.json"])
    meta["arrays"]["weight"]["shape"] = [3, 2]  # a (3, 2) map: the bias must be (3,)
    meta["arrays"]["bias"]["shape"] = [3]
    write_members(tmp_path / "shape.olsnet", {**members, "metadata.json": json.dumps(meta)})
    with pytest.raises(FormatError, match=r"'arrays/weight.npy' has shape \[2, 3\]"):
        load(tmp_path / "shape.olsnet")
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 3), dtype=np.float32))
    write_members(tmp_path / "dtype.olsnet", {**members, "arrays/weight.npy": buf.getvalue()})
    with pytest.raises(FormatError, match="dtype <f4"):
        load(tmp_path / "dtype.olsnet")


def test_oversized_compressed_and_missing_members_are_refused(good, tmp_path):
    members = members_of(good)
    members["arrays/bias.npy"] += b"\0" * 10**6  # more bytes than the manifest allows
    write_members(tmp_path / "big.olsnet", members)
    with pytest.raises(FormatError, match=r"'arrays/bias\.npy' declares"):
        load(tmp_path / "big.olsnet")
    write_members(tmp_path / "zip.olsnet", members_of(good), zipfile.ZIP_DEFLATED)
    with pytest.raises(FormatError, match="compressed"):
        load(tmp_path / "zip.olsnet")
    members = members_of(good)
    del members["arrays/bias.npy"]
    write_members(tmp_path / "missing.olsnet", members)
    with pytest.raises(FormatError, match=r"\['arrays/bias.npy'\].*missing"):
        load(tmp_path / "missing.olsnet")


def test_wrong_format_or_version_is_refused(good, tmp_path):
    members = members_of(good)
    for key, value, match in (
        ("format_version", 2, "version 2"),
        ("format", "other", "'other'"),
        ("kind", "Evil", "'Evil'"),
    ):
        meta = json.loads(members["metadata.json"])
        meta[key] = value
        write_members(tmp_path / "v.olsnet", {**members, "metadata.json": json.dumps(meta)})
        with pytest.raises(FormatError, match=match):
            load(tmp_path / "v.olsnet")
    (tmp_path / "text.olsnet").write_text("not a zip")
    with pytest.raises(FormatError, match="not a complete ZIP"):
        load(tmp_path / "text.olsnet")
