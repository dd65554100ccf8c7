"""Replay of a window never written online: the empty window's value is what was served."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from store.served_log import SERVED_DIR, ServedLogWriter

from .agg_repo import make_agg_store


def test_replay_of_a_never_written_window_key_is_clean(tmp_path: Path, redis_url: str) -> None:
    # Found by the skew lab: a card with no transaction yet is served count 0 (the empty
    # window) with status MISSING; the replay took MISSING for "nothing served" and reported a
    # false "not yet materialized" although the value served equals the offline rule's.
    fs, t0 = make_agg_store(tmp_path, redis_url, "replayempty")
    t = t0 + timedelta(minutes=20)
    resp = fs.get_online_features(["agg:n_2h"], [{"user_id": 999}], now=t)
    assert [str(s) for s in resp.columns[0].statuses] == ["MISSING"]
    assert resp.columns[0].values == [0]
    writer = ServedLogWriter(fs.data_dir / SERVED_DIR, interval=0.01)
    writer.start()
    writer.record(resp, request_id="r", request_time=t)
    writer.close()
    report = fs.audit_replay(views=["agg"])
    assert report.status == "ok", report.rows
    assert report.rows[0]["match_rate"] == 1.0
    fs.close()
