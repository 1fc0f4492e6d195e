"""SQL through DuckDB (in-process) as a streaming source: ``olsnet.read("shop.duckdb",
sql="SELECT ...")``, ``olsnet.read(sql="SELECT ... FROM 'sales/*.parquet'")`` or
``olsnet.read(duckdb_relation)``.

The query's result streams as Arrow record batches (``DuckDBPyRelation.to_arrow_reader``) into
the same fold as files, so a query over files larger than memory fits in bounded memory. Only
the columns the fit uses are asked for (the query is wrapped in ``SELECT cols FROM (query)``,
which DuckDB pushes down). Each pass (the fit, a second robust pass, a formula's level pass)
runs the query again. A database file is opened read-only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import DataFileError
from ._arrow import is_numeric_arrow
from ._dialect import CsvDialect
from .formula_source import FormulaFileSource
from .source import FileSource

__all__ = ["DATABASE_SUFFIXES", "FormulaQuerySource", "Query", "QuerySource", "is_relation"]

DATABASE_SUFFIXES = (".duckdb", ".ddb", ".db")
# Settings of the connections olsnet opens (not of a relation's own connection): the fit does
# not depend on row order, so DuckDB need not buffer rows to keep it; its buffer pool is capped,
# and it decodes on half the usable CPUs, the fold folding on the others. Measured on
# 10,000,000 x 20 Parquet rows, 2 cores under load (benchmarks/bench_read.py): `fit --sql`
# 19.6-20.4 s and 562-581 MB peak with DuckDB's defaults, 23-26 s / 367-374 MB with a 128 MB
# pool, 19.0-21.2 s / 365-382 MB with a 256 MB pool on one DuckDB thread.
DUCKDB_MEMORY_LIMIT = "256MB"


def _duckdb_config() -> dict[str, str | bool | int | float | list[str]]:
    from ...solve._blas import usable_cpus

    return {
        "preserve_insertion_order": False,
        "memory_limit": DUCKDB_MEMORY_LIMIT,
        "threads": max(1, usable_cpus() // 2),
    }


def is_relation(obj: Any) -> bool:
    """Whether ``obj`` is a DuckDB relation (``con.sql(...)``, ``duckdb.read_parquet(...)``)."""
    return type(obj).__name__ == "DuckDBPyRelation" and type(obj).__module__.startswith("duckdb")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _short(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Query:
    """The "file" of a SQL source: a query on a DuckDB database (a file opened read-only, or
    an in-memory one that reads the files the query names), or a relation."""

    def __init__(
        self, sql: str | None = None, database: Path | None = None, relation: Any = None
    ) -> None:
        self.sql = sql
        self.database = database
        self.relation = relation
        self._columns: tuple[str, ...] | None = None
        self._schema: Any = None

    def __str__(self) -> str:
        if self.relation is not None:
            return "the DuckDB relation"
        where = f"{self.database}: " if self.database is not None else ""
        return f"{where}query {_short(self.sql or '')!r}"

    def _error(self, exc: Exception) -> DataFileError:
        text = str(exc).strip()
        if self.relation is not None:
            return DataFileError(f"{self}: DuckDB failed: {text}")
        return DataFileError(f"the SQL query failed: {text}\n  query: {self.sql}")

    def _relation(self, columns: Sequence[str] | None) -> tuple[Any, Any]:
        """(relation of ``columns`` of the result, its connection or None)."""
        import duckdb

        if self.relation is not None:
            rel = self.relation
            return (rel if columns is None else rel.project(", ".join(map(_quote, columns)))), None
        if self.database is not None:
            con = duckdb.connect(str(self.database), read_only=True, config=_duckdb_config())
        else:
            con = duckdb.connect(config=_duckdb_config())
        try:
            cols = "*" if columns is None else ", ".join(map(_quote, columns))
            return con.sql(f"SELECT {cols} FROM ({self.sql}\n) AS olsnet_query"), con
        except BaseException:
            con.close()
            raise

    def schema(self) -> Any:
        """The Arrow schema of the query's result (runs it with ``LIMIT 0``)."""
        if self._schema is None:
            import duckdb

            con = None
            try:
                rel, con = self._relation(None)
                self._schema = rel.limit(0).to_arrow_table().schema
            except duckdb.Error as exc:
                raise self._error(exc) from None
            finally:
                if con is not None:
                    con.close()
        return self._schema

    def columns(self) -> tuple[str, ...]:
        names = tuple(self.schema().names)
        from ._csv_errors import check_names

        check_names(str(self), names)
        return names

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[Any]:
        """Arrow record batches of ``columns``; raises DataFileError when the query fails or
        returns no rows."""
        import duckdb

        con = None
        rows = 0
        try:
            rel, con = self._relation(columns)
            reader = rel.to_arrow_reader(batch_rows)
            for batch in reader:
                rows += batch.num_rows
                if batch.num_rows:
                    yield batch
        except duckdb.Error as exc:
            raise self._error(exc) from None
        finally:
            if con is not None:
                con.close()
        if rows == 0:
            raise DataFileError(
                f"{self} returned no rows; a fit needs at least one"
                + (f"\n  query: {self.sql}" if self.sql else "")
            )

    def table(self) -> Any:
        return _concat(self.schema(), self.batches(self.schema().names, 1 << 16))


