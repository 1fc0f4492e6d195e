"""Cluster labels as text are coded as ``np.unique`` codes them (hashing, not a sort of rows)."""

from __future__ import annotations

import numpy as np
import pytest

from olsnet.errors import DataError
from olsnet.inference._cluster import group_codes


@pytest.mark.parametrize("dtype", [object, str])
def test_text_labels_get_np_uniques_codes(dtype):
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 300, 5_000)
    g = np.array([f"firm-{i}é" if i % 7 else f"Z{i}" for i in ids], dtype=dtype)
    codes, n_groups = group_codes(g, g.size)
    levels, expected = np.unique(g.astype(str), return_inverse=True)
    assert n_groups == levels.size
    np.testing.assert_array_equal(codes, expected.reshape(-1))
    assert codes.dtype == np.int64


def test_mixed_object_labels_keep_their_text_order():
    g = np.array(["b", 10, "a", 2, "b", 10], dtype=object)
    codes, n_groups = group_codes(g, g.size)
    _, expected = np.unique(g.astype(str), return_inverse=True)
    np.testing.assert_array_equal(codes, expected.reshape(-1))
    assert n_groups == 4


def test_missing_text_label_names_the_row():
    g = np.array(["a", "b", None, "a"], dtype=object)
    with pytest.raises(DataError, match="row 2"):
        group_codes(g, g.size)
