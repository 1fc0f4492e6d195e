"""Fixtures for the scale tests."""

from __future__ import annotations

import pytest
from _scale_data import make_regression


@pytest.fixture(scope="module")
def data():
    return make_regression(3000, 4, seed=11)
