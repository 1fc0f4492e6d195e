"""What a small fit does to the rest of the machine (issue 14 item 1, the busy-machine ratio):
CPU time of the process's other threads (OpenBLAS workers woken by a call, which then spin),
page faults and context switches per fit, olsnet beside statsmodels and scikit-learn.

    python benchmarks/bench_small_threads.py [--fits N]

Linux only (reads ``/proc/self/task/*/schedstat``: nanoseconds each thread ran). A fit whose
other-thread time is 0 runs on its calling thread alone: on a busy machine it then competes for
one CPU share only, and its slowdown is the scheduler's (``bench_speed.py --part busy``).
Writes ``benchmarks/results/small-threads.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time

import _common  # first: unsets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in this process only
from bench_speed import SMALL, _small_fns


def _thread_ns() -> dict[int, int]:
    """Nanoseconds on a CPU of every thread of this process (``schedstat``'s first field)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0])
        except OSError:  # the thread ended meanwhile
            pass
    return out


def measure(fn, fits: int) -> tuple[float, float, float, float, float]:
    """Per fit: (wall ms, this thread's CPU ms, other threads' CPU ms, minor page faults,
    context switches of this thread)."""
    main = threading.get_native_id()
    fn()
    time.sleep(0.5)  # let BLAS threads woken by the previous library go back to sleep
    t0, u0 = _thread_ns(), resource.getrusage(resource.RUSAGE_THREAD)
    w0 = time.perf_counter()
    for _ in range(fits):
        fn()
    wall = time.perf_counter() - w0
    t1, u1 = _thread_ns(), resource.getrusage(resource.RUSAGE_THREAD)
    others = sum(ns - t0.get(tid, 0) for tid, ns in t1.items() if tid != main)
    return (
        wall / fits * 1e3,
        (t1[main] - t0[main]) / fits / 1e6,
        others / fits / 1e6,
        (u1.ru_minflt - u0.ru_minflt) / fits,
        (u1.ru_nvcsw - u0.ru_nvcsw + u1.ru_nivcsw - u0.ru_nivcsw) / fits,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=200, help="fits per case and library")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for n, p in SMALL:
        for name, fn in _small_fns(n, p).items():
            wall, cpu, others, faults, switches = measure(fn, args.fits)
            rows.append([f"({n:,} x {p})", name, wall, cpu, others, faults, switches])
    table = _common.markdown_table(
        [
            "case",
            "library",
            "wall ms / fit",
            "calling thread CPU ms",
            "other threads CPU ms",
            "minor page faults",
            "context switches",
        ],
        rows,
    )
    text = (
        f"Command: `python benchmarks/bench_small_threads.py --fits {args.fits}`; load average "
        f"when the run started: {load:.1f} on {os.cpu_count()} CPUs. Per fit, {args.fits} fits "
        "after a warm-up fit and half a second's rest.\n\n" + table
    )
    print(text)
    _common.write_section("small-threads", text)


if __name__ == "__main__":
    main()
