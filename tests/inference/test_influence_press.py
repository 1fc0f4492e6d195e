"""The rest of statsmodels' OLSInfluence a user reaches for: PRESS residuals, leave-one-out
variance, residual SDs, COVRATIO and unscaled DFBETA, against statsmodels on grunfeld and one
DFBETA row against exact rational arithmetic (statsmodels itself is 7.6e-10 off there)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import olsnet

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def pair():
    d = pd.read_csv(REF / "grunfeld.csv")
    ours = olsnet.ols("invest ~ value + capital", d).get_influence()
    theirs = smf.ols("invest ~ value + capital", d).fit().get_influence()
    return d, ours, theirs


@pytest.mark.parametrize(
    "name", ["resid_press", "ess_press", "sigma2_not_obsi", "resid_std", "cov_ratio", "dfbeta"]
)
def test_matches_statsmodels(pair, name) -> None:
    _, ours, theirs = pair
    got, ref = np.asarray(getattr(ours, name)), np.asarray(getattr(theirs, name))
    assert got.shape == ref.shape
    # dfbeta: statsmodels loses digits where B xᵢ cancels (see the exact test below)
    atol = 1e-9 * float(np.abs(ref).max()) if name == "dfbeta" else 0.0
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=atol)


def test_dfbeta_exact_where_it_cancels(pair) -> None:
    d, ours, _ = pair
    i, j = 147, 1  # B xᵢ for 'value' is 1e-7 of its terms here
    A = [[Fraction(1), Fraction(float(a)), Fraction(float(b))]
         for a, b in d[["value", "capital"]].to_numpy()]  # fmt: skip
    Y = [Fraction(float(v)) for v in d["invest"]]
    G = [[sum(r[a] * r[b] for r in A) for b in range(3)] for a in range(3)]

    # B = G⁻¹ by Cramer's rule (3 x 3)
    def det(M):
        return (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1])
                - M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0])
                + M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]))  # fmt: skip

    D = det(G)
    B = [[det([[G[r][c] if c != a else int(r == b) for c in range(3)] for r in range(3)]) / D
          for b in range(3)] for a in range(3)]  # fmt: skip
    Aty = [sum(A[t][a] * Y[t] for t in range(len(Y))) for a in range(3)]
    beta = [sum(B[a][b] * Aty[b] for b in range(3)) for a in range(3)]
    e = Y[i] - sum(A[i][a] * beta[a] for a in range(3))
    Bx = [sum(B[a][b] * A[i][b] for b in range(3)) for a in range(3)]
    h = sum(A[i][a] * Bx[a] for a in range(3))
    assert ours.dfbeta[i, j] == pytest.approx(float(Bx[j] * e / (1 - h)), rel=1e-12)
