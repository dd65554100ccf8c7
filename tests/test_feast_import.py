"""``parity import-feast`` without Feast: the repo is parsed, never run."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from store import FeatureStore
from store.errors import ConfigError
from store.feast_import import import_feast
from tests.feast_compat.repos import NOW, feast_repo, parity_repo


def _parity(*args: str) -> subprocess.CompletedProcess[str]:
    parity = Path(sys.executable).with_name("parity")
    return subprocess.run([str(parity), *args], capture_output=True, text=True, timeout=120)


def test_two_views_a_service_and_a_push_source_become_their_parity_twin(
    tmp_path: Path, redis_url: str
) -> None:
    feast = feast_repo(tmp_path / "feast", "http://127.0.0.1:1")
    run = _parity("import-feast", str(feast), "--out", str(tmp_path / "imported"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Not converted" not in run.stdout
    assert "driver_hourly_stats: 3 of 3 probe rows" in " ".join(run.stdout.split())
    imported = FeatureStore(tmp_path / "imported")
    twin = FeatureStore(parity_repo(tmp_path / "twin", redis_url, "twin"))
    a, b = imported.definitions, twin.definitions
    assert list(a.views) == list(b.views)
    for name, view in a.views.items():
        other = b.views[name]
        assert (view.join_keys, view.fields, view.ttl) == (other.join_keys, other.fields, other.ttl)
        assert view.source.created_timestamp == "created"
    assert {n: s.features for n, s in a.services.items()} == {
        n: s.features for n, s in b.services.items()
    }
    assert a.push_sources["driver_stats_push"].view_names == ["driver_hourly_stats_fresh"]
    entity = pd.DataFrame(
        {"driver_id": [1001, 1002], "customer_id": ["c2", "c1"], "event_timestamp": [NOW] * 2}
    )
    frames = [
        fs.get_historical_features(entity, "driver_activity").to_df() for fs in (imported, twin)
    ]
    pd.testing.assert_frame_equal(*frames)
    assert yaml.safe_load((tmp_path / "imported/parity.yaml").read_text())["project"] == "compat"


UNSUPPORTED = """
from datetime import timedelta
import numpy as np
from feast import Entity, FeatureView, Field, FileSource, KafkaSource, StreamFeatureView
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Array, Bytes, Float64, Int64, String

user = Entity(name="user", join_keys=["user_id"])
src = FileSource(
    path="data/users.parquet",
    timestamp_field="ts",
    field_mapping={"raw_score": "score"},
)
users = FeatureView(
    name="users",
    entities=[user],
    ttl=timedelta(seconds=0),
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="score", dtype=Float64),
        Field(name="tags", dtype=Array(String)),
        Field(name="blob", dtype=Bytes),
    ],
    source=src,
)
remote = FeatureView(
    name="remote",
    entities=[user],
    schema=[Field(name="x", dtype=Float64)],
    source=FileSource(path="s3://bucket/x.parquet", timestamp_field="ts"),
)
clicks = StreamFeatureView(name="clicks", entities=[user], source=KafkaSource(name="k"))
weights = np.ones(3)

@on_demand_feature_view(
    sources=[users], schema=[Field(name="double", dtype=Float64)], mode="python"
)
def doubled(inputs):
    return {"double": [s * 2 for s in inputs["score"]]}
