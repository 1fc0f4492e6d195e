"""The exact least-squares core: QR state, rank decision, refinement, and the accuracy policy."""

from ._exact import exact_lstsq, refine_augmented
from ._fold import fold_arrays
from ._kernels import qr_r
from ._policy import EXACT_MAX_ELEMENTS, lstsq, qr_state
from ._pool import fold_blocks, n_workers
from ._residuals import ResidualPass, leverage, residual_pass
from ._solution import ALIAS_TOL, LstsqSolution, decide_rank, solve_state
from ._state import QRState, augmented_block

__all__ = [
    "ALIAS_TOL",
    "EXACT_MAX_ELEMENTS",
    "LstsqSolution",
    "QRState",
    "ResidualPass",
    "augmented_block",
    "decide_rank",
    "exact_lstsq",
    "fold_arrays",
    "fold_blocks",
    "leverage",
    "lstsq",
    "n_workers",
    "qr_r",
    "qr_state",
    "refine_augmented",
    "residual_pass",
    "solve_state",
]
