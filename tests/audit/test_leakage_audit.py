"""Leakage audit: a not-yet-landed row, a row beyond allowed_lateness and an expired value."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from store.audit.leakage import GUARD, WATERMARK

from .repo import USERS, base_rows, make_store, write_rows


def test_leakage_audit_finds_each_guarded_change(tmp_path: Path, redis_url: str) -> None:
    fs, t0 = make_store(tmp_path, redis_url, "leak")
    entities = pd.DataFrame({"user_id": list(range(1, USERS + 1)), "event_timestamp": [t0] * USERS})
    clean = fs.audit_leakage(entities, ["stats:amount", "stats:tier"])
    assert clean.status == "ok" and clean.counts == {"stats": {}} and clean.examples == []

    row = base_rows(t0)[0]
    write_rows(
        tmp_path,
        "late",
        [
            # user 1: happened before t0 but landed after it (the leakage guard)
            row
            | {
                "user_id": 1,
                "event_timestamp": t0 - timedelta(minutes=30),
                "created": t0 + timedelta(minutes=10),
                "amount": 99.0,
            },
            # user 2: landed 61 minutes after its event, beyond allowed_lateness (watermark)
            row
            | {
                "user_id": 2,
                "event_timestamp": t0 - timedelta(minutes=30),
                "created": t0 + timedelta(minutes=31),
                "amount": 98.0,
            },
        ],
    )
    times = [t0] * USERS
    times[1] = t0 + timedelta(hours=2)  # user 2 asks after the late row landed
    times[2] = t0 + timedelta(days=31)  # user 3 asks after the ttl (30 days)
    entities = pd.DataFrame({"user_id": list(range(1, USERS + 1)), "event_timestamp": times})
    report = fs.audit_leakage(entities, ["stats:amount", "stats:tier"])
    # user 3's naive row is beyond the ttl too: the naive join applies the ttl (one definition
    # with the manifest), so nothing differs there
    assert report.counts == {"stats": {GUARD: 1, WATERMARK: 1}}
    assert report.status == "alert" and report.exit_code == 1  # a row beyond allowed_lateness
    guard = next(e for e in report.examples if e["cause"] == GUARD)
    assert guard["user_id"] == 1 and guard["naive"]["amount"] == 99.0
    assert guard["guarded"]["amount"] == 1 * 1.5 + 1
    frame = fs.get_historical_features(entities, ["stats:amount", "stats:tier"])
    leak = frame.manifest["views"]["stats"]["leakage"]
    assert leak["changed_vs_naive_join"] == report.summary["changed"] == 2
    assert leak["naive_value_not_yet_landed"] == report.counts["stats"][GUARD]
    assert leak["naive_value_beyond_allowed_lateness"] == report.counts["stats"][WATERMARK]
    html = report.write_html(tmp_path / "leakage.html").read_text()
    assert "leakage guard" in html and "<i>amount:</i> 99<" in html
    fs.close()


def test_the_leakage_guard_alone_is_ok(tmp_path: Path, redis_url: str) -> None:
    """Rows landing with the usual lag are what the guard is for: ok, counted as prevented."""
    fs, t0 = make_store(tmp_path, redis_url, "leakok")
    row = base_rows(t0)[0] | {"event_timestamp": t0 - timedelta(minutes=30)}
    write_rows(tmp_path, "lag", [row | {"created": t0 + timedelta(minutes=10), "amount": 99.0}])
    entities = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [t0, t0]})
    report = fs.audit_leakage(entities, ["stats:amount"])
    assert report.counts == {"stats": {GUARD: 1}}
    assert report.status == "ok" and report.exit_code == 0
    assert "1 had not landed" in report.summary["headline"]
    fs.close()
