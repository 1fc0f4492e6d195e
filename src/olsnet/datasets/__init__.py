"""Small real datasets shipped with olsnet, read without pandas.

``load_longley()`` returns the Longley (1967) macroeconomic data: 16 years (1947-1962) of US
employment and six predictors, public domain (see ``datasets/README.md`` for source and licence).

Examples
--------
>>> from olsnet.datasets import load_longley
>>> data = load_longley()
>>> data.X.shape, data.y.shape
((16, 6), (16,))
>>> data.feature_names[:3]
('GNPDEFL', 'GNP', 'UNEMP')
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..errors import DataFileError

__all__ = ["Dataset", "load_longley"]

# NIST's certified OLS estimates for Longley (B0, the intercept, first), as printed in the header
# of Longley.dat (15 significant digits; the test suite checks them against NIST's file)
_LONGLEY_CERTIFIED = (
    -3482258.63459582,
    15.0618722713733,
    -0.358191792925910e-01,
    -2.02022980381683,
    -1.03322686717359,
    -0.511041056535807e-01,
    1829.15146461355,
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A shipped dataset: read-only arrays and the names of their columns.

    X : ndarray of shape (n_samples, n_features), float64, read-only.
    y : ndarray of shape (n_samples,), float64, read-only.
    feature_names : tuple of str, one per column of ``X``.
    target_name : str, the name of ``y``.
    title, source, licence : str, where the data come from and on what terms.
    certified_params : ndarray of shape (n_features + 1,) or None
        Certified least-squares coefficients (intercept first) where a reference body
        publishes them (NIST StRD for Longley).
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    title: str
    source: str
    licence: str
    certified_params: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def columns(self) -> tuple[str, ...]:
        """All column names, target first, as in the CSV file."""
        return (self.target_name, *self.feature_names)

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{column name: (n_samples,) array}``, target first; ``pandas.DataFrame(d)`` takes it."""
        out = {self.target_name: self.y}
        out.update({name: self.X[:, j] for j, name in enumerate(self.feature_names)})
        return out


def _read_csv(filename: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Header and (n, m) float64 body of a numeric CSV file in this package."""
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader))
    rows = []
    for line, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise DataFileError(
                f"{filename}, line {line}: {len(row)} fields where the header has {len(header)}; "
                "the packaged file is damaged, reinstall olsnet"
            )
        rows.append([float(v) for v in row])
    return header, np.array(rows, dtype=np.float64)  # (n, m)


def load_longley() -> Dataset:
    """The Longley (1967) data: US employment 1947-1962 and six highly collinear predictors.

    Returns
    -------
    Dataset
        ``X`` of shape (16, 6) with columns GNPDEFL (GNP implicit price deflator, 1954 = 100),
        GNP (gross national product), UNEMP (number unemployed), ARMED (size of the armed
        forces), POP (non-institutional population aged 14 and over), YEAR (1947-1962);
        ``y`` of shape (16,) is TOTEMP (total employment).

    Notes
    -----
    The values are those of NIST's Statistical Reference Dataset ``Longley.dat`` (the
    "Higher difficulty" linear least-squares problem), whose certified OLS estimates an exact
    fit reproduces. The design is famously ill-conditioned: the 2-norm condition number of
    ``[1 X]`` is about 5e9, so plain gradient descent on the raw columns barely moves, while
    an exact solver and a standardized network both reach the certified coefficients.

    References
    ----------
    Longley, J. W. (1967). An appraisal of least squares programs for the electronic computer
    from the point of view of the user. *Journal of the American Statistical Association*,
    62(319), 819-841.
    NIST/ITL Statistical Reference Datasets, https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml
    """
    header, body = _read_csv("longley.csv")
    y = body[:, 0].copy()  # (16,)
    X = body[:, 1:].copy()  # (16, 6)
    certified = np.array(_LONGLEY_CERTIFIED)  # (7,)
    for a in (X, y, certified):
        a.setflags(write=False)
    return Dataset(
        X=X,
        y=y,
        feature_names=header[1:],
        target_name=header[0],
        title="Longley (1967) US macroeconomic data, 1947-1962",
        source="NIST/ITL StRD Longley.dat, https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml",
        licence="public domain (US government reference data)",
        certified_params=certified,
    )
