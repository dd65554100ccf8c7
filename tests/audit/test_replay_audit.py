"""Replay audit: served values recomputed offline; each injected skew is attributed."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import redis

from store import FeatureStore
from store.audit.replay import DEFINITION, NOT_MATERIALIZED, VALUE
from store.online.codec import encode
from store.served_log import ServedLogWriter
from store.types import ValueType

from .repo import MODULE, base_rows, make_store, now, write_rows

ROWS = [{"user_id": u} for u in range(1, 11)]


def _serve(fs: FeatureStore) -> None:
    writer = ServedLogWriter(fs.data_dir / "served", interval=0.01)
    writer.start()
    response = fs.get_online_features(["stats"], ROWS)
    writer.record(response, request_id="r1", request_time=now())
    writer.close()


def test_replay_audit(tmp_path: Path, redis_url: str) -> None:
    fs, t0 = make_store(tmp_path, redis_url, "replay")
    _serve(fs)
    clean = fs.audit_replay()
    assert clean.status == "ok" and clean.summary == {
        "headline": "0 of 30 served values differ from the offline replay",
        "served": 30,
        "mismatched": 0,
    }
    amount = next(r for r in clean.rows if r["feature"] == "amount")  # type: ignore[index]
    assert amount["match_rate"] == 1.0 and amount["smape_max"] == 0.0

    shutil.rmtree(fs.data_dir / "served")
    client = redis.Redis.from_url(redis_url)
    client.hset("p:{replay|3}:stats", "amount", encode(123.25, ValueType("float64")))
    row = base_rows(t0)[0] | {
        "user_id": 4,
        "event_timestamp": t0 - timedelta(minutes=30),
        "created": t0 - timedelta(minutes=29),
    }
    write_rows(tmp_path, "landed", [row])  # landed but not materialized
    _serve(fs)
    report = fs.audit_replay()
    assert report.counts == {"stats": {VALUE: 1, NOT_MATERIALIZED: 3}}
    assert report.status == "alert" and report.exit_code == 1
    value = next(e for e in report.examples if e["cause"] == VALUE)
    assert (value["served"], value["offline"]) == (123.25, 3 * 1.5 + 1)
    fs.close()


def test_replay_attributes_a_definition_change(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_store(tmp_path, redis_url, "replayver")
    (tmp_path / "features.py").write_text(MODULE.replace("hours=1", "hours=2"))
    fs2 = FeatureStore(tmp_path)
    fs2.apply()  # a new version, not materialized: every key online is of the old one
    _serve(fs2)
    report = fs2.audit_replay()
    assert report.counts == {"stats": {DEFINITION: 30}}
    fs.close()
    fs2.close()


def test_replay_warns_on_logged_keys_that_fit_no_type(tmp_path: Path, redis_url: str) -> None:
    # A malformed logged key was replayed as null with only a note: a null served value then
    # "matched" and the audit stayed OK.
    import json

    fs, _ = make_store(tmp_path, redis_url, "replaybad")
    writer = ServedLogWriter(fs.data_dir / "served", interval=0.01)
    writer.start()
    response = fs.get_online_features(["stats"], [{"user_id": 999}])  # unknown: nulls served
    writer.record(response, request_id="r1", request_time=now())
    writer.close()
    assert fs.audit_replay().status == "ok"
    [log] = sorted((fs.data_dir / "served").iterdir())
    record = json.loads(log.read_text().splitlines()[0])
    record["entities"]["user_id"] = ["abc"]
    log.write_text(json.dumps(record) + "\n")
    report = fs.audit_replay()
    assert report.status == "warn", report.rows
    first = report.rows[0]
    assert isinstance(first, dict) and first["malformed"] == 1 and "'abc'" in first["note"]
    assert "1 logged key/request value(s) fit no type" in report.summary["headline"]
    fs.close()
