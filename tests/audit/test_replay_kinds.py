"""Replay recomputes every view kind through the training-frame path (issue 11, item 1)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redis

from store.audit.replay import VALUE
from store.errors import FeatureNotFoundError
from store.served_log import SERVED_DIR, ServedLogWriter

from .agg_repo import edit_tiles, make_agg_store, tile_key


def _serve(fs, rows, features, t):  # type: ignore[no-untyped-def]
    writer = ServedLogWriter(fs.data_dir / SERVED_DIR, interval=0.01)
    writer.start()
    writer.record(fs.get_online_features(features, rows, now=t), request_id="r", request_time=t)
    writer.close()


def _by_feature(report):  # type: ignore[no-untyped-def]
    return {(r["view"], r["feature"]): r for r in report.rows}


def test_replay_of_aggregation_and_on_demand_views_is_clean(tmp_path: Path, redis_url: str) -> None:
    fs, t0 = make_agg_store(tmp_path, redis_url, "replaykinds")
    rows = [{"user_id": u, "x": 10.0 * u} for u in (1, 2, 3)]
    # read later than the materialization: the windows slide, offline and online alike
    _serve(fs, rows, ["agg", "ratio"], t0 + timedelta(minutes=20))
    report = fs.audit_replay()
    assert report.status == "ok", report.rows
    found = _by_feature(report)
    for feature in ("n_2h", "amount_2h", "amount_max_4h", "tier_last"):
        assert found[("agg", feature)]["served"] == 3
        assert found[("agg", feature)]["match_rate"] == 1.0
    assert found[("ratio", "share")]["served"] == 3  # request data comes from the log
    assert found[("ratio", "share")]["match_rate"] == 1.0
    assert found[("doubled", "*")]["served"] == 0  # covered, and says nothing was served
    fs.close()


def test_replay_finds_a_tampered_tile(tmp_path: Path, redis_url: str) -> None:
    fs, t0 = make_agg_store(tmp_path, redis_url, "replaytile")
    edit_tiles(redis.Redis.from_url(redis_url), tile_key("replaytile", 2), 0, 99)
    _serve(fs, [{"user_id": u} for u in (1, 2, 3)], ["agg:n_2h"], t0)
    report = fs.audit_replay(views=["agg"])
    assert report.status == "alert"
    assert report.counts == {"agg": {VALUE: 1}}
    assert [e["key"] for e in report.examples] == ['{"user_id":2}']
    fs.close()


def test_replay_refuses_an_unknown_view(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_agg_store(tmp_path, redis_url, "replayname")
    with pytest.raises(FeatureNotFoundError, match=r"unknown view 'ag'.*did you mean 'agg'"):
        fs.audit_replay(views=["ag"])
    fs.close()


def test_replay_of_a_window_read_before_its_new_row_was_materialized_warns(
    tmp_path: Path, redis_url: str
) -> None:
    # Materialized at T, a row lands after T, a read at t > T serves the value at T: not yet
    # materialized (warn), as for a plain view, where it used to be "value differs" (alert).
    from store.audit.replay import NOT_MATERIALIZED

    from .repo import write_rows

    fs, t0 = make_agg_store(tmp_path, redis_url, "replaylate")
    row = {"user_id": 2, "amount": 100.0, "n": 1, "tier": "gold"}
    row |= {"event_timestamp": t0 + timedelta(minutes=1), "created": t0 + timedelta(minutes=2)}
    write_rows(tmp_path, "after", [row])
    t = t0 + timedelta(minutes=5)
    rows = [{"user_id": u, "x": 10.0 * u} for u in (1, 2, 3)]
    _serve(fs, rows, ["agg:n_2h", "agg:amount_2h", "ratio"], t)
    report = fs.audit_replay(views=["agg", "ratio"], min_match_rate=0.5)  # 1 of 3 rows is late
    assert report.status == "warn", report.rows
    assert report.counts == {
        "agg": {NOT_MATERIALIZED: 2},
        "ratio": {NOT_MATERIALIZED: 1},
    }, report.counts
    assert {e["key"] for e in report.examples} == {'{"user_id":2,"x":20.0}'}
    # A tampered value read after T still alerts: it is not the value at T either.
    edit_tiles(redis.Redis.from_url(redis_url), tile_key("replaylate", 3), 0, 99)
    for f in (fs.data_dir / SERVED_DIR).iterdir():
        f.unlink()
    _serve(fs, rows, ["agg:n_2h"], t)
    tampered = fs.audit_replay(views=["agg"], min_match_rate=0.5)
    assert tampered.status == "alert"
    assert tampered.counts == {"agg": {NOT_MATERIALIZED: 1, VALUE: 1}}, tampered.counts
    fs.close()
