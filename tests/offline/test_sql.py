"""Quoting helpers and a golden test of the generated point-in-time SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from store.definitions import Entity, FeatureView, Field, ParquetSource
from store.offline import plan
from store.offline.sql import quote_ident, quote_literal, ts_literal

VIEW = FeatureView(
    name="v",
    entities=[Entity("e", join_keys={"k": "int64"})],
    source=ParquetSource("s.parquet"),
    fields=[Field("x", "float64")],
    ttl=timedelta(minutes=10),
    allowed_lateness=timedelta(seconds=5),
    availability_delay=timedelta(microseconds=7),
)

GOLDEN = (
    'SELECT e.__rid, CASE WHEN f.__event_ts IS NOT NULL AND epoch_us(e.__t) - '
    'epoch_us(f.__event_ts) <= 600000000 THEN f."x" END AS "out", CASE WHEN f.__event_ts IS NOT '
    "NULL AND epoch_us(e.__t) - epoch_us(f.__event_ts) <= 600000000 THEN f.__event_ts END AS "
    "__event_ts, CASE WHEN f.__event_ts IS NOT NULL AND epoch_us(e.__t) - epoch_us(f.__event_ts) "
    "<= 600000000 THEN f.__created_ts END AS __created_ts FROM (ENT) AS e ASOF LEFT JOIN (SELECT * "
    "FROM (SELECT *, greatest(__event_ts, __created_ts + to_microseconds(CAST(7 AS BIGINT))) AS "
    '__vis_ts FROM (SRC) AS norm WHERE "k" IS NOT NULL AND __event_ts IS NOT NULL AND '
    "__created_ts IS NOT NULL AND epoch_us(__created_ts) - epoch_us(__event_ts) <= 5000000) AS "
    'cand QUALIFY max(struct_pack(e := __event_ts, c := __created_ts, f := __file_idx, r := __row)) '
    'OVER (PARTITION BY "k" ORDER BY __vis_ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) '
    "= struct_pack(e := __event_ts, c := __created_ts, f := __file_idx, r := __row)) AS f ON "
    'e."__key_k" = f."k" AND e.__t > f.__vis_ts'
)


def test_quoting() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"
    ist = timezone(timedelta(hours=5, minutes=30))
    aware = datetime(2024, 1, 1, 5, 30, tzinfo=ist)
    assert ts_literal(aware) == ts_literal(datetime(2024, 1, 1)) == ts_literal(
        datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert "2024-01-01 00:00:00.000000+00" in ts_literal(aware)


def test_point_in_time_sql_golden() -> None:
    assert plan.point_in_time(VIEW, "SRC", "ENT", {"x": "out"}, keep=[]) == GOLDEN
