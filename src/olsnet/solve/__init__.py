"""The exact least-squares core: QR state, rank decision, refinement, and the accuracy policy."""

from ._exact import exact_lstsq, refine_augmented
from ._policy import EXACT_MAX_ELEMENTS, lstsq, qr_state
from ._solution import ALIAS_TOL, LstsqSolution, decide_rank, solve_state
from ._state import QRState, augmented_block, qr_r

__all__ = [
    "ALIAS_TOL",
    "EXACT_MAX_ELEMENTS",
    "LstsqSolution",
    "QRState",
    "augmented_block",
    "decide_rank",
    "exact_lstsq",
    "lstsq",
    "qr_r",
    "qr_state",
    "refine_augmented",
    "solve_state",
]
