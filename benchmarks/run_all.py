"""Run every benchmark script and collect their sections into BENCHMARKS.md.

    python benchmarks/run_all.py [--quick] [--only core,networks,...]

Each ``benchmarks/bench_<topic>.py`` writes ``benchmarks/results/<topic>.md``; this script
runs them one after the other (never in parallel: they time things) and concatenates the
sections, so BENCHMARKS.md always shows the latest output of the scripts in the repo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["core", "networks", "onnx", "cli", "cli_train", "scale"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated topics to rerun")
    ap.add_argument("--collect", action="store_true", help="only rebuild BENCHMARKS.md")
    args = ap.parse_args()
    scripts = {p.stem.removeprefix("bench_"): p for p in HERE.glob("bench_*.py")}
    topics = sorted(scripts, key=lambda t: (ORDER.index(t) if t in ORDER else 99, t))
    chosen = [t for t in topics if not args.only or t in args.only.split(",")]
    failed = []
    for topic in [] if args.collect else chosen:
        cmd = [sys.executable, str(scripts[topic])] + (["--quick"] if args.quick else [])
        print(f"== {' '.join(cmd)}", flush=True)
        if subprocess.run(cmd, cwd=HERE.parent).returncode != 0:
            failed.append(topic)
    sections = [(HERE / "results" / f"{t}.md") for t in topics]
    body = "\n\n".join(p.read_text().strip() for p in sections if p.exists())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (HERE.parent / "BENCHMARKS.md").write_text(
        "# olsnet benchmarks\n\n"
        f"Written by `python benchmarks/run_all.py` (`make bench`); last collected {stamp}. "
        "Each section names the script that produced it; numbers within a section come from "
        "one run, side by side. The machine is shared and noisy: compare the ratios.\n\n"
        + body
        + "\n"
    )
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
