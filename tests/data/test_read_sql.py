"""SQL through DuckDB: olsnet.read(sql=...), olsnet.read("db.duckdb", sql=...),
olsnet.read(relation) and ``olsnet fit --sql``.

References: the same rows fitted in memory (numpy lstsq for coefficients, statsmodels for the
formula and the HC3 standard errors), the rows fetched by DuckDB itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import olsnet
from olsnet.errors import DataFileError

duckdb = pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    n = 3000
    sqft = rng.uniform(40, 250, n)
    city = rng.choice(["Bern", "Genf", "Zug"], n)
    year = rng.integers(2015, 2025, n)
    price = 50 + 2.5 * sqft + np.select([city == "Genf", city == "Zug"], [40.0, 90.0], 0.0)
    price = price + rng.normal(scale=20 + 0.1 * sqft, size=n)  # heteroskedastic
    table = pa.table({"price": price, "sqft": sqft, "city": city, "year": year})
    folder = tmp_path / "sales"
    folder.mkdir()
    for i in range(3):
        pq.write_table(table.slice(i * 1000, 1000), folder / f"part-{i}.parquet")
    return folder


QUERY = "SELECT price, sqft, city FROM '{folder}/*.parquet' WHERE year >= 2020"


def test_query_formula_fit_matches_statsmodels(sales: Path) -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    sql = QUERY.format(folder=sales)
    src = olsnet.read(sql=sql, formula="price ~ sqft + C(city)", batch_rows=256)
    model = olsnet.LinearRegression(fit_intercept=src.fit_intercept, cov_type="HC3").fit(src)
    frame = duckdb.sql(sql).df()
    ref = smf.ols("price ~ sqft + C(city)", frame).fit(cov_type="HC3")
    names = ["Intercept", "sqft", "C(city)[T.Genf]", "C(city)[T.Zug]"]
    assert model.feature_names_in_.tolist() == names[1:]
    np.testing.assert_allclose(model.result_.params, ref.params[names].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(model.result_.bse, ref.bse[names].to_numpy(), rtol=1e-10)


def test_query_plain_columns_weights_and_database_file(sales: Path, tmp_path: Path) -> None:
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        f"CREATE TABLE sales AS SELECT price, sqft, year, 1.0 + (year % 3) AS w "
        f"FROM '{sales}/*.parquet'"
    )
    con.close()
    src = olsnet.read(db, sql="SELECT * FROM sales", y="price", x=["sqft", "year"], weights="w")
    model = olsnet.LinearRegression().fit(src)
    rows = duckdb.connect(str(db), read_only=True).sql("SELECT * FROM sales").fetchnumpy()
    sw = np.sqrt(rows["w"])
    A = np.column_stack([np.ones_like(sw), rows["sqft"], rows["year"].astype(float)]) * sw[:, None]
    ref = np.linalg.lstsq(A, rows["price"] * sw, rcond=None)[0]
    np.testing.assert_allclose([model.intercept_, *model.coef_], ref, rtol=1e-10)
    assert db.stat().st_size > 0  # opened read-only: still there, unchanged
    with pytest.raises(DataFileError, match=r"sql= runs on a DuckDB database file"):
        olsnet.read(next(sales.iterdir()), sql="SELECT 1", y="price")


def test_relation_input_equals_the_query(sales: Path) -> None:
    sql = QUERY.format(folder=sales).replace(", city", "")
    con = duckdb.connect()
    rel = con.sql(sql)
    a = olsnet.LinearRegression().fit(olsnet.read(rel, y="price"))
    b = olsnet.LinearRegression().fit(olsnet.read(sql=sql, y="price"))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-13)
    assert a.result_.nobs == len(rel.fetchall())


def test_sql_errors_name_the_query_and_the_columns(sales: Path) -> None:
    with pytest.raises(
        DataFileError, match=r"(?s)the SQL query failed: .*nope.*query: SELECT nope"
    ):
        olsnet.read(sql="SELECT nope FROM range(3)", y="nope")
    empty = f"SELECT price, sqft FROM '{sales}/*.parquet' WHERE year > 3000"
    with pytest.raises(DataFileError, match=r"returned no rows"):
        olsnet.LinearRegression().fit(olsnet.read(sql=empty, y="price"))
    typed = f"SELECT price, sqft, city, DATE '2020-01-01' AS day FROM '{sales}/*.parquet'"
    with pytest.raises(
        DataFileError, match=r"columns 'city' \(string\), 'day' \(date32\[day\]\) are not numeric"
    ):
        olsnet.read(sql=typed, y="price")
    with pytest.raises(DataFileError, match=r"column 'area' is not in the result; its columns are"):
        olsnet.read(sql=QUERY.format(folder=sales), y="price", x=["area"])


def test_missing_values_from_sql(sales: Path) -> None:
    sql = f"SELECT price, CASE WHEN sqft > 240 THEN NULL ELSE sqft END AS sqft FROM '{sales}/*.parquet'"
    with pytest.raises(DataFileError, match=r"row \d+, column 'sqft': a missing value"):
        olsnet.LinearRegression().fit(olsnet.read(sql=sql, y="price"))
    src = olsnet.read(sql=sql, y="price", missing="drop")
    model = olsnet.LinearRegression().fit(src)
    rows = duckdb.sql(f"SELECT * FROM ({sql}) WHERE sqft IS NOT NULL").fetchnumpy()
    assert model.result_.nobs == len(rows["price"]) and src.n_dropped == 3000 - len(rows["price"])


def test_cli_fit_sql(sales: Path, capsys) -> None:
    from olsnet.cli import main

    sql = QUERY.format(folder=sales)
    assert main(["fit", "--sql", sql, "-f", "price ~ sqft + C(city)", "--format", "json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    smf = pytest.importorskip("statsmodels.formula.api")
    ref = smf.ols("price ~ sqft + C(city)", duckdb.sql(sql).df()).fit()
    got = {c["name"]: c["coef"] for c in out["outputs"][0]["coefficients"]}
    assert set(got) == set(ref.params.index)
    np.testing.assert_allclose(
        [got[k] for k in ref.params.index], ref.params.to_numpy(), rtol=1e-12
    )
    assert main(["fit", "-y", "price"]) == 2
    assert "a query with --sql" in capsys.readouterr().err


def test_cli_predict_from_a_query(sales: Path, tmp_path: Path, capsys) -> None:
    from olsnet.cli import main

    sql = f"SELECT price, sqft FROM '{sales}/*.parquet'"
    model = tmp_path / "m.olsnet"
    assert main(["fit", "--sql", sql, "-y", "price", "--save", str(model)]) == 0
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), "", "--sql", sql, "-o", str(out)]) == 0
    capsys.readouterr()
    fitted = olsnet.load(model)
    rows = duckdb.sql(sql).fetchnumpy()
    pred = np.loadtxt(out, delimiter=",", skiprows=1)
    np.testing.assert_allclose(
        np.sort(pred), np.sort(fitted.predict(rows["sqft"][:, None])), rtol=1e-12
    )
