"""Feature repos for facade-level tests: a PitCase (see store.testing) as a real repo."""

from __future__ import annotations

import struct
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from store import FeatureStore
from store.testing import BASE_TIME, PitCase, SourceRow


def case_module(case: PitCase, path: str = "data/src") -> str:
    """The definitions module of a PitCase's view (the same view as tests/offline uses)."""
    keys = '{"k1": "int64", "k2": "string"}' if case.compound else '{"k1": "int64"}'
    created = '"created"' if case.has_created else "None"
    rule = case.rule
    return textwrap.dedent(
        f"""
        from datetime import timedelta
        from store import Entity, FeatureView, Field, ParquetSource

        e = Entity("e", join_keys={keys})
        v = FeatureView(
            name="v",
            entities=[e],
            source=ParquetSource("{path}", created_timestamp={created}),
            fields=[Field("f_int", "int64"), Field("f_float", "float64"), Field("f_str", "string")],
            ttl={rule.ttl!r},
            allowed_lateness={rule.allowed_lateness!r},
            availability_delay={rule.availability_delay!r},
        )
        """
    ).replace("datetime.timedelta", "timedelta")


def store_for(root: Path, module: str, redis_url: str, project: str = "test") -> FeatureStore:
    """Write parity.yaml (online at ``redis_url``) and features.py; return the store."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "parity.yaml").write_text(
        f"project: {project}\noffline:\n  memory_limit: 1GB\n  threads: 2\n"
        f"online:\n  url: {redis_url}\n"
    )
    (root / "features.py").write_text(module)
    return FeatureStore(root)


def bits(value: Any) -> Any:
    """A value compared bit for bit (floats by their IEEE bytes, so NaN == NaN and -0.0 != 0.0)."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    return value


def recent(case: PitCase, delta: timedelta) -> PitCase:
    """The same case moved ``delta`` later (online keys expire in wall-clock time, so data
    served online must be recent)."""

    def move(t: datetime | None) -> datetime | None:
        return None if t is None else t + delta

    rows = [
        SourceRow(r.key, move(r.event_ts), move(r.created_ts), r.values, r.file, r.row)
        for r in case.rows
    ]
    entities = [(k, t + delta) for k, t in case.entities]
    return PitCase(rows, entities, case.rule, case.compound, case.has_created, case.files)


def to_recent(t: datetime) -> tuple[datetime, timedelta]:
    """A shift that moves ``store.testing.BASE_TIME`` to a whole hour tomorrow, so that no
    key has expired in wall-clock time by the time the test reads it."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return t + (now - BASE_TIME), now - BASE_TIME
