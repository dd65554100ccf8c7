"""Parity, leakage and schema audits cover aggregation and on-demand views (real Redis, DuckDB)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from typer.testing import CliRunner

from store.audit import AuditReport
from store.audit.leakage import GUARD, WATERMARK
from store.audit.parity import MISSING, NEWER, SOURCE_DIFFERS, STALE, VALUE, VERSION
from store.cli import app
from store.served_log import SERVED_DIR, ServedLogWriter

from .agg_repo import BAD, MODULE, edit_tiles, make_agg_store, tile_key
from .repo import USERS, base_rows, write_rows

runner = CliRunner()


def _rows(report: AuditReport, view: str) -> dict[str, dict[str, Any]]:
    return {r["feature"]: r for r in report.rows if isinstance(r, dict) and r["view"] == view}


def test_parity_of_a_clean_aggregation_and_on_demand_view(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_agg_store(tmp_path, redis_url, "aggclean")
    report = fs.audit_parity()
    assert report.summary["differences"] == 0
    assert report.counts["agg"] == {} and report.counts["doubled"] == {}
    agg = _rows(report, "agg")
    assert set(agg) == {"*", "n_2h", "amount_2h", "amount_max_4h", "tier_last"}
    assert agg["*"]["keys"] == USERS and agg["*"]["status"] == "ok"
    doubled = _rows(report, "doubled")
    assert doubled["n_twice"]["keys"] == USERS and doubled["n_twice"]["status"] == "ok"
    # request data: no served log here, so it is not compared, and the report says so
    ratio = _rows(report, "ratio")["*"]
    # nothing is wrong, so no warning: the row says why it could not be compared
    assert ratio["status"] == "ok" and "needs request data (x)" in ratio["note"]
    assert report.status == "ok" and report.exit_code == 0
    assert any("ratio" in s for s in report.summary["not_compared"])
    html = report.write_html(tmp_path / "parity.html").read_text()
    assert "not compared: needs request data (x)" in html
    # auditing the on-demand view alone brings its source view
    only = fs.audit_parity(["doubled"])
    assert set(only.counts) == {"agg", "doubled"}
    fs.close()


def test_parity_finds_tampered_and_missing_tiles(tmp_path: Path, redis_url: str) -> None:
    project = "aggskew"
    fs, _ = make_agg_store(tmp_path, redis_url, project)
    client = redis.Redis.from_url(redis_url)
    edit_tiles(client, tile_key(project, 3), 0, lambda n: n + 5)  # n_2h: 5 more per tile online
    client.delete(tile_key(project, 5))
    report = fs.audit_parity(["agg", "doubled"])
    assert report.counts["agg"] == {VALUE: 1, MISSING: 1}
    assert report.status == "alert" and report.exit_code == 1
    value = next(e for e in report.examples if e["class"] == VALUE)
    assert (value["key"], value["feature"]) == ("3", "n_2h")
    assert value["online"] == value["offline"] + 2 * 5  # both tiles of the window
    # the on-demand view sees the same skew through its input: counted under agg, not twice
    assert report.counts["doubled"] == {SOURCE_DIFFERS: 2}
    assert _rows(report, "doubled")["n_twice"]["status"] == "ok"
    assert _rows(report, "agg")["*"]["count"] == 1 and _rows(report, "agg")["n_2h"]["count"] == 1
    html = report.write_html(tmp_path / "parity.html").read_text()
    assert "value differs" in html and "source differs" in html
    assert AuditReport.from_json(report.to_json()).counts == report.counts
    one, two = fs.audit_parity(["agg"], sample=10), fs.audit_parity(["agg"], sample=10)
    assert one.summary["keys"] == 10 and one.examples == two.examples
    fs.close()
    client.close()


def test_parity_stale_newer_and_version(tmp_path: Path, redis_url: str) -> None:
    project = "aggstale"
    fs, t0 = make_agg_store(tmp_path, redis_url, project, materialize=False)
    fs.materialize(t0 - timedelta(minutes=30))
    fs.materialize_incremental(t0)  # nothing new: every key keeps its tiles as of t0 - 30 min
    assert fs.audit_parity(["agg"]).summary["differences"] == 0
    # a row of user 7 that landed in [t0 - 30 min, t0) after the incremental run
    late = base_rows(t0)[0] | {"user_id": 7, "amount": 50.0}
    late |= {"event_timestamp": t0 - timedelta(minutes=20), "created": t0 - timedelta(minutes=10)}
    write_rows(tmp_path, "after_incremental", [late])
    report = fs.audit_parity(["agg"])
    assert report.counts["agg"] == {STALE: 1}
    stale = next(e for e in report.examples if e["class"] == STALE)
    assert stale["key"] == "7" and stale["last_visible"] == t0 - timedelta(minutes=10)
    # a push after the watermark writes tiles as of its landing time: ahead, not an alert
    fs.push("agg", [{"user_id": 9, "event_timestamp": t0, "amount": 1.0, "n": 1, "tier": "x"}])
    pushed = fs.audit_parity(["agg"])
    assert pushed.counts["agg"] == {STALE: 1, NEWER: 1}
    fs.close()
    # a changed definition applied but not materialized: every key is of another version
    (tmp_path / "features.py").write_text(
        MODULE.replace("TWICE", 'df["n_2h"] * 2').replace("hours=1)", "hours=2)")
    )
    from store import FeatureStore

    with FeatureStore(tmp_path) as fs2:
        fs2.apply()
        assert fs2.audit_parity(["agg"]).counts["agg"] == {VERSION: USERS}


def test_leakage_of_an_aggregation_view(tmp_path: Path, redis_url: str) -> None:
    fs, t0 = make_agg_store(tmp_path, redis_url, "aggleak")
    users = list(range(1, USERS + 1))
    features = ["agg:n_2h", "agg:amount_max_4h", "doubled"]
    at_t0 = pd.DataFrame({"user_id": users, "event_timestamp": [t0] * USERS})
    clean = fs.audit_leakage(at_t0, features)
    assert clean.counts["agg"] == {} and clean.status == "ok"
    row = base_rows(t0)[0] | {"event_timestamp": t0 - timedelta(minutes=30)}
    write_rows(
        tmp_path,
        "late",
        [
            # user 1: happened before t0, landed after it: a naive aggregation at t0 counts it
            row | {"user_id": 1, "amount": 99.0, "created": t0 + timedelta(minutes=10)},
            # user 2: landed 61 minutes after its event, beyond allowed_lateness (1 h)
            row | {"user_id": 2, "amount": 98.0, "created": t0 + timedelta(minutes=31)},
        ],
    )
    times = [t0] * USERS
    times[1] = t0 + timedelta(hours=2)  # user 2 asks after its late row landed
    entities = pd.DataFrame({"user_id": users, "event_timestamp": times})
    report = fs.audit_leakage(entities, features)
    # hand-computed: user 1's 4h max is 99 naive vs 1*1.5+2 guarded (the guard), user 2's is
    # 98 naive vs 2*1.5+2 (the watermark); no other row has a late or unlanded row
    assert report.counts["agg"] == {GUARD: 1, WATERMARK: 1}
    assert report.status == "alert"  # a row landed beyond allowed_lateness
    guard = next(e for e in report.examples if e["cause"] == GUARD)
    assert guard["user_id"] == 1 and guard["rows_not_landed"] == 1
    assert guard["naive"]["amount_max_4h"] == 99.0 and guard["guarded"]["amount_max_4h"] == 3.5
    late = next(e for e in report.examples if e["cause"] == WATERMARK)
    assert late["user_id"] == 2 and late["rows_too_late"] == 1
    assert late["naive"]["amount_max_4h"] == 98.0 and late["guarded"]["amount_max_4h"] == 5.0
    doubled = next(r for r in report.rows if isinstance(r, dict) and r["view"] == "doubled")
    assert "counted under agg" in doubled["note"] and doubled["status"] == "alert"
    assert report.params["views"]["agg"] == ["n_2h", "amount_max_4h"]
    fs.close()


def test_schema_of_aggregation_and_on_demand_views(tmp_path: Path, redis_url: str) -> None:
    project = "aggschema"
    fs, _ = make_agg_store(tmp_path, redis_url, project)
    clean = fs.audit_schema()
    agg = _rows(clean, "agg")
    assert {f: r["status"] for f, r in agg.items()} == dict.fromkeys(agg, "ok")
    assert agg["amount_2h"]["source"] == "double" and agg["n_2h"]["source"] == "rows"
    assert agg["n_2h"]["online_sampled"] == USERS
    assert _rows(clean, "doubled")["n_twice"]["status"] == "ok"
    assert "not checked: needs request data (x)" in _rows(clean, "ratio")["*"]["note"]
    assert clean.status == "ok"

    client = redis.Redis.from_url(redis_url)
    edit_tiles(client, tile_key(project, 8), 2, "x")  # a max of amounts that is text
    tampered = fs.audit_schema()
    assert tampered.counts["agg"] == {"online type": 1} and tampered.status == "alert"
    assert _rows(tampered, "agg")["amount_max_4h"]["online_type_mismatch"] == 1
    fs.close()
    client.close()

    bad, _ = make_agg_store(tmp_path / "bad", redis_url, project + "b", udf=BAD)
    report = bad.audit_schema(["doubled"])
    row = _rows(report, "doubled")["n_twice"]
    assert row["status"] == "alert" and report.counts["doubled"] == {"output type": 1}
    assert "declared int64" in row["reasons"][0]
    bad.close()


def test_request_data_from_the_served_log(tmp_path: Path, redis_url: str) -> None:
    fs, t0 = make_agg_store(tmp_path, redis_url, "aggreq")
    rows = [{"user_id": u, "x": 10.0 * u} for u in (1, 2, 3)]
    served = fs.get_online_features(["ratio"], rows, now=t0)
    writer = ServedLogWriter(fs.data_dir / SERVED_DIR)
    writer.start()
    writer.record(served, request_id="r1", request_time=t0)
    writer.close()
    report = fs.audit_parity(["ratio"])
    share = _rows(report, "ratio")["share"]
    assert share["keys"] == 3 and share["status"] == "ok" and report.status == "ok"
    schema = fs.audit_schema(["ratio"])
    assert _rows(schema, "ratio")["share"]["status"] == "ok" and schema.status == "ok"
    fs.close()


def test_cli_audits_cover_aggregation_and_on_demand_views(tmp_path: Path, redis_url: str) -> None:
    root = tmp_path / "repo"
    fs, t0 = make_agg_store(root, redis_url, "aggcli")
    fs.close()
    entities = tmp_path / "entities.parquet"
    pd.DataFrame({"user_id": [1, 2], "event_timestamp": [t0, t0]}).to_parquet(entities)
    out, html = tmp_path / "report.json", tmp_path / "report.html"
    reports = ["--json", str(out), "--html", str(html)]
    for args in (
        ["parity", "--view", "doubled"],
        ["schema", "--view", "agg"],
        ["leakage", "--entities", str(entities), "-f", "doubled:n_twice"],
    ):
        result = runner.invoke(app, ["audit", *args, "--repo", str(root), *reports])
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text())
        assert "agg" in data["counts"], args
        assert "agg" in html.read_text()
    parity = runner.invoke(app, ["audit", "parity", "--repo", str(root)])
    assert parity.exit_code == 0 and "not compared" in parity.output


def test_unusual_or_malformed_logged_request_data_is_reported_never_fatal(
    tmp_path: Path, redis_url: str
) -> None:
    # issue 12 item 5: one read with request data "NaN" made `audit parity` crash
    # (ArrowInvalid: Could not convert 'NaN' with type str) for as long as the log existed.
    fs, t0 = make_agg_store(tmp_path, redis_url, "aggnan")
    rows = [{"user_id": 1, "x": "NaN"}, {"user_id": 2, "x": 20.0}]
    served = fs.get_online_features(["ratio"], rows, now=t0)
    writer = ServedLogWriter(fs.data_dir / SERVED_DIR)
    writer.start()
    writer.record(served, request_id="r1", request_time=t0)
    writer.close()
    report = fs.audit_parity(["ratio"])
    assert _rows(report, "ratio")["share"]["keys"] == 2 and report.status == "ok"
    # A value that fits no float, and records that are not records at all, written by hand.
    [log] = sorted((fs.data_dir / SERVED_DIR).iterdir())
    record = json.loads(log.read_text().splitlines()[0])
    record["entities"]["x"] = ["abc", 20.0]
    broken = {"request_id": "r3", "features": "not a list"}
    with log.open("a") as out:
        out.write(json.dumps(record) + "\n" + json.dumps(broken) + "\n")
    report = fs.audit_parity(["ratio"])
    notes = [r["note"] for r in report.rows if r["view"] == "ratio" and "note" in r]
    assert report.status == "warn", report.summary
    assert any("'x' must be float64" in n and "'abc'" in n for n in notes), notes
    assert _rows(report, "ratio")["share"]["status"] == "ok"
    # The other audits that read the log run too (each reports what it can).
    for audit in (fs.audit_schema, fs.audit_replay):
        assert audit().status in ("ok", "warn", "alert")
    fs.close()


def test_every_logged_request_malformed_is_a_warning_not_ok(tmp_path: Path, redis_url: str) -> None:
    # Partly malformed warned, but all malformed skipped the view before the check: exit 0.
    fs, t0 = make_agg_store(tmp_path, redis_url, "aggallbad")
    served = fs.get_online_features(["ratio"], [{"user_id": 1, "x": 2.0}], now=t0)
    writer = ServedLogWriter(fs.data_dir / SERVED_DIR)
    writer.start()
    writer.record(served, request_id="r1", request_time=t0)
    writer.close()
    [log] = sorted((fs.data_dir / SERVED_DIR).iterdir())
    record = json.loads(log.read_text().splitlines()[0])
    record["entities"]["x"] = ["abc"]
    log.write_text(json.dumps(record) + "\n")
    report = fs.audit_parity(["ratio"])
    ratio = _rows(report, "ratio")["*"]
    assert report.status == "warn", report.summary
    assert ratio["status"] == "warn" and ratio["count"] == 1, ratio
    assert "'abc'" in ratio["note"], ratio
    schema = fs.audit_schema(["ratio"])
    assert schema.status == "warn", schema.summary
    assert any("'abc'" in str(r.get("note")) for r in schema.rows if isinstance(r, dict))
    # Only unreadable records in the log: no request to compare, but not a clean "ok" either.
    log.write_text(json.dumps({"request_id": "r3", "features": "not a list"}) + "\n")
    report = fs.audit_parity(["ratio"])
    assert report.status == "warn", report.summary
    assert "could not be read" in _rows(report, "ratio")["*"]["note"]
    fs.close()
