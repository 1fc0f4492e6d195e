"""The streamed cluster pass holds per-cluster sums, not the data (issue 15).

``with_cov("cluster", groups="firm")`` on a Parquet fit reads the ``firm`` text column
alongside the features in the second pass and adds each row's score into its cluster's sum:
memory O(G r q), here 10,000 clusters x 4 x 1 floats (0.3 MB). Holding what a non-streamed
pass would hold costs on top, for ROWS = 3,000,000:

* the labels as a NumPy text/object column:   >= ROWS * 8      =  24 MB (object: + the strings)
* the labels' codes (int64) and the rows' Q:  ROWS * (1 + 4) * 8 = 120 MB
* the file as float64:                        ROWS * 4 * 8      =  96 MB

Each measurement is a fresh child process (peak RSS = VmHWM at its end) fitting and
clustering one file. The peak may not grow with the rows: the file of ROWS rows peaks within
MARGIN_MB of the file of its first ROWS / 4 rows (same clusters, same row groups), where
holding any of the above would add at least 3/4 of it (90 MB for Q and the codes). The peak is
not compared with the fit alone: reading a text column the fit does not read costs pyarrow's
Parquet reader and mimalloc 20 to 40 MB of slack, measured the same at 65k and 3M rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hostile_harness import child_json

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROWS = 3_000_000
COLS = 3
GROUPS = 10_000
GROUP = 65_536
MARGIN_MB = 40

pytestmark = pytest.mark.slow

CHILD = r"""
import json, sys
import numpy as np, olsnet
model = olsnet.LinearRegression().fit(olsnet.read(sys.argv[1], y="y", x=["x0", "x1", "x2"]))
out = {}
if sys.argv[2] == "1":
    out["bse"] = np.asarray(model.result_.with_cov("cluster", groups="firm").bse).tolist()
for line in open("/proc/self/status"):
    if line.startswith("VmHWM"):
        out["peak_mb"] = int(line.split()[1]) / 1024
print(json.dumps(out))
"""


def _write(path: Path, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(15)
    names = [f"x{j}" for j in range(COLS)] + ["y"]
    schema = pa.schema([(n, pa.float64()) for n in names] + [("firm", pa.string())])
    Xs, ys, gs = [], [], []
    with pq.ParquetWriter(path, schema) as w:
        for s in range(0, rows, GROUP):
            b = min(GROUP, rows - s)
            g = rng.integers(0, GROUPS, b)
            X = rng.standard_normal((b, COLS))
            y = 1.0 + X.sum(axis=1) + rng.standard_normal(b) + 0.3 * np.sin(g)  # cluster effect
            labels = np.char.add("firm-", g.astype(str))
            cols = [pa.array(X[:, j]) for j in range(COLS)] + [pa.array(y), pa.array(labels)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=GROUP)
            Xs.append(X)
            ys.append(y)
            gs.append(g)
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs)


def _child(path: Path, cluster: bool) -> dict:
    return child_json(CHILD, str(path), "1" if cluster else "0")


def test_streamed_cluster_peak_does_not_grow_with_rows(tmp_path: Path) -> None:
    import olsnet

    path, quarter = tmp_path / "rows.parquet", tmp_path / "quarter.parquet"
    X, y, g = _write(path, ROWS)
    _write(quarter, ROWS // 4)
    small = _child(quarter, cluster=True)
    clustered = _child(path, cluster=True)
    extra = clustered["peak_mb"] - small["peak_mb"]
    assert extra <= MARGIN_MB, (
        f"fit + cluster pass peak {clustered['peak_mb']:.0f} MB on {ROWS:,} rows, "
        f"{small['peak_mb']:.0f} MB on {ROWS // 4:,}: +{extra:.0f} MB > {MARGIN_MB} MB "
        "(the cluster pass holds something per row)"
    )
    ref = olsnet.LinearRegression().fit(X, y).result_.with_cov("cluster", groups=g).bse
    np.testing.assert_allclose(clustered["bse"], np.asarray(ref), rtol=1e-11, atol=0)
