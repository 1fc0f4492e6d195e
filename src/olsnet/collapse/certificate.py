"""The numerical certificate of a collapsed map: how far it is from the model on probe inputs."""

from __future__ import annotations

import numpy as np

from ..affine import Certificate
from ..errors import NotAffineError

# largest accepted relative difference, by the dtype the model was evaluated in
TOLERANCES = {"float64": 1e-10, "float32": 1e-4, "float16": 1e-2, "bfloat16": 1e-2}


def tolerance_for(dtype_name: str) -> float:
    return TOLERANCES.get(dtype_name.replace("torch.", ""), 1e-2)


def certify(y_model: np.ndarray, y_map: np.ndarray, *, dtype_name: str, source: str) -> Certificate:
    """Compare model and map outputs (n_probes, q); raise NotAffineError if beyond tolerance.

    Notes
    -----
    ``max_rel_diff = max |y_model - y_map| / max |y_model|``: relative to the largest output,
    so a single output that happens to be zero does not blow it up.
    """
    y_model = np.asarray(y_model, dtype=np.float64).reshape(len(y_model), -1)
    y_map = np.asarray(y_map, dtype=np.float64).reshape(len(y_map), -1)
    if y_model.shape != y_map.shape:
        raise NotAffineError(
            f"{source}: the model gives outputs of shape {y_model.shape}, the "
            f"collapsed map {y_map.shape}"
        )
    max_abs = float(np.max(np.abs(y_model - y_map))) if y_model.size else 0.0
    scale = float(np.max(np.abs(y_model))) if y_model.size else 0.0
    max_rel = max_abs / scale if scale > 0 else max_abs
    if not np.isfinite(max_rel):
        max_rel = float("inf")
    cert = Certificate(
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        n_probes=len(y_model),
        tolerance=tolerance_for(dtype_name),
        source=source,
    )
    if not cert.passed:
        raise NotAffineError(
            f"{source}: the collapsed map does not reproduce the model ({cert}). The graph holds an "
            "operation whose effect the trace does not show (randomness, in-place updates, state). "
            "Fix: make the forward pass deterministic and free of side effects."
        )
    return cert
