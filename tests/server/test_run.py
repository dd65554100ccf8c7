"""``serve()`` with several workers: the app factory path, and a clean shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from store.errors import ConfigError
from store.served_log import read_served_log
from store.server.run import serve
from tests.server.conftest import free_port, make_repo


def test_two_workers_serve_and_flush_the_log_on_shutdown(tmp_path: Path, redis_url: str) -> None:
    repo = make_repo(tmp_path / "repo", redis_url)
    port = free_port()
    code = (
        "from pathlib import Path; from store.server.run import serve; "
        f"serve(Path({str(repo)!r}), '127.0.0.1', {port}, 2, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        body = {"features": ["user_risk:risk"], "entities": {"user_id": [1]}}
        for i in range(20):
            resp = httpx.post(
                f"{url}/get-online-features", json=body, headers={"X-Request-ID": f"w{i}"}
            )
            assert resp.status_code == 200
            assert resp.json()["results"][1]["values"] == [0.25]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    logged = set(read_served_log(repo / "data").column("request_id").to_pylist())
    assert {f"w{i}" for i in range(20)} <= logged


def test_serve_refuses_a_folder_without_parity_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"parity\.yaml"):
        serve(tmp_path, "127.0.0.1", free_port(), 1)


@pytest.mark.parametrize("state", ["never applied", "no data"])
def test_a_repo_not_ready_starts_and_says_what_to_run(
    tmp_path: Path, redis_url: str, state: str
) -> None:
    """Issue 11 item 8: no traceback at startup; /ready is 503 naming the fix."""
    from tests.server.conftest import DEFINITIONS, ServerThread

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "parity.yaml").write_text(f"project: notready\nonline:\n  url: {redis_url}\n")
    (repo / "features.py").write_text(DEFINITIONS)
    if state == "never applied":
        make_repo(tmp_path / "other", redis_url)  # the same sources, written but not applied
        for name in ("user_stats", "user_risk", "merchant_stats"):
            (repo / f"{name}.parquet").write_bytes(
                (tmp_path / "other" / f"{name}.parquet").read_bytes()
            )
        expected = "run `parity apply` first"
    else:
        expected = "no Parquet files"
    with ServerThread(repo) as server, server.client() as client:
        resp = client.get("/ready")
        assert resp.status_code == 503
        assert expected in " ".join(resp.json()["problems"])
        assert client.get("/health").status_code == 200
