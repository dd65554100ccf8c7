"""Parity audit on real Redis + DuckDB: each injected skew is found, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from store.audit import AuditReport
from store.audit.parity import EXPIRED, EXTRA, MISSING, NEWER, STALE, TYPE, VALUE, VERSION
from store.online.codec import encode
from store.types import ValueType

from ..conftest import Cluster
from .repo import MODULE, base_rows, make_store, write_rows


def _key(project: str, user: int) -> str:
    return f"p:{{{project}|{user}}}:stats"


def _counts(report: Any) -> dict[str, int]:
    return dict(report.counts.get("stats", {}))


def test_clean_store_audits_clean(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_store(tmp_path, redis_url, "pclean")
    report = fs.audit_parity()
    assert report.status == "ok" and report.exit_code == 0
    assert report.summary["differences"] == 0 and report.summary["keys"] == 40
    assert _counts(report) == {} and report.examples == []
    fs.close()


def test_each_injected_skew_is_found_and_nothing_else(tmp_path: Path, redis_url: str) -> None:
    project = "pskew"
    fs, _ = make_store(tmp_path, redis_url, project)
    client = redis.Redis.from_url(redis_url)
    # a value changed behind the store's back, and a payload of the wrong type
    client.hset(_key(project, 3), "amount", encode(123.25, ValueType("float64")))
    client.hset(_key(project, 4), "n", encode("x", ValueType("string")))
    # a key deleted, and a key the offline rule does not give
    client.delete(_key(project, 5))
    extra = dict(client.hgetall(_key(project, 6)))
    client.hset(_key(project, 999), mapping=extra)
    report = fs.audit_parity()
    assert _counts(report) == {VALUE: 1, TYPE: 1, MISSING: 1, EXTRA: 1}
    assert report.status == "alert" and report.exit_code == 1
    value = next(e for e in report.examples if e["class"] == VALUE)
    assert (value["key"], value["feature"], value["online"]) == ("3", "amount", 123.25)
    assert value["offline"] == 3 * 1.5 + 1
    assert next(e for e in report.examples if e["class"] == EXTRA)["key"] == "999"
    html = report.write_html(tmp_path / "parity.html").read_text()
    assert "value differs" in html and "123.2" in html
    assert AuditReport.from_json(report.to_json()).counts == report.counts
    rows = {(r["view"], r["feature"]): r["count"] for r in report.rows}  # type: ignore[index]
    assert rows == {
        ("stats", "*"): 2,
        ("stats", "amount"): 1,
        ("stats", "n"): 1,
        ("stats", "tier"): 0,
    }
    # a sample picks the same keys every time
    one, two = fs.audit_parity(sample=10), fs.audit_parity(sample=10)
    assert one.summary["keys"] == 10 and one.examples == two.examples
    fs.close()


def test_stale_materialization_and_pushed_rows(tmp_path: Path, redis_url: str) -> None:
    project = "pstale"
    fs, t0 = make_store(tmp_path, redis_url, project)
    # data landed after T for user 1 (newer event) and a new user 77; not re-materialized
    late = [dict(r) for r in base_rows(t0)[:1]]
    late[0] |= {
        "event_timestamp": t0 - timedelta(minutes=30),
        "created": t0 - timedelta(minutes=29),
    }
    new = dict(late[0]) | {"user_id": 77}
    write_rows(tmp_path, "landed_after", [late[0], new])
    report = fs.audit_parity()
    assert _counts(report) == {STALE: 1, MISSING: 1}
    # a push after T is newer online than the T snapshot: reported, not an alert
    fs2, _ = make_store(tmp_path / "push", redis_url, project + "p")
    fs2.push("stats", [{"user_id": 2, "event_timestamp": t0, "amount": 1.0, "n": 1, "tier": "x"}])
    pushed = fs2.audit_parity()
    assert _counts(pushed) == {NEWER: 1} and pushed.status == "ok"
    fs.close()
    fs2.close()


def test_changed_definition_is_a_version_mismatch(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_store(tmp_path, redis_url, "pver")
    (tmp_path / "features.py").write_text(MODULE.replace("hours=1", "hours=2"))
    from store import FeatureStore

    fs2 = FeatureStore(tmp_path)
    fs2.apply()
    report = fs2.audit_parity()
    assert _counts(report) == {VERSION: 40}
    fs.close()
    fs2.close()


@pytest.mark.cluster
def test_parity_audit_on_a_cluster(tmp_path: Path, redis_cluster: Cluster) -> None:
    redis_cluster.flush()
    project = "pcluster"
    fs, _ = make_store(tmp_path, redis_cluster.url, project, cluster=True)
    assert fs.audit_parity().summary["differences"] == 0
    client = redis_cluster.client()
    client.hset(_key(project, 999), mapping={"_e": b"1", "_c": b"1", "_v": b"x"})
    client.hset(_key(project, 3), "amount", encode(7.0, ValueType("float64")))
    # an extra key is found on whichever node holds it; its row is far past the ttl
    assert _counts(fs.audit_parity()) == {EXPIRED: 1, VALUE: 1}
    fs.close()
    client.close()