"""


def test_what_has_no_equivalent_is_reported_with_why(tmp_path: Path) -> None:
    repo = tmp_path / "feast"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "project: my-proj\nregistry: r.db\nprovider: local\n"
        "online_store: {type: redis, connection_string: 'redis.local:6380,password=pw'}\n"
        "offline_store: {type: bigquery}\n"
    )
    (repo / "defs.py").write_text(UNSUPPORTED)
    pd.DataFrame(
        {
            "user_id": [1, 2],
            "ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
            "raw_score": [0.5, 1.5],
            "tags": [["a"], []],
            "blob": [b"x", b"y"],
        }
    ).to_parquet(repo / "data/users.parquet")
    result = import_feast(repo, tmp_path / "out")
    skipped = "\n".join(result.skipped)
    assert "field users:blob" in skipped and "no Bytes type" in skipped
    assert "FeatureView 'remote'" in skipped and "remote; Parity reads local Parquet" in skipped
    assert "StreamFeatureView 'clicks'" in skipped
    assert "on_demand_feature_view 'doubled'" in skipped and "mode='python'" in skipped
    notes = "\n".join(result.notes)
    assert "offline store 'bigquery'" in notes and "no created_timestamp_column" in notes
    assert "project 'my-proj' is named 'my_proj'" in notes
    config = yaml.safe_load((tmp_path / "out/parity.yaml").read_text())
    assert config["online"] == {"url": "redis://:pw@redis.local:6380/0"}
    fs = FeatureStore(tmp_path / "out")
    users = fs.get_feature_view("users")
    assert users.ttl is None  # Feast's 0 is no limit
    assert [(f.name, str(f.type), f.expr) for f in users.fields] == [
        ("score", "float64", '"raw_score"'),
        ("tags", "list<string>", None),
    ]
    assert users.join_keys["user_id"].scalar == "int64"
    frame = fs.get_historical_features(
        pd.DataFrame({"user_id": [2], "event_timestamp": [NOW]}), ["users:score"]
    )
    assert frame.to_df()["score"].tolist() == [1.5]


def test_bad_paths_are_usage_errors(tmp_path: Path) -> None:
    run = _parity("import-feast", str(tmp_path))
    assert run.returncode == 2 and "feature_store.yaml" in run.stderr
    feast = feast_repo(tmp_path / f"f{uuid.uuid4().hex[:6]}", "http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="outside the Feast repo"):
        import_feast(feast, feast / "inside")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "feature_store.yaml").write_text("project: b\n")
    (broken / "defs.py").write_text("this is not python(\n")
    result = import_feast(broken, tmp_path / "broken_out")
    assert any("defs.py: not parsed" in s for s in result.skipped)


def test_string_entities_and_a_repo_that_does_not_fit_its_data(tmp_path: Path) -> None:
    repo = tmp_path / "feast"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text("project: s\n")
    (repo / "defs.py").write_text(
        "from feast import Entity, FeatureView, Field, FileSource\n"
        "from feast.types import Float64\n"
        "user = Entity(name='user', join_keys=['user_id'])\n"
        "v = FeatureView(name='v', entities=['user'],"
        " schema=[Field(name='missing', dtype=Float64)],"
        " source=FileSource(path='data/u.parquet', timestamp_field='ts'))\n"
    )
    pd.DataFrame(
        {"user_id": [1], "ts": pd.to_datetime(["2026-01-01"], utc=True), "x": [1.0]}
    ).to_parquet(repo / "data/u.parquet")
    run = _parity("import-feast", str(repo), "--out", str(tmp_path / "out"), "--sample", "0")
    assert run.returncode == 2, run.stdout
    assert "converted 1 feature view(s): v" in run.stdout
    assert "the generated repo does not load" in run.stderr and "missing" in run.stderr
    text = (tmp_path / "out/features.py").read_text()
    assert "join_keys={'user_id': 'int64'}" in text  # typed from the Parquet file


def test_a_timedelta_too_big_is_reported_not_a_crash(tmp_path: Path) -> None:
    """timedelta(days=10**10) raises OverflowError when built: the view is not convertible."""
    repo = tmp_path / "feast"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text("project: p\nregistry: r.db\nprovider: local\n")
    (repo / "defs.py").write_text(
        UNSUPPORTED.replace("ttl=timedelta(seconds=0)", "ttl=timedelta(days=10000000000)")
    )
    pd.DataFrame(
        {
            "user_id": [1],
            "ts": pd.to_datetime(["2026-01-01"], utc=True),
            "raw_score": [0.5],
            "tags": [["a"]],
            "blob": [b"x"],
        }
    ).to_parquet(repo / "data/users.parquet")
    result = import_feast(repo, tmp_path / "out")
    assert "FeatureView 'users'" in "\n".join(result.skipped)
