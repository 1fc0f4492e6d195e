"""``--format html`` pages and ``olsnet report``, rendered by headless Chromium: the page is
drawn (a screenshot that is not blank) and every table cell sits in its own column."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from olsnet.cli import main

pytest.importorskip("pyarrow")
Image = pytest.importorskip("PIL.Image")

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]

# after load: for every table, each column's cells [left, right] and whether the column is
# right-aligned; written into the page, read back with --dump-dom
MEASURE = """
<script>
const out = [];
for (const table of document.querySelectorAll("table.olsnet-table")) {
  const cols = [];
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, j) => {
      const r = cell.getBoundingClientRect();
      const range = document.createRange(); range.selectNodeContents(cell);
      const t = range.getBoundingClientRect();
      (cols[j] = cols[j] || []).push([r.left, r.right, t.left, t.right,
                                      getComputedStyle(cell).textAlign]);
    });
  }
  out.push(cols);
}
document.body.setAttribute("data-measure", JSON.stringify(out));
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium on this machine (apt-get install chromium)")


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 3)) * [1.0, 250.0, 0.01]
    y = 2.0 + X @ [1.5, -0.004, 90.0] + rng.normal(size=80)
    rows = [",".join(f"{v:.17g}" for v in (*r, t)) for r, t in zip(X, y, strict=True)]
    path = tmp_path / "data.csv"
    path.write_text("price,sqft,rate,y\n" + "\n".join(rows) + "\n")
    return path


def _screenshot(chromium: str, page: Path, png: Path) -> Image.Image:
    subprocess.run(
        [chromium, *FLAGS, "--window-size=1100,1400", f"--screenshot={png}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    return Image.open(png).convert("L")


def _not_blank(img: Image.Image) -> None:
    pixels = np.asarray(img, dtype=np.float64)
    dark = (pixels < 128).mean()
    assert 0.002 < dark < 0.5, f"{dark:.4f} of the screenshot is dark"  # text, not empty


def _measure(chromium: str, page: Path, tmp_path: Path) -> list:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run(
        [chromium, *FLAGS, "--window-size=1100,1400", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    found = re.search(r'data-measure="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"'))


def _assert_columns(tables: list) -> None:
    assert tables, "no table on the page"
    for cols in tables:
        for j in range(len(cols) - 1):  # each column ends before the next begins
            right_j = max(c[1] for c in cols[j])
            left_next = min(c[0] for c in cols[j + 1])
            assert right_j <= left_next + 0.5, (j, right_j, left_next)
            text_right = max(c[3] for c in cols[j])
            text_left_next = min(c[2] for c in cols[j + 1])
            assert text_left_next - text_right >= 8, "columns run together"
        for col in cols:  # right-aligned numbers share their right edge
            if all(c[4] == "right" for c in col) and len(col) > 1:
                edges = [c[3] for c in col]
                assert max(edges) - min(edges) < 1.0, edges


def test_fit_html_is_a_standalone_page_laid_out_in_columns(chromium, data_csv, tmp_path, capsys):
    assert main(["fit", str(data_csv), "-y", "y", "--format", "html"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text and "<style>" in text and "</html>" in text
    page = tmp_path / "fit.html"
    page.write_text(text, encoding="utf-8")
    _not_blank(_screenshot(chromium, page, tmp_path / "fit.png"))
    tables = _measure(chromium, page, tmp_path)
    assert len(tables) >= 2 and len(tables[1]) == 7  # header block; name + 6 coefficient columns
    _assert_columns(tables)


def test_report_is_one_self_contained_file(chromium, data_csv, tmp_path):
    out = tmp_path / "report.html"
    args = ["report", str(data_csv), "-f", "y ~ price + sqft + rate", "--hidden", "2"]
    assert main([*args, "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(?!data:)', text)  # nothing fetched from elsewhere
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 3  # diagnostics, network diagram, training figure
    for data in images:
        img = Image.open(io.BytesIO(base64.b64decode(data)))
        assert img.format == "PNG" and min(img.size) > 300
    for heading in ("Regression", "Diagnostics", "The same model as a network", "Network vs OLS"):
        assert heading in text
    _not_blank(_screenshot(chromium, out, tmp_path / "report.png"))
    _assert_columns(_measure(chromium, out, tmp_path))


def test_report_without_network_and_missing_folder(data_csv, tmp_path, capsys):
    out = tmp_path / "plain.html"
    assert main(["report", str(data_csv), "-y", "y", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 1 and "Network vs OLS" not in text
    assert main(["report", str(data_csv), "-y", "y", "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
