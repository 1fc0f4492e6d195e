"""``olsnet fit``: same numbers as the Python API, one-line errors with exit status 2, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import olsnet
from olsnet.cli import main


def _data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    df["g"] = rng.choice(["a", "b", "c"], n)
    df["w"] = rng.uniform(0.5, 2.0, n)
    df["y"] = (
        2.0 + df.x1 - df.x2 + 0.3 * df.x3 + (df.g == "b") + rng.normal(size=n) * (1 + df.x1**2)
    )
    return df


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    _data().to_csv(path, index=False)
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def _assert_same_numbers(got: object, want: object, path: str = "") -> None:
    """Recursive equality of JSON trees: numbers within rtol 1e-10, everything else exact."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for k in want:
            _assert_same_numbers(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same_numbers(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, err_msg=path)
    else:
        assert got == want, path


def test_fit_json_equals_python_api_in_memory(
    csv_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = "-y y -x x1 -x x2 -x x3 --weights w --cov hc3 --format json".split()
    status, out, err = _run(["fit", str(csv_path), *args], capsys)
    assert status == 0, err
    got = json.loads(out)
    df = pd.read_csv(csv_path)
    model = olsnet.LinearRegression(cov_type="HC3").fit(
        df[["x1", "x2", "x3"]], df["y"], sample_weight=df["w"]
    )
    want = json.loads(json.dumps(model.result_.to_dict()))
    for key in ("method", "condition_number"):  # how it was computed may differ (stream vs QR)
        got.pop(key, None), want.pop(key, None)
    _assert_same_numbers(got, want)
    assert got["param_names"] == ["Intercept", "x1", "x2", "x3"]


def test_fit_text_is_the_python_summary(csv_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt, render in (("text", "as_text"), ("markdown", "as_markdown"), ("html", "as_html")):
        status, out, _ = _run(
            ["fit", str(csv_path), "-y", "y", "-x", "x1", "--no-intercept", "--format", fmt], capsys
        )
        assert status == 0
        model = olsnet.LinearRegression(fit_intercept=False).fit(
            olsnet.read(csv_path, y="y", x=["x1"])
        )
        expected = getattr(model.result_.summary(), render)().strip()
        if fmt == "html":  # a standalone page around the notebook rendering
            assert out.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in out
            assert expected in out
        else:
            assert out.strip() == expected


def test_fit_formula_matches_statsmodels(
    csv_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    formula = "y ~ x1 + np.exp(x2) + C(g) + x1:x3"
    status, out, err = _run(["fit", str(csv_path), "-f", formula, "--format", "json"], capsys)
    assert status == 0, err
    got = json.loads(out)
    ref = smf.ols(formula, pd.read_csv(csv_path)).fit()
    names = got["param_names"]
    assert set(names) == set(ref.params.index) and names[0] == "Intercept"
    output = got["outputs"][0]
    coefs = {c["name"]: c for c in output["coefficients"]}
    for name in names:
        np.testing.assert_allclose(coefs[name]["coef"], ref.params[name], rtol=1e-9)
        np.testing.assert_allclose(coefs[name]["std_err"], ref.bse[name], rtol=1e-9)
    np.testing.assert_allclose(output["rsquared"], ref.rsquared, rtol=1e-9)
    np.testing.assert_allclose(output["fvalue"], ref.fvalue, rtol=1e-9)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("olsnet: error: ")
    return lines[0]


def test_errors_are_one_line_with_status_2(
    csv_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(["fit", str(csv_path), "-y", "nope"], capsys)
    assert status == 2 and out == ""
    line = _one_error_line(err)
    assert "data.csv, line 1: column 'nope' is not in the file" in line

    bad = tmp_path / "bad.csv"
    bad.write_text("y,x\n1,2\n3,4,5\n")
    status, _, err = _run(["fit", str(bad), "-y", "y"], capsys)
    assert status == 2 and "bad.csv, line 3, column 'x'" in _one_error_line(err)

    status, _, err = _run(["fit", str(csv_path), "-y", "y", "--cov", "HC9"], capsys)
    assert status == 2 and "'HC0'" in _one_error_line(err)

    status, _, err = _run(["fit", str(csv_path), "-y", "y", "--no-such-option"], capsys)
    assert status == 2 and "--no-such-option" in _one_error_line(err)

    status, _, err = _run(["fit", str(csv_path), "-y", "nope", "--debug"], capsys)
    assert status == 2 and "Traceback" in err and "DataFileError" in err


def test_file_going_bad_late_writes_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Parquet file whose values go bad far into the stream (after many batches were folded
    on both cores): one error line naming the file, row and column, and no model file."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(200_000, 3)), columns=["x1", "x2", "y"])
    frame.loc[187_654, "x2"] = np.inf
    path = tmp_path / "late.parquet"
    frame.to_parquet(path, index=False, row_group_size=10_000)
    archive = tmp_path / "model.olsnet"
    status, out, err = _run(["fit", str(path), "-y", "y", "--save", str(archive)], capsys)
    assert status == 2 and out == ""
    assert "late.parquet, row 187655, column 'x2': the value inf" in _one_error_line(err)
    assert not archive.exists() and list(tmp_path.iterdir()) == [path]  # no temporary left


def test_missing_drop_reports_dropped_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("y,x\n1,2\n2,\n3,5\n5,4\n4,4\n")
    status, _, err = _run(["fit", str(path), "-y", "y"], capsys)
    assert status == 2 and "gaps.csv, line 3, column 'x': a missing value" in _one_error_line(err)
    status, out, err = _run(
        ["fit", str(path), "-y", "y", "--missing", "drop", "--format", "json"], capsys
    )
    assert status == 0 and json.loads(out)["nobs"] == 4
    assert "1 row(s) with missing values were dropped" in err


def test_fit_100k_rows_in_a_fresh_process_without_torch(tmp_path: Path) -> None:
    """`python -m olsnet fit` on a (100,000 x 10) CSV never imports torch (-X importtime lists
    every module imported); the wall-time target (< 2 s on a quiet machine) is measured by
    benchmarks/bench_cli.py, here only grossly bounded."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(1)
    X = rng.normal(size=(100_000, 9))
    cols = {f"x{j + 1}": X[:, j] for j in range(9)}
    cols["y"] = X @ np.arange(1.0, 10.0) + rng.normal(size=len(X))
    path = tmp_path / "big.csv"
    pcsv.write_csv(pa.table(cols), path)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "olsnet",
            "fit",
            str(path),
            "-y",
            "y",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "pyarrow.csv" in imported and "olsnet.cli" in imported  # the listing is complete
    assert "torch" not in imported
    assert json.loads(proc.stdout)["nobs"] == 100_000
    assert wall < 30.0  # a gross regression bound only; see the benchmark for the target


def test_fit_cluster_and_hac_covariances(csv_path, capsys) -> None:
    df = _data()
    X, y = df[["x1", "x2", "x3"]], df["y"]
    res = olsnet.LinearRegression().fit(X, y).result_
    for args, ref in (
        (["--groups", "g"], res.with_cov("cluster", groups=df["g"].to_numpy())),
        (["--cov", "cluster", "--groups", "g,w"],
         res.with_cov("cluster", groups=(df["g"].to_numpy(), df["w"].to_numpy()))),
        (["--maxlags", "3"], res.with_cov("HAC", maxlags=3)),
    ):  # fmt: skip
        status, out, _ = _run(
            ["fit", str(csv_path), "-y", "y", "-x", "x1", "-x", "x2", "-x", "x3", "--format",
             "json", *args], capsys,
        )  # fmt: skip
        assert status == 0
        got = json.loads(out)["outputs"][0]["coefficients"]
        np.testing.assert_allclose([c["std_err"] for c in got], ref.bse, rtol=1e-12)
    for args, message in (
        (["--cov", "cluster"], "needs --groups"),
        (["--cov", "HAC"], "needs --maxlags"),
        (["--groups", "gg"], "did you mean 'g'"),
        (["--groups", "g", "--maxlags", "2"], "not both"),
    ):
        status, _, err = _run(["fit", str(csv_path), "-y", "y", "-x", "x1", *args], capsys)
        assert status == 2 and message in err, err
