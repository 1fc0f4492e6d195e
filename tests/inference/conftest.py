"""Fixtures for tests/inference (helpers live in inference_helpers.py)."""

from __future__ import annotations

import pytest
from inference_helpers import DATASETS


@pytest.fixture(params=sorted(DATASETS))
def dataset(request):
    """(name, X frame, y series) of each real dataset."""
    X, y = DATASETS[request.param]()
    return request.param, X, y
