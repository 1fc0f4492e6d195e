"""Reader for the NIST StRD linear least-squares reference files (tests and benchmarks).

Each file holds its certified values in a fixed header and the data after the last ``Data:``
line; see ``shared/data/nist/README.md``. ``lre`` is McCullough's log relative error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["NIST_NAMES", "NistCase", "lre", "read_nist"]

NIST_NAMES = (
    "Norris",
    "Pontius",
    "NoInt1",
    "NoInt2",
    "Filip",
    "Longley",
    "Wampler1",
    "Wampler2",
    "Wampler3",
    "Wampler4",
    "Wampler5",
)

_DEGREE = {
    "Pontius": 2,
    "Filip": 10,
    "Wampler1": 5,
    "Wampler2": 5,
    "Wampler3": 5,
    "Wampler4": 5,
    "Wampler5": 5,
}
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[Ee][-+]?\d+)?)"


@dataclass(frozen=True)
class NistCase:
    name: str
    X: np.ndarray  # (n, p) design without the constant (powers of x for the polynomials)
    y: np.ndarray  # (n,)
    fit_intercept: bool
    params: np.ndarray  # certified estimates, B0 first
    bse: np.ndarray  # certified standard deviations of the estimates
    resid_sd: float
    rsquared: float


def read_nist(path: str | Path) -> NistCase:
    """Parse one NIST StRD .dat file into its design and certified values."""
    path = Path(path)
    name = path.stem
    lines = path.read_text().splitlines()
    params, bse = [], []
    resid_sd = rsq = math.nan
    for line in lines[:60]:
        m = re.match(rf"\s*B\d+\s+{_NUM}\s+{_NUM}\s*$", line)
        if m:
            params.append(float(m.group(1)))
            bse.append(float(m.group(2)))
        m = re.match(rf"\s*(?:Residual\s+)?Standard Deviation\s+{_NUM}\s*$", line)
        if m:
            resid_sd = float(m.group(1))
        m = re.match(rf"\s*R-Squared\s+{_NUM}\s*$", line)
        if m:
            rsq = float(m.group(1))
    last = max(i for i, line in enumerate(lines) if line.strip().startswith("Data:"))
    data = np.array(
        [[float(v) for v in line.split()] for line in lines[last + 1 :] if line.strip()]
    )
    y, x = data[:, 0], data[:, 1:]
    degree = _DEGREE.get(name)
    X = np.column_stack([x[:, 0] ** k for k in range(1, degree + 1)]) if degree else x
    return NistCase(
        name, X, y, not name.startswith("NoInt"), np.array(params), np.array(bse), resid_sd, rsq
    )


def lre(estimate: float, certified: float, cap: float = 15.0) -> float:
    """Log relative error (McCullough 1998): digits of agreement, capped; absolute if c == 0."""
    if estimate == certified:
        return cap
    if not math.isfinite(estimate):
        return 0.0
    err = abs(estimate - certified) / (abs(certified) if certified != 0 else 1.0)
    return float(min(cap, max(0.0, -math.log10(err))))
