"""A field ``expr`` (and an aggregation's input) is one scalar SQL expression, never a statement.

The exploit of issue 12: an expr that closes the CAST it was pasted into and runs a COPY.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import (
    Aggregation,
    DefinitionError,
    DuckDBSource,
    Entity,
    FeatureView,
    Field,
    ParquetSource,
)
from store.sql_expr import scalar_sql

EXPLOIT = "1) AS BIGINT) AS x FROM (SELECT 1) s; COPY (SELECT 42) TO '{target}'; SELECT CAST((1"
USER = Entity("user", join_keys={"user_id": "int64"})


def _view(expr: str) -> FeatureView:
    return FeatureView(
        name="txn",
        entities=[USER],
        source=ParquetSource("txn.parquet"),
        fields=[Field("amount", "float64"), Field("bad", "int64", expr=expr)],
    )


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        (EXPLOIT.format(target="/tmp/x.csv"), "not one SQL expression"),
        ("1; COPY (SELECT 42) TO '/tmp/x.csv'", "not one SQL expression"),
        ("1; SELECT 2", "2 SQL statements"),
        ("read_text('/etc/hostname')", "'read_text'"),
        ("length(read_csv('/etc/passwd'))", "'read_csv'"),
        ("(SELECT 42)", "a subquery"),
        ("amount IN (SELECT 1)", "a subquery"),
        ("sum(amount) OVER ()", "a window function"),
        ("sum(amount)", "'sum'"),
        ("getenv('HOME')", "'getenv'"),
        ("amount FROM txn", "FROM clause"),
        ("amount AS other", "an alias"),
        ("main.lower(amount)", "qualified function"),
        ("sleep_ms(100000)", "'sleep_ms', whose value is not fixed"),  # hangs the engine
        ("length(write_log('x'))", "'write_log', whose value is not fixed"),
        ("amount * random()", "'random', whose value is not fixed"),
        ("length(uuid()::VARCHAR)", "'uuid', whose value is not fixed"),
        ("epoch(now())", "'now', whose value is not fixed"),
        ("epoch(current_timestamp)", "'current_timestamp', the clock"),
        ("year(current_date)", "'current_date', the clock"),
        ("#1 + 1", "a positional reference"),
    ],
)
def test_an_expr_that_is_not_one_scalar_expression_is_refused_naming_view_and_field(
    expr: str, why: str
) -> None:
    with pytest.raises(DefinitionError, match="feature view 'txn'") as err:
        _view(expr)
    assert why in str(err.value) and "field 'bad'" in str(err.value)


@pytest.mark.parametrize(
    "expr",
    [
        "amount * 2",
        "CAST(amount AS BIGINT)",
        "CASE WHEN amount > 10 THEN 1 ELSE 0 END",
        "coalesce(amount, 0) + 1",
        "list_transform([amount], x -> x + 1)[1]",
        "amount -- a comment is dropped",
        "hour(to_timestamp(amount))",  # CONSISTENT for TIMESTAMP; the store's zone is UTC
    ],
)
def test_a_scalar_expression_is_accepted_and_rendered_from_its_tree(expr: str) -> None:
    _view(expr)
    sql = scalar_sql(expr, what="v", columns=["amount"])
    assert sql.startswith("(") and "--" not in sql and ";" not in sql


def test_an_aggregation_input_is_checked_the_same_way() -> None:
    with pytest.raises(DefinitionError, match=r"aggregation 'x'.*'read_text'"):
        Aggregation("read_text('/etc/hostname')", "sum", timedelta(hours=1), name="x")
    with pytest.raises(DefinitionError, match=r"aggregation 'y'.*not one SQL expression"):
        Aggregation(EXPLOIT.format(target="/tmp/y.csv"), "sum", timedelta(hours=1), name="y")
    ok = Aggregation("amount * fx_rate", "sum", timedelta(hours=1), name="usd")
    assert ok.input_sql == "((amount * fx_rate))"


def test_an_aggregation_input_that_is_volatile_or_positional_is_refused() -> None:
    for expr, why in (("amount * random()", "'random'"), ("#1", "positional reference")):
        with pytest.raises(DefinitionError, match=rf"aggregation 'z'.*{why}"):
            Aggregation(expr, "sum", timedelta(hours=1), name="z")


def test_apply_checks_an_aggregation_input_against_the_source_columns(tmp_path: Path) -> None:
    """An aggregation input is column-checked at apply like a field expr."""
    (tmp_path / "parity.yaml").write_text("project: aggcols\nonline:\n  url: redis://127.0.0.1:1\n")
    pq.write_table(
        pa.table(
            {
                "user_id": [1],
                "event_timestamp": pa.array([0], pa.timestamp("us")),
                "amount": [1.0],
            }
        ),
        tmp_path / "txn.parquet",
    )
    (tmp_path / "features.py").write_text(
        textwrap.dedent(
            """
            from datetime import timedelta
            from store import Aggregation, AggregationView, Entity, ParquetSource

            user = Entity("user", join_keys={"user_id": "int64"})
            agg = AggregationView(
                name="agg",
                entities=[user],
                source=ParquetSource("txn.parquet"),
                aggregations=[
                    Aggregation("amount * fx_rate", "sum", timedelta(hours=1), name="usd")
                ],
                hop=timedelta(minutes=5),
            )
            """
        )
    )
    parity = Path(sys.executable).with_name("parity")
    result = subprocess.run(
        [str(parity), "apply", "--repo", str(tmp_path)], capture_output=True, text=True, check=False
    )
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, out
    assert "fx_rate" in out and "Traceback" not in out, out


def test_an_expr_naming_a_column_the_source_lacks_is_refused() -> None:
    with pytest.raises(DefinitionError, match=r"names column\(s\) \['fx'\]"):
        scalar_sql("amount * fx", what="feature view 'txn': field 'usd'", columns=["amount"])


def test_parity_apply_refuses_the_exploit_and_runs_nothing(tmp_path: Path) -> None:
    target = tmp_path / "pwned.csv"
    (tmp_path / "parity.yaml").write_text("project: exploit\nonline:\n  url: redis://127.0.0.1:1\n")
    pq.write_table(
        pa.table({"user_id": [1], "event_timestamp": pa.array([0], pa.timestamp("us"))}),
        tmp_path / "txn.parquet",
    )
    (tmp_path / "features.py").write_text(
        textwrap.dedent(
            f"""
            from store import Entity, FeatureView, Field, ParquetSource

            user = Entity("user", join_keys={{"user_id": "int64"}})
            txn = FeatureView(
                name="txn",
                entities=[user],
                source=ParquetSource("txn.parquet"),
                fields=[Field("x", "int64", expr={EXPLOIT.format(target=target)!r})],
            )
            """
        )
    )
    parity = Path(sys.executable).with_name("parity")
    result = subprocess.run(
        [str(parity), "apply", "--repo", str(tmp_path)], capture_output=True, text=True, check=False
    )
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, out
    assert "feature view 'txn'" in out and "field 'x'" in out and "Traceback" not in out
    assert not target.exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; COPY (SELECT 42) TO '/tmp/q.csv'",
        "COPY t TO '/tmp/q.csv'",
        "SELECT getenv('HOME')",
    ],
)
def test_a_query_source_is_one_select_statement(query: str) -> None:
    with pytest.raises(DefinitionError, match=r"query .* is refused"):
        DuckDBSource(query=query)
    DuckDBSource(query="SELECT * FROM txn WHERE amount > 0")
