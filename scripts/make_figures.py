"""Write the README's figures, docs/figures/{network,training,diagnostics}.png, from the demo.

Usage: python scripts/make_figures.py [--outdir docs/figures]

The figures are exactly those of ``olsnet demo`` (Longley data, full mode), so the README shows
what a new user sees after ``make demo``.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from rich.console import Console

from olsnet.demo import run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=ROOT / "docs" / "figures")
    args = parser.parse_args()
    result = run(args.outdir, console=Console(file=io.StringIO()))  # the story is not needed here
    for name, path in result["figures"].items():
        size = Path(path).stat().st_size
        print(f"{name:<12} {path} ({size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
