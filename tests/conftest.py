"""Shared fixtures: the NIST StRD reference files (copied byte for byte into tests/data/nist)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Reproducible property tests: the same examples on every machine and every run (CI included).
settings.register_profile("olsnet", derandomize=True)
settings.load_profile("olsnet")

NIST_DIR = Path(__file__).parent / "data" / "nist"


@pytest.fixture(scope="session")
def nist_dir() -> Path:
    return NIST_DIR
