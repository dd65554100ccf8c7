"""Small builders shared by the online tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from store.definitions import Entity, FeatureView, Field, ParquetSource

NOW = datetime.now(UTC).replace(microsecond=123456)
USER = Entity("user", {"user_id": "int64"})


def view(
    name: str = "stats",
    fields: Sequence[tuple[str, str]] = (("amount", "float64"), ("label", "string")),
    ttl: timedelta | None = timedelta(days=1),
    entities: Sequence[Entity] = (USER,),
) -> FeatureView:
    """A feature view for tests (the source is never read by the online store)."""
    return FeatureView(
        name,
        list(entities),
        ParquetSource(f"{name}.parquet"),
        [Field(n, t) for n, t in fields],
        ttl=ttl,
    )


def rows(fv: FeatureView, records: Sequence[dict[str, Any]]) -> pa.Table:
    """``records`` as an Arrow table typed by the view (keys, features, event/created ts)."""
    schema = [pa.field(k, t.arrow) for k, t in fv.join_keys.items()]
    schema += [pa.field(f.name, f.type.arrow) for f in fv.fields]
    schema += [pa.field(n, pa.timestamp("us", tz="UTC")) for n in ("__event_ts", "__created_ts")]
    return pa.Table.from_pylist(list(records), schema=pa.schema(schema))


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def row_of(user_id: int = 1, event: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """One row of the test view: amount 1.0, label "a", landed at its event time (an hour ago
    unless ``event`` is given)."""
    event = ago(hours=1) if event is None else event
    row = {"user_id": user_id, "amount": 1.0, "label": "a", "__event_ts": event}
    return {**row, "__created_ts": event, **overrides}
