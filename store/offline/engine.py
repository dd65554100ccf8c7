"""The DuckDB side of the offline store: connections, sources, and error conversion.

Every source is read through one *normalized relation* (:meth:`OfflineEngine.source_sql`):
the join keys cast to their declared types, ``__event_ts`` / ``__created_ts`` as TIMESTAMPTZ in
UTC at microsecond precision, each field's value (its ``expr`` or its column) cast to the
declared type, and a deterministic tie-break ``(__file_idx, __row)``: the index of the file in
the sorted file list and the row number inside it (``rowid`` for DuckDB tables).
"""

from __future__ import annotations

import glob as globlib
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from store.aggregation import AggregationView
from store.config import OfflineConfig
from store.definitions import DuckDBSource, FeatureView
from store.errors import EntityFrameError, OfflineStoreError, SourceError
from store.offline import plan
from store.offline.sql import (
    CREATED_TS,
    EVENT_TS,
    FILE_IDX,
    ROW_NUM,
    field_sql,
    is_timestamp_type,
    quote_ident,
    quote_literal,
    to_utc_us,
)
from store.sql_expr import select_sql

_FILE_COL = "__file"
_GLOB_CHARS = set("*?[")


@contextmanager
def duck_errors(what: str) -> Iterator[None]:
    """The one place DuckDB exceptions become ours: ``raise ... from exc``."""
    try:
        yield
    except duckdb.IOException as exc:
        raise SourceError(f"{what}: {first_line(exc)}") from exc
    except duckdb.Error as exc:
        raise OfflineStoreError(f"{what}: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class SourceFiles:
    """Where a Parquet source's rows are: the sorted file list and whether it is hive-style."""

    files: list[Path]
    hive: bool | None
    pushed: int = 0  # the last ``pushed`` files are push files (no hive folders)


class OfflineEngine:
    """Runs the offline store's queries in DuckDB over a feature repo's sources.

    Args:
        repo: the feature repo folder (source paths are relative to it).
        data_dir: the repo's data folder (spill files go to ``data_dir/tmp`` by default).
        config: memory limit, threads and temp directory.
    """

    def __init__(self, repo: Path, data_dir: Path, config: OfflineConfig) -> None:
        self.repo = Path(repo)
        self.data_dir = Path(data_dir)
        self.config = config

    # -- connections -------------------------------------------------------------------------
    def connect(self, views: Iterable[FeatureView] = ()) -> duckdb.DuckDBPyConnection:
        """A fresh connection with the memory limit, threads and spill folder set.

        DuckDB databases used by ``views`` (DuckDBSource) are attached read-only.
        """
        views = list(views)
        self._check_queries(views)
        temp = Path(self.config.temp_directory or self.data_dir / "tmp")
        if not temp.is_absolute():
            temp = self.repo / temp
        temp.mkdir(parents=True, exist_ok=True)
        settings: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": self.config.memory_limit,
            "temp_directory": str(temp),
            "preserve_insertion_order": False,
        }
        if self.config.threads:
            settings["threads"] = self.config.threads
        with duck_errors("opening DuckDB (check offline settings in parity.yaml)"):
            con = duckdb.connect(config=settings)
            con.execute("SET TimeZone = 'UTC'").fetchall()
            for view in views:
                self._attach(con, view)
        return con

    def _check_queries(self, views: list[FeatureView]) -> None:
        # A query's table names resolve in the database the connection USEs: one per connection.
        used: dict[Path, str] = {}
        for view in views:
            if isinstance(view.source, DuckDBSource) and view.source.query is not None:
                used.setdefault(self._database(view), view.name)
        if len(used) > 1:
            names = ", ".join(f"{name!r} ({path})" for path, name in used.items())
            raise SourceError(
                f"feature views {names} read SQL queries from different DuckDB files, and one "
                "join can only resolve table names in one of them; request them in separate "
                "calls, or write the sources as DuckDBSource(table=...)"
            )

    def _attach(self, con: duckdb.DuckDBPyConnection, view: FeatureView) -> None:
        source = view.source
        if not isinstance(source, DuckDBSource):
            return
        path = self._database(view)
        alias = _db_alias(path)
        attached = {
            row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
        if alias not in attached:
            con.execute(
                f"ATTACH {quote_literal(str(path))} AS {quote_ident(alias)} (READ_ONLY)"
            ).fetchall()
        if source.query is not None:
            con.execute(f"USE {quote_ident(alias)}").fetchall()

    def _database(self, view: FeatureView) -> Path:
        source = view.source
        assert isinstance(source, DuckDBSource)
        path = (
            self._resolve(source.database) if source.database else self.data_dir / "offline.duckdb"
        )
        if not path.is_file():
            raise SourceError(
                f"feature view {view.name!r}: DuckDB database {path} not found; "
                "create it or fix DuckDBSource(database=...)"
            )
        return path

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.repo / p

    # -- sources -----------------------------------------------------------------------------
    def source_files(self, view: FeatureView) -> SourceFiles:
        """The files a view reads (a DuckDB source: its database file), sorted."""
        source = view.source
        if isinstance(source, DuckDBSource):
            return SourceFiles([self._database(view)], None)
        path = self._resolve(source.path)
        if _GLOB_CHARS & set(source.path):
            files = sorted(Path(p) for p in globlib.glob(str(path), recursive=True))
            hive: bool | None = None
        elif path.is_dir():
            files, hive = sorted(path.rglob("*.parquet")), True
        else:
            files, hive = ([path] if path.is_file() else []), False
        pushed = self.pushed_files(view)
        files = [f for f in files if f.is_file()] + pushed
        if not files:
            raise SourceError(
                f"feature view {view.name!r}: no Parquet files at {source.path!r} "
                f"(looked in {path}); write the data first or fix ParquetSource(path=...)"
            )
        return SourceFiles(files, hive, len(pushed))

    def pushed_files(self, view: FeatureView) -> list[Path]:
        """Rows streamed in by ``push`` (``<data_dir>/push/<view>/``), read as part of the
        source; they sort after the source's own files, so they win exact ties."""
        folder = self.data_dir / "push" / view.name
        return sorted(folder.glob("[!.]*.parquet")) if folder.is_dir() else []

    def raw_sql(self, view: FeatureView, *, with_file: bool = False) -> str:
        """The source's own rows and columns, plus ``__file_idx`` and ``__row`` (tie-break)."""
        source = view.source
        if isinstance(source, DuckDBSource):
            alias = quote_ident(_db_alias(self._database(view)))
            name = quote_literal("table " + str(source.table)) if source.table else "'query'"
            extra = f", {name} AS {_FILE_COL}" if with_file else ""
            if source.table is not None:
                table = f"{alias}.{quote_ident(source.table)}"
                return f"SELECT s.*, 0 AS {FILE_IDX}, s.rowid AS {ROW_NUM}{extra} FROM {table} AS s"
            # Numbered by the whole row (a struct), so every evaluation numbers rows alike: rows
            # that compare equal are identical, so which of them gets which number cannot matter.
            query = select_sql(str(source.query), what=f"feature view {view.name!r}")
            return (
                f"SELECT q.*, 0 AS {FILE_IDX}, row_number() OVER (ORDER BY q) AS {ROW_NUM}{extra} "
                f"FROM ({query}) AS q"
            )
        return self._parquet_sql(view, with_file)

    def _parquet_sql(self, view: FeatureView, with_file: bool) -> str:
        where = self.source_files(view)
        own = where.files[: len(where.files) - where.pushed]
        pushed = where.files[len(own) :]
        scans = []
        if own:
            scans.append(self._scan(own, where.hive, 0, with_file))
        if pushed:  # pushed files sit outside hive folders: scanned apart, numbered after
            scans.append(self._scan(pushed, False, len(own), with_file))
        return " UNION ALL BY NAME ".join(f"({scan})" for scan in scans)

    def _scan(self, files: list[Path], hive: bool | None, first: int, with_file: bool) -> str:
        # file_index / file_row_number are virtual columns: only read when used, and cheap.
        listing = "[" + ", ".join(quote_literal(str(f)) for f in files) + "]"
        options = [f"filename = {quote_literal(_FILE_COL)}"] if with_file else []
        if len(files) > 1:
            options.append("union_by_name = true")
        if hive is not None:
            options.append(f"hive_partitioning = {str(hive).lower()}")
        scan = f"read_parquet({', '.join([listing, *options])})"
        file_col = f", s.{_FILE_COL}" if with_file else ""
        keep = f"s.* EXCLUDE ({_FILE_COL})" if with_file else "s.*"
        index = f"s.file_index + {first}" if first else "s.file_index"
        return (
            f"SELECT {keep}, {index} AS {FILE_IDX}, s.file_row_number AS {ROW_NUM}"
            f"{file_col} FROM {scan} AS s"
        )

    def raw_types(
        self, view: FeatureView, con: duckdb.DuckDBPyConnection | None = None
    ) -> dict[str, str]:
        """Source column -> DuckDB type (without the tie-break columns); on ``con`` if given
        (it must have the view's databases attached: :meth:`connect`), else on a new one."""
        own = con is None
        con = self.connect([view]) if con is None else con
        try:
            with duck_errors(
                f"feature view {view.name!r}: reading source {view.source.describe()}"
            ):
                rows = con.execute(f"DESCRIBE ({self.raw_sql(view)})").fetchall()
        finally:
            if own:
                con.close()
        return {str(r[0]): str(r[1]) for r in rows if r[0] not in {FILE_IDX, ROW_NUM}}

    def source_schema(self, view: FeatureView) -> pa.Schema:
        """The raw source columns and their Arrow types."""
        con = self.connect([view])
        try:
            with duck_errors(
                f"feature view {view.name!r}: reading source {view.source.describe()}"
            ):
                sql = (
                    f"SELECT * EXCLUDE ({FILE_IDX}, {ROW_NUM}) FROM ({self.raw_sql(view)}) LIMIT 0"
                )
                schema: pa.Schema = con.sql(sql).to_arrow_table().schema
        finally:
            con.close()
        return schema

    def source_sql(
        self,
        view: FeatureView,
        *,
        with_file: bool = False,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> str:
        """The normalized relation of a view (see the module docstring); for an aggregation
        view, the one of its inputs (:meth:`AggregationView.input_view`). Its source is
        described on ``con`` when given (see :meth:`raw_types`)."""
        if isinstance(view, AggregationView):
            view = view.input_view()
        return self._normalized(view, self.raw_types(view, con), with_file=with_file)

    def _normalized(self, view: FeatureView, types: dict[str, str], *, with_file: bool) -> str:
        source = view.source
        event_col = source.event_timestamp
        created_col = source.created_timestamp or event_col
        event_ts = to_utc_us(quote_ident(event_col), types.get(event_col, "TIMESTAMP"))
        created_ts = to_utc_us(quote_ident(created_col), types.get(created_col, "TIMESTAMP"))
        keys = [
            f"CAST({quote_ident(k)} AS {t.duckdb}) AS {quote_ident(k)}"
            for k, t in view.join_keys.items()
        ]
        feats = [
            f"CAST({field_sql(view, f)} AS {f.type.duckdb}) AS {quote_ident(f.name)}"
            for f in view.fields
        ]
        cols = [
            *keys,
            f"{event_ts} AS {EVENT_TS}",
            f"{created_ts} AS {CREATED_TS}",
            *feats,
            FILE_IDX,
            ROW_NUM,
            *([_FILE_COL] if with_file else []),
        ]
        raw = self.raw_sql(view, with_file=with_file)
        return f"SELECT {', '.join(cols)} FROM ({raw}) AS src"

    def query(self, sql: str, views: Iterable[FeatureView]) -> pa.Table:
        """Run a caller's SELECT over the offline store: each view's source rows are a table
        named after the view (e.g. an entity frame given as SQL, as Feast allows).

        Raises:
            EntityFrameError: not a single SELECT (or WITH ... SELECT) statement.
            OfflineStoreError: DuckDB refused or failed the query (its message included).
        """
        head = sql.lstrip().lstrip("(").lstrip()[:6].upper()
        if head not in ("SELECT", "WITH") and not head.startswith("WITH"):
            shown = sql if len(sql) <= 80 else sql[:77] + "..."
            raise EntityFrameError(
                f"entity_df {shown!r} is neither an existing Parquet file nor a SELECT over "
                "the offline store (each feature view is a table of its source rows)"
            )
        views = list(views)
        con = self.connect(views)
        try:
            with duck_errors("running the entity_df query"):
                for view in views:
                    con.execute(
                        f"CREATE TEMP VIEW {quote_ident(view.name)} AS SELECT * EXCLUDE "
                        f"({FILE_IDX}, {ROW_NUM}) FROM ({self.raw_sql(view)})"
                    )
                statements = con.extract_statements(sql)
                if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                    raise EntityFrameError(
                        "an entity_df query must be exactly one SELECT statement"
                    )
                table: pa.Table = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        return table

    def late_rows(self, view: FeatureView, rows: pa.Table, event: str, created: str | None) -> int:
        """How many of ``rows`` (source columns ``event``, ``created``) rule 3 drops: the
        offline predicate itself (:func:`store.offline.plan.on_time`), over these rows only.
        Without a created column, created = event: no row is late."""
        if view.allowed_lateness is None or created is None:
            return 0
        cond = plan.on_time(
            view,
            f"CAST({quote_ident(created)} AS TIMESTAMPTZ)",
            f"CAST({quote_ident(event)} AS TIMESTAMPTZ)",
        )
        con = self.connect()
        try:
            con.register("__rows", rows)
            with duck_errors(f"feature view {view.name!r}: counting late rows"):
                sql = f"SELECT count(*) FILTER (WHERE NOT ({cond})) FROM __rows"
                late = con.execute(sql).fetchone()
        finally:
            con.close()
        return int(late[0]) if late else 0

    # -- checks ------------------------------------------------------------------------------
    def check_view(self, view: FeatureView) -> None:
        """Check a view against its source; raise DefinitionError naming the problem and fix.

        Missing files, missing event/created timestamp, key or field columns, wrong types,
        and field expressions DuckDB cannot compile against the source are reported.
        """
        from store.offline.checks import check_view

        check_view(self, view.input_view() if isinstance(view, AggregationView) else view)

    def watermark(self, view: FeatureView) -> datetime | None:
        """The greatest created_ts of the source (UTC), or None when it has no rows."""
        con = self.connect([view])
        try:
            with duck_errors(f"feature view {view.name!r}: computing the watermark"):
                row = con.execute(
                    f"SELECT max({CREATED_TS}) FROM ({self.source_sql(view)})"
                ).fetchall()[0]
        finally:
            con.close()
        value = None if row is None else row[0]
        return value if isinstance(value, datetime) else None


def _db_alias(path: Path) -> str:
    return "parity_src_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


__all__ = ["OfflineEngine", "SourceFiles", "duck_errors", "is_timestamp_type"]