def _concat(schema: Any, batches: Iterator[Any]) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches(list(batches), schema=schema)


class _QueryReading:
    """What a SQL source reads differently from files (one query instead of paths)."""

    batch_rows: int
    paths: tuple[Any, ...]

    def _open(self, paths: Sequence[Any], dialect: CsvDialect | None) -> None:
        self.paths = tuple(paths)
        self.dialect = CsvDialect()
        self.notes: tuple[str, ...] = ()
        self.columns = self.file_columns(self.paths[0])

    def file_columns(self, path: Any) -> tuple[str, ...]:
        return path.columns()

    def arrow_schema(self, path: Any) -> Any:
        return path.schema()

    def _check_present(self, path: Any, columns: Sequence[str], wanted: Sequence[str]) -> None:
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DataFileError(
                f"{path}: column {missing[0]!r} is not in the result; its columns are "
                f"{', '.join(columns)}. Check the spelling (names are case-sensitive)"
            )

    def arrow_batches(
        self, path: Any, columns: Sequence[str], text_columns: Sequence[str] = ()
    ) -> Iterator[Any]:
        self._check_present(path, path.columns(), columns)
        return path.batches(columns, self.batch_rows)

    def arrow_batches_at(
        self, path: Any, columns: Sequence[str], text_columns: Sequence[str] = ()
    ) -> Iterator[tuple[Any, int]]:
        """Batches and their bytes in memory (a query's size is not known beforehand)."""
        for batch in self.arrow_batches(path, columns, text_columns):
            yield batch, batch.nbytes

    def where(self, path: Any, row: int) -> str:
        return f"{path}, row {row + 1}"

    _where = where

    def to_pandas(self) -> Any:
        return self.paths[0].table().to_pandas()

    def _check_numeric(self, names: Sequence[str]) -> None:
        """Raise DataFileError naming every column of ``names`` that is not numeric."""
        schema = self.paths[0].schema()
        bad = [
            f"{n!r} ({schema.field(n).type})"
            for n in names
            if not is_numeric_arrow(schema.field(n).type)
        ]
        if bad:
            raise DataFileError(
                f"{self.paths[0]}: column{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
                f"{'are' if len(bad) > 1 else 'is'} not numeric; cast in the query "
                "(CAST(x AS DOUBLE)), or fit with a formula to use text as categories "
                "(formula='y ~ C(column)')"
            )


class QuerySource(_QueryReading, FileSource):
    """The rows of a DuckDB query (or relation) as a block source; see :func:`olsnet.read`."""

    def __init__(self, query: Query, **kwargs: Any) -> None:
        super().__init__((query,), **kwargs)  # type: ignore[arg-type]
        self._check_numeric(self._raw_columns())

    def __repr__(self) -> str:
        return f"QuerySource({self.paths[0]}, y={list(self.target_names)}, x={list(self.feature_names)})"


class FormulaQuerySource(_QueryReading, FormulaFileSource):
    """A DuckDB query's rows through a formula (text columns become categories)."""

    def __init__(self, query: Query, **kwargs: Any) -> None:
        super().__init__((query,), **kwargs)  # type: ignore[arg-type]


def query_of(path_or_relation: Any, sql: str | None) -> Query:
    """The :class:`Query` of ``olsnet.read``'s first argument and ``sql=``."""
    if is_relation(path_or_relation):
        if sql is not None:
            raise DataFileError(
                "pass either a DuckDB relation or sql=, not both (run the SQL on the "
                "relation's connection: con.sql(...))"
            )
        return Query(relation=path_or_relation)
    if not isinstance(sql, str) or not sql.strip():
        raise DataFileError(f"sql must be a non-empty SQL query string; got {sql!r}")
    if path_or_relation is None or path_or_relation == "":  # CLI: predict MODEL "" --sql ...
        return Query(sql=sql)
    path = Path(os.fspath(path_or_relation))
    if not path.name.lower().endswith(DATABASE_SUFFIXES):
        raise DataFileError(
            f"{path}: sql= runs on a DuckDB database file ({', '.join(DATABASE_SUFFIXES)}); to "
            f"query data files name them in the query and leave the path out: "
            f"olsnet.read(sql=\"SELECT ... FROM '{path}'\")"
        )
    if not path.is_file():
        raise DataFileError(f"{path}: no such database file")
    return Query(sql=sql, database=path)
