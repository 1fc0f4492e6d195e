"""Student's t and F tail probabilities from ``scipy.special`` (what ``scipy.stats`` calls).

``scipy.stats`` takes about a second to import; these are the same special functions its
``t.sf``, ``t.isf`` and ``f.sf`` evaluate, so the numbers are identical and importing olsnet's
inference stays cheap (it matters for the command line).
"""

from __future__ import annotations

import numpy as np

__all__ = ["f_sf", "t_isf", "t_sf"]


def t_sf(x: np.ndarray, df: float) -> np.ndarray:
    """``P(T > x)`` for Student's t with ``df`` degrees of freedom (``stdtr(df, -x)``)."""
    import scipy.special as sp  # imported on first use: rendering needs it, importing does not

    return sp.stdtr(df, -np.asarray(x, dtype=np.float64))


def t_isf(q: float, df: float) -> float:
    """``x`` with ``P(T > x) = q`` (``-stdtrit(df, q)``)."""
    import scipy.special as sp

    return float(-sp.stdtrit(df, q))


def f_sf(x: np.ndarray, dfn: float, dfd: float) -> np.ndarray:
    """``P(F > x)`` for the F distribution with (``dfn``, ``dfd``) degrees of freedom."""
    import scipy.special as sp

    return sp.fdtrc(dfn, dfd, np.asarray(x, dtype=np.float64))
