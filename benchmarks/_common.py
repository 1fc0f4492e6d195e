"""Helpers shared by the benchmark scripts: a quiet BLAS, timing medians, markdown tables.

Import this module FIRST in a benchmark (before NumPy): it unsets OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE in the benchmark's own process, which some machines set for old OpenBLAS
builds and which slow a current NumPy. Tests and CI leave them alone.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

UNSET = [
    v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.pop(v, None) is not None
]

RESULTS = Path(__file__).parent / "results"


def environment_note() -> str:
    """One paragraph on where and how the numbers were measured."""
    import numpy as np

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, "
            f"{i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
    except Exception:  # pragma: no cover - threadpoolctl missing
        blas = "unknown"
    unset = ", ".join(UNSET) if UNSET else "none were set"
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}, BLAS: {blas}. "
        f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset in this process ({unset})."
    )


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(topic: str, text: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{topic}.md"
    path.write_text(text.rstrip() + "\n")
    return path
