"""The manifest (what made a frame, can it be rebuilt) and source validation."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.offline.manifest import manifest_still_valid
from store.offline.retrieval import get_historical_features
from store.offline.validate import validate_view
from store.registry import load_definitions, resolve_features

from .conftest import Repo, at, make_repo, ts_array


def frame_manifest(repo: Repo) -> dict[str, object]:
    refs = resolve_features(repo.defs, ["user_stats"])
    ent = pd.DataFrame({"user_id": [1, 1, 2], "event_timestamp": [at(20), at(31), at(90)]})
    manifest: dict[str, object] = get_historical_features(
        repo.engine, repo.defs, refs, ent
    ).manifest
    return manifest


def test_manifest_records_what_made_the_frame(user_repo: Repo) -> None:
    m = frame_manifest(user_repo)
    view = user_repo.defs.views["user_stats"]
    entry = m["views"]["user_stats"]  # type: ignore[index]
    assert entry["version"] == view.version
    assert entry["features"] == ["amount", "double_amount"]
    assert entry["rule"] == {
        "ttl_us": 3_600_000_000,
        "allowed_lateness_us": None,
        "availability_delay_us": 0,
    }
    (f,) = entry["files"]
    assert f["path"].endswith("user_stats.parquet") and f["size"] > 0
    assert entry["leakage"]["changed_vs_naive_join"] == 1  # t=20: naive takes the row landed at 30
    assert entry["beyond_watermark"] == 2
    assert m["rows"] == 3 and m["parity_version"] and m["built_at"]  # type: ignore[index]
    assert manifest_still_valid(m, user_repo.engine, user_repo.defs) == []  # type: ignore[arg-type]


def test_manifest_says_when_it_can_no_longer_be_rebuilt(user_repo: Repo) -> None:
    m = frame_manifest(user_repo)
    path = user_repo.path / "data" / "user_stats.parquet"
    os.utime(path, ns=(1, 1))
    features = (user_repo.path / "features.py").read_text().replace("hours=1", "hours=2")
    (user_repo.path / "features.py").write_text(features)
    defs = load_definitions(user_repo.path)
    reasons = manifest_still_valid(m, user_repo.engine, defs)  # type: ignore[arg-type]
    assert any("was modified" in r for r in reasons)
    assert any("'user_stats' changed: version" in r for r in reasons)
    path.unlink()
    assert any("is gone" in r for r in manifest_still_valid(m, user_repo.engine))  # type: ignore[arg-type]


def test_validate_reports_defects_with_counts_examples_and_files(user_repo: Repo) -> None:
    view = user_repo.defs.views["user_stats"]
    assert validate_view(user_repo.engine, view).ok
    bad = pa.table(
        {
            "user_id": pa.array([1, None, 3, 3, 4], pa.int64()),
            "event_timestamp": ts_array([at(0), at(0), None, at(5), at(5)]),
            "created": ts_array([at(1), at(0), at(0), at(5), at(4)]),
            "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    dup = pa.table(
        {
            "user_id": pa.array([3], pa.int64()),
            "event_timestamp": ts_array([at(5)]),
            "created": ts_array([at(5)]),
            "amount": [9.0],
        }
    )
    folder = user_repo.path / "data" / "user_stats.parquet"
    folder.unlink()
    folder.mkdir()
    pq.write_table(bad, folder / "a.parquet")
    pq.write_table(dup, folder / "b.parquet")
    report = validate_view(user_repo.engine, view)
    found = {p.check: p for p in report.problems}
    assert report.rows == 6
    assert set(found) == {
        "null key",
        "null event timestamp",
        "created before event",
        "duplicate rows",
    }
    assert found["null key"].count == 1 and found["null key"].files[0].endswith("a.parquet")
    assert found["created before event"].examples[0]["user_id"] == 4
    assert found["duplicate rows"].count == 1 and len(found["duplicate rows"].files) == 2
    assert "duplicate rows" in report.render()


def test_validate_reports_definition_problems(tmp_path: Path) -> None:
    module = """
        from store.definitions import Entity, FeatureView, Field, ParquetSource
        v = FeatureView(name="v", entities=[Entity("e", join_keys={"k": "int64"})],
                        source=ParquetSource("data/missing.parquet"), fields=[Field("x", "int64")])
    """
    repo = make_repo(tmp_path, module)
    report = validate_view(repo.engine, repo.defs.views["v"])
    assert not report.ok and report.problems[0].check == "definition"
    assert "missing.parquet" in report.problems[0].message
