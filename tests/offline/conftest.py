"""Helpers for offline tests: tiny feature repos in a temporary folder, on real DuckDB."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store.config import OfflineConfig
from store.definitions import Entity, FeatureView, Field, ParquetSource
from store.offline.engine import OfflineEngine
from store.registry import Definitions, load_definitions
from store.testing import PitCase, Rule

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """T0 + minutes."""
    return T0 + timedelta(minutes=minutes)


@dataclass
class Repo:
    """A feature repo on disk, loaded."""

    path: Path
    defs: Definitions
    engine: OfflineEngine


def make_repo(root: Path, module: str, tables: dict[str, pa.Table] | None = None) -> Repo:
    """Write ``parity.yaml``, ``features.py`` (``module``) and Parquet files under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "parity.yaml").write_text(
        "project: test\noffline:\n  memory_limit: 1GB\n  threads: 2\n"
    )
    (root / "features.py").write_text(textwrap.dedent(module))
    for rel, table in (tables or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return Repo(root, load_definitions(root), engine_for(root))


def engine_for(root: Path) -> OfflineEngine:
    return OfflineEngine(root, root / "data", OfflineConfig(memory_limit="1GB", threads=2))


def ts_array(values: list[datetime | None], unit: str = "us", tz: str | None = "UTC") -> pa.Array:
    """Timestamps as Arrow in any unit; naive arrays hold UTC wall time."""
    plain = [None if v is None else v.astimezone(UTC).replace(tzinfo=None) for v in values]
    arr = pa.array(plain, pa.timestamp("us"))
    if unit != "us":
        arr = arr.cast(pa.timestamp(unit), safe=False)
    if tz is not None:
        arr = arr.cast(pa.timestamp(unit, tz="UTC")).cast(pa.timestamp(unit, tz=tz))
    return arr


def case_view(case: PitCase, path: str = "data/src") -> FeatureView:
    """The feature view a PitCase's rows are read through."""
    keys: dict[str, str] = {"k1": "int64"}
    if case.compound:
        keys["k2"] = "string"
    return FeatureView(
        name="v",
        entities=[Entity("e", join_keys=keys)],
        source=ParquetSource(path, created_timestamp="created" if case.has_created else None),
        fields=[Field("f_int", "int64"), Field("f_float", "float64"), Field("f_str", "string")],
        ttl=case.rule.ttl,
        allowed_lateness=case.rule.allowed_lateness,
        availability_delay=case.rule.availability_delay,
    )


def write_case(root: Path, case: PitCase, *, unit: str = "us", tz: str | None = "UTC") -> None:
    """Write a PitCase's rows as Parquet files ``root/data/src/part-NNN.parquet``."""
    folder = root / "data" / "src"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(case.files):
        name = f"part-{i:03d}.parquet"
        rows = sorted((r for r in case.rows if r.file == name), key=lambda r: r.row)
        cols: dict[str, Any] = {"k1": pa.array([r.key[0] for r in rows], pa.int64())}
        if case.compound:
            cols["k2"] = pa.array([r.key[1] for r in rows], pa.string())
        cols["event_timestamp"] = ts_array([r.event_ts for r in rows], unit, tz)
        if case.has_created:
            cols["created"] = ts_array([r.created_ts for r in rows], unit, tz)
        cols["f_int"] = pa.array([r.values[0] for r in rows], pa.int64())
        cols["f_float"] = pa.array([r.values[1] for r in rows], pa.float64())
        cols["f_str"] = pa.array([r.values[2] for r in rows], pa.string())
        pq.write_table(pa.table(cols), folder / name)


def rule_of(view: FeatureView) -> Rule:
    return Rule(view.ttl, view.allowed_lateness, view.availability_delay)


@pytest.fixture
def user_repo(tmp_path: Path) -> Repo:
    """A one-view repo: user_stats(amount, double_amount) over data/user_stats.parquet."""
    table = pa.table(
        {
            "user_id": pa.array([1, 1, 2], pa.int64()),
            "event_timestamp": ts_array([at(0), at(10), at(5)]),
            "created": ts_array([at(1), at(30), at(5)]),
            "amount": [1.0, 2.0, 3.0],
        }
    )
    module = """
        from datetime import timedelta
        from store.definitions import Entity, FeatureView, Field, ParquetSource

        user = Entity("user", join_keys={"user_id": "int64"})
        user_stats = FeatureView(
            name="user_stats",
            entities=[user],
            source=ParquetSource("data/user_stats.parquet", created_timestamp="created"),
            fields=[
                Field("amount", "float64"),
                Field("double_amount", "float64", expr="amount * 2"),
            ],
            ttl=timedelta(hours=1),
        )
    """
    return make_repo(tmp_path, module, {"data/user_stats.parquet": table})
