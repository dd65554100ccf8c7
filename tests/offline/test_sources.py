"""Sources: Parquet units and zones, files/globs/hive folders, DuckDB tables and queries,
and the definition errors check_view reports."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from store.errors import DefinitionError, SourceError
from store.offline.retrieval import get_historical_features, snapshot
from store.registry import resolve_features

from .conftest import Repo, at, make_repo, ts_array

MODULE = """
    from datetime import timedelta
    from store.definitions import DuckDBSource, Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={{"user_id": "int64"}})
    stats = FeatureView(
        name="stats",
        entities=[user],
        source={source},
        fields=[{fields}],
    )
"""
AMOUNT = 'Field("amount", "float64")'


def repo_with(
    tmp_path: Path, source: str, tables: dict[str, pa.Table], fields: str = AMOUNT
) -> Repo:
    return make_repo(tmp_path, MODULE.format(source=source, fields=fields), tables)


def table(unit: str = "us", tz: str | None = "UTC", created: bool = False) -> pa.Table:
    cols = {
        "user_id": pa.array([1, 1, 2], pa.int64()),
        "event_timestamp": ts_array([at(0), at(10), at(5)], unit, tz),
        "amount": [1.0, 2.0, 3.0],
    }
    if created:
        cols["created"] = ts_array([at(0), at(20), at(5)], unit, tz)
    return pa.table(cols)


def values(repo: Repo, times: list[float], user: int = 1) -> list[float | None]:
    ent = pd.DataFrame({"user_id": [user] * len(times), "event_timestamp": [at(m) for m in times]})
    refs = resolve_features(repo.defs, ["stats"])
    got: list[float | None] = (
        get_historical_features(repo.engine, repo.defs, refs, ent).to_arrow()["amount"].to_pylist()
    )
    return got


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_any_parquet_unit_and_zone(tmp_path: Path, unit: str, tz: str | None) -> None:
    repo = repo_with(
        tmp_path, 'ParquetSource("data/s.parquet")', {"data/s.parquet": table(unit, tz)}
    )
    repo.engine.check_view(repo.defs.views["stats"])
    assert values(repo, [0, 0.5, 10, 11]) == [None, 1.0, 1.0, 2.0]


def test_nanoseconds_are_floored_to_microseconds(tmp_path: Path) -> None:
    ns = pa.array([1_709_251_200_000_000_999], pa.timestamp("ns", tz="UTC"))  # T0 + 999 ns
    src = pa.table({"user_id": pa.array([1], pa.int64()), "event_timestamp": ns, "amount": [1.0]})
    repo = repo_with(tmp_path, 'ParquetSource("data/s.parquet")', {"data/s.parquet": src})
    us = timedelta(microseconds=1) / timedelta(minutes=1)
    # floored to T0: visible from T0 + 1 us (DuckDB's own cast would round to T0 + 1 us).
    assert values(repo, [0, us]) == [None, 1.0]


def test_glob_and_hive_folder(tmp_path: Path) -> None:
    a, b = table().slice(0, 2), table().slice(2, 1)
    tables = {"data/g/a.parquet": a, "data/g/b.parquet": b}
    repo = repo_with(tmp_path, 'ParquetSource("data/g/*.parquet")', tables)
    assert values(repo, [11]) == [2.0] and values(repo, [6], user=2) == [3.0]
    hive = {"data/h/day=1/part.parquet": a, "data/h/day=2/part.parquet": b}
    repo = repo_with(
        tmp_path / "h",
        'ParquetSource("data/h")',
        hive,
        fields=AMOUNT + ', Field("day", "int64")',
    )
    refs = resolve_features(repo.defs, ["stats"])
    ent = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [at(11), at(6)]})
    got = get_historical_features(repo.engine, repo.defs, refs, ent).to_arrow()
    assert got["amount"].to_pylist() == [2.0, 3.0] and got["day"].to_pylist() == [1, 2]


def test_tie_break_across_files_takes_the_last_file(tmp_path: Path) -> None:
    same = table().slice(0, 1)
    later = same.set_column(2, "amount", pa.array([7.0]))
    tables = {"data/g/a.parquet": same, "data/g/b.parquet": later}
    repo = repo_with(tmp_path, 'ParquetSource("data/g/*.parquet")', tables)
    assert values(repo, [1]) == [7.0]


@pytest.mark.parametrize("kind", ["table", "query"])
def test_duckdb_source(tmp_path: Path, kind: str) -> None:
    (tmp_path / "data").mkdir()
    con = duckdb.connect(str(tmp_path / "data" / "offline.duckdb"))
    con.register("t", table(created=True))
    con.execute("CREATE TABLE stats_src AS SELECT * FROM t").fetchall()
    con.close()
    source = (
        'DuckDBSource(table="stats_src", created_timestamp="created")'
        if kind == "table"
        else 'DuckDBSource(query="SELECT * FROM stats_src WHERE amount > 0", '
        'created_timestamp="created")'
    )
    repo = repo_with(tmp_path, source, {})
    view = repo.defs.views["stats"]
    repo.engine.check_view(view)
    assert values(repo, [11, 21]) == [1.0, 2.0]
    snap = snapshot(repo.engine, view, at(30)).read_all()
    assert sorted(snap["amount"].to_pylist()) == [2.0, 3.0]
    assert repo.engine.watermark(view) == at(20)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, 'ParquetSource("data/nope.parquet")', {})
    view = repo.defs.views["stats"]
    with pytest.raises(DefinitionError, match=r"stats.*no Parquet files"):
        repo.engine.check_view(view)
    with pytest.raises(SourceError, match=r"nope\.parquet"):
        values(repo, [1])


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ('Field("nope", "float64")', "field 'nope' has no column"),
        ('Field("amount", "string")', "field 'amount' is double in the source but declared string"),
        ('Field("x", "float64", expr="amount +* 2")', "field 'x' expr .* does not compile"),
        (
            'Field("x", "float64", expr="no_such_col * 2")',
            r"field 'x': expr .* names column\(s\) \['no_such_col'\] that the source does not",
        ),
    ],
)
def test_check_view_names_field_problems(tmp_path: Path, fields: str, match: str) -> None:
    repo = repo_with(
        tmp_path, 'ParquetSource("data/s.parquet")', {"data/s.parquet": table()}, fields
    )
    with pytest.raises(DefinitionError, match=match):
        repo.engine.check_view(repo.defs.views["stats"])


def test_check_view_names_column_problems(tmp_path: Path) -> None:
    src = 'ParquetSource("data/s.parquet", created_timestamp="landed")'
    repo = repo_with(tmp_path, src, {"data/s.parquet": table()})
    with pytest.raises(DefinitionError, match="created_timestamp column 'landed' not in source"):
        repo.engine.check_view(repo.defs.views["stats"])
    bad_key = table().set_column(0, "user_id", pa.array(["1", "1", "2"]))
    repo = repo_with(tmp_path / "b", 'ParquetSource("data/s.parquet")', {"data/s.parquet": bad_key})
    with pytest.raises(DefinitionError, match="join key 'user_id' is string in the source"):
        repo.engine.check_view(repo.defs.views["stats"])
    no_ts = table().drop_columns(["event_timestamp"])
    repo = repo_with(tmp_path / "c", 'ParquetSource("data/s.parquet")', {"data/s.parquet": no_ts})
    with pytest.raises(DefinitionError, match="event_timestamp column 'event_timestamp' not in"):
        repo.engine.check_view(repo.defs.views["stats"])


def test_quoted_names_reach_sql_safely(tmp_path: Path) -> None:
    src = table().rename_columns(["user_id", "event_timestamp", "select"])
    repo = repo_with(
        tmp_path,
        'ParquetSource("data/it\'s here.parquet")',
        {"data/it's here.parquet": src},
        fields='Field("select", "float64")',
    )
    repo.engine.check_view(repo.defs.views["stats"])
    ent = pd.DataFrame({"user_id": [1], "event_timestamp": [at(11)]})
    refs = resolve_features(repo.defs, ["stats"])
    got = get_historical_features(repo.engine, repo.defs, refs, ent).to_arrow()
    assert got["select"].to_pylist() == [2.0]


def test_queries_from_two_duckdb_files_in_one_join_are_refused(tmp_path: Path) -> None:
    # Both files hold a table named src; a query's table names resolve in the one database a
    # connection USEs, so joined together one view would silently read the other's rows.
    (tmp_path / "data").mkdir()
    for name, amount in (("a", 1.0), ("b", 2.0)):
        con = duckdb.connect(str(tmp_path / "data" / f"{name}.duckdb"))
        con.register("t", table().set_column(2, "amount", pa.array([amount] * 3)))
        con.execute("CREATE TABLE src AS SELECT * FROM t").fetchall()
        con.close()
    module = """
        from store.definitions import DuckDBSource, Entity, FeatureView, Field

        user = Entity("user", join_keys={"user_id": "int64"})
        va, vb = (
            FeatureView(
                name=f"v{db}",
                entities=[user],
                source=DuckDBSource(query="SELECT * FROM src", database=f"data/{db}.duckdb"),
                fields=[Field("amount", "float64")],
            )
            for db in "ab"
        )
    """
    repo = make_repo(tmp_path, module)
    ent = pd.DataFrame({"user_id": [1], "event_timestamp": [at(30)]})

    def amounts(features: list[str]) -> list[float]:
        refs = resolve_features(repo.defs, features, full_feature_names=True)
        frame = get_historical_features(repo.engine, repo.defs, refs, ent).to_arrow()
        return [frame[f"{f}__amount"][0].as_py() for f in features]

    assert amounts(["va"]) == [1.0]
    assert amounts(["vb"]) == [2.0]
    with pytest.raises(SourceError, match=r"'va'.*'vb'.*different DuckDB files"):
        amounts(["va", "vb"])
