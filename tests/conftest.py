"""Shared fixtures: the NIST StRD reference files (copied byte for byte into tests/data/nist)."""

from __future__ import annotations

from pathlib import Path

import pytest

NIST_DIR = Path(__file__).parent / "data" / "nist"


@pytest.fixture(scope="session")
def nist_dir() -> Path:
    return NIST_DIR
