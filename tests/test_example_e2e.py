"""The proof of issue 11: the example, as a new user runs it, audits clean; planted defects
are each found by their audit, and by nothing else.

quickstart -> `parity serve` (real uvicorn, real embedded redis-server) -> fraud_v1 and
fraud_v2 requests (with request data) -> the five audits exit 0 with no WARN; then
`quickstart --plant-skew` -> serve -> the same requests -> each audit exits 1 naming exactly
its planted defect. Marked ``e2e`` (about a minute): `pytest -m e2e`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from store.cli import app
from store.errors import OnlineStoreError
from store.online.embedded import server_pid, stop_embedded
from store.quickstart import TAMPERED_FEATURE, live_rows
from store.sample import BACKFILL_VIEW, entity_frame

from .conftest import free_port

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[1] / "definitions"
runner = CliRunner()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("example")
    for name in ("parity.yaml", "features.py"):
        shutil.copy(EXAMPLE / name, root / name)
    try:
        yield root
    finally:
        pid = server_pid(root / "data")
        try:
            stop_embedded(root / "data")
        except OnlineStoreError:
            if pid is not None:
                os.kill(pid, signal.SIGKILL)  # by its pid: no server is left running
            raise


def _serve_and_request(repo: Path) -> int:
    """`parity serve` in a subprocess; send fraud_v2 (with amounts) and fraud_v1 requests;
    stop it with SIGINT (the served log is flushed). Returns the number of entity rows sent."""
    port = free_port()
    parity = str(Path(sys.executable).parent / "parity")
    cmd = [parity, "serve", "--repo", str(repo), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url)
        from store import FeatureStore

        rows = live_rows(FeatureStore(repo))
        rows[0] = {**rows[0], "user_id": 1}  # the planted run tampers user 1's value
        for i in range(0, len(rows), 250):
            part = rows[i : i + 250]
            entities = {k: [r[k] for r in part] for k in ("user_id", "merchant_id", "amount")}
            body = {"feature_service": "fraud_v2", "entities": entities}
            resp = httpx.post(f"{url}/get-online-features", json=body, timeout=30)
            assert resp.status_code == 200, resp.text
        v1 = {"feature_service": "fraud_v1", "entities": {"user_id": [1, 2], "merchant_id": [3, 4]}}
        assert httpx.post(f"{url}/get-online-features", json=v1, timeout=30).status_code == 200
    finally:
        _stop(proc)
    return len(rows)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (the served log is flushed); a server that does not stop in time is killed by
    its pid, so no test leaves one running."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        time.sleep(0.1)
    raise AssertionError("the server never became ready")


def _audits(repo: Path, tmp: Path) -> dict[str, tuple[int, str, dict[str, Any]]]:
    """The five audits through the CLI: kind -> (exit code, output, JSON report)."""
    data = repo / "data"
    tmp.mkdir(parents=True, exist_ok=True)
    entities = tmp / "entities.parquet"
    pq.write_table(entity_frame(data), entities)
    args = {
        "parity": [],
        "replay": [],
        "drift": ["--baseline", str(data / "training_frame.parquet")],
        "leakage": ["--entities", str(entities), "-f", "fraud_v2"],
        "schema": [],  # every online key (the default)
    }
    out = {}
    for kind, extra in args.items():
        report = tmp / "reports" / f"{kind}.json"
        result = runner.invoke(
            app, ["audit", kind, "--repo", str(repo), *extra, "--json", str(report)]
        )
        data_ = json.loads(report.read_text()) if report.exists() else {}
        out[kind] = (result.exit_code, result.output, data_)
    return out


def _not_ok(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (r.get("view", ""), r.get("feature", "")) for r in report["rows"] if r["status"] != "ok"
    ]


def test_clean_example_then_planted_skew(repo: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["quickstart", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "All audits OK." in text and "Parity prevented" in text
    assert "Online equals offline: 0 differences" in text
    assert "parity redis stop" in text and "parity serve" in text

    sent = _serve_and_request(repo)
    clean = _audits(repo, tmp_path / "clean")
    for kind, (code, output, report) in clean.items():
        assert code == 0, (kind, output)
        assert "WARN" not in output and report["status"] == "ok", (
            kind,
            _not_ok(report),
            report.get("counts"),
            report.get("examples", [])[:3],
        )
    replay = clean["replay"][2]
    assert replay["summary"]["mismatched"] == 0 and replay["summary"]["served"] >= sent
    replayed = {r["view"] for r in replay["rows"] if r.get("served")}
    assert replayed == {"user_txn_stats", "user_profile", "merchant_risk", "user_txn_agg",
                        "txn_ratio"}  # fmt: skip

    result = runner.invoke(app, ["quickstart", "--repo", str(repo), "--plant-skew"])
    assert result.exit_code == 1, result.output
    _serve_and_request(repo)
    planted = _audits(repo, tmp_path / "planted")
    for kind, (code, output, _) in planted.items():
        assert code == 1, (kind, output)

    parity = planted["parity"][2]
    assert _not_ok(parity) == [("user_profile", TAMPERED_FEATURE)]
    assert parity["summary"]["differences"] == 1
    schema = planted["schema"][2]
    assert _not_ok(schema) == [("user_profile", TAMPERED_FEATURE)]
    replay = planted["replay"][2]
    assert _not_ok(replay) == [("user_profile", TAMPERED_FEATURE)]
    # user 1 was asked for twice (fraud_v2 and fraud_v1): its two served values
    assert {v: c for v, c in replay["counts"].items() if c} == {
        "user_profile": {"value differs": 2}
    }
    assert all(e["key"].endswith('"user_id":1}') for e in replay["examples"])
    drift = planted["drift"][2]
    assert [r["feature"] for r in drift["rows"] if r["status"] != "ok"] == ["chargeback_rate"]
    leakage = planted["leakage"][2]
    assert leakage["counts"][BACKFILL_VIEW]["watermark"] == 40
    others = {v: c for v, c in leakage["counts"].items() if v != BACKFILL_VIEW}
    assert all(set(c) <= {"leakage guard"} for c in others.values()), others
    assert {v for v, _ in _not_ok(leakage)} == {BACKFILL_VIEW}
