"""Quoting helpers and a golden test of the generated point-in-time SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

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

GOLDEN = Path(__file__).parent / "golden" / "point_in_time.sql"


def test_quoting() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"
    ist = timezone(timedelta(hours=5, minutes=30))
    aware = datetime(2024, 1, 1, 5, 30, tzinfo=ist)
    assert (
        ts_literal(aware)
        == ts_literal(datetime(2024, 1, 1))
        == ts_literal(datetime(2024, 1, 1, tzinfo=UTC))
    )
    assert "2024-01-01 00:00:00.000000+00" in ts_literal(aware)


def test_point_in_time_sql_golden() -> None:
    # Regenerate deliberately (and review the diff) when the plan changes on purpose.
    sql = plan.point_in_time(VIEW, "SRC", "ENT", {"x": "out"}, keep=[]).as_query()
    assert sql == " ".join(GOLDEN.read_text().split("\n")).strip()
