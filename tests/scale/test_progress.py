"""Progress of file passes: the bytes each batch reports are bytes of the files on disk, adding
up to their size on every pass (CSV, .csv.gz, Parquet; the formula's level pass, the fit),
and the rich bar shows bytes of the total, percent and time left.

Reference: os.path.getsize of the files the test wrote.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

import olsnet

pd = pytest.importorskip("pandas")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, rows: int, nbytes: int) -> None:
        self.calls.append((rows, nbytes))


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "y"])
    df["g"] = rng.choice(["a", "b", "c"], n)
    return df


def _passes(calls: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """(rows, bytes) of each pass, cut where the bytes reach ``size``."""
    out, rows, nbytes = [], 0, 0
    for r, b in calls:
        rows, nbytes = rows + r, nbytes + b
        if nbytes >= size:
            out.append((rows, nbytes))
            rows = nbytes = 0
    assert rows == 0 and nbytes == 0, "a pass ended short of the size on disk"
    return out


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "parquet"])
def test_every_pass_reports_the_size_on_disk(tmp_path: Path, kind: str) -> None:
    df = _frame(30_000)
    path = tmp_path / f"data.{kind}"
    if kind == "parquet":
        df.to_parquet(path, row_group_size=4096)
    elif kind == "csv.gz":
        path.write_bytes(gzip.compress(df.to_csv(index=False).encode()))
    else:
        df.to_csv(path, index=False)
    size = path.stat().st_size
    bar = Recorder()
    model = olsnet.LinearRegression(cov_type="HC3")
    model.fit(olsnet.read(path, y="y", x=["x1", "x2"], batch_rows=2000), on_batch=bar)
    passes = _passes(bar.calls, size)
    # the fit (twice when the Gram fold is refused and QR re-reads), then the HC3 pass
    assert len(passes) >= 2
    assert all(p == (30_000, size) for p in passes)
    assert len(bar.calls) >= 2 * len(passes)  # batch by batch, not once per pass


def test_formula_level_pass_and_drop_path_report_too(tmp_path: Path) -> None:
    df = _frame(20_000)
    df.loc[5, "x1"] = np.nan
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    size = path.stat().st_size
    levels = Recorder()
    src = olsnet.read(
        path, formula="y ~ x1 + C(g)", missing="drop", batch_rows=3000, on_batch=levels
    )
    assert _passes(levels.calls, size) == [(20_000, size)]
    fit = Recorder()
    olsnet.LinearRegression(fit_intercept=src.fit_intercept).fit(src, on_batch=fit)
    assert [b for _, b in _passes(fit.calls, size)] == [size]


def test_rich_bar_shows_bytes_of_total_percent_and_eta(tmp_path: Path) -> None:
    from rich.console import Console

    from olsnet.scale import RichProgress

    text = io.StringIO()
    console = Console(file=text, force_terminal=True, width=160, color_system=None)
    with RichProgress(console, disk_bytes=4_000_000) as bar:
        bar(1000, 1_000_000)
        bar(1000, 1_000_000)
        assert bar.bytes == 2_000_000 and bar.rows == 2000
        bar._progress.refresh()
        shown = text.getvalue()
        assert "2.0/4.0 MB" in shown and "50%" in shown and "ETA" in shown
        bar(2000, 2_000_000)  # the pass has read every byte: the next batch starts a new one
        bar(10, 100)
        assert (bar.rows, bar.bytes) == (10, 100)
