"""The exact least-squares core: QR state, rank decision, refinement, and the accuracy policy."""

from ._exact import exact_lstsq, refine_augmented
from ._solution import ALIAS_TOL, LstsqSolution, decide_rank, solve_state
from ._state import QRState, augmented_block, qr_r

__all__ = [
    "ALIAS_TOL",
    "LstsqSolution",
    "QRState",
    "augmented_block",
    "decide_rank",
    "exact_lstsq",
    "qr_r",
    "refine_augmented",
    "solve_state",
]
