"""The container's entrypoint (docker/entrypoint.sh), run as a plain process.

There is no Docker engine in the test environment: the image is not built here. What the
container does at start is this script, so it is run as the image runs it (`serve` with the
example's definitions in a repo folder, Redis by PARITY_REDIS_URL): the first start generates
the sample data, applies and materializes it and serves (/ready 200, fraud_v1 answers); a
restart against an empty Redis (a new Redis volume) applies and refills it; a data folder it
cannot write is a clear error, exit 2. Marked ``docker`` (about a minute): ``pytest -m docker``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from store.sample import generate

from .conftest import free_port

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def _env(repo: Path, redis_url: str, db: int) -> dict[str, str]:
    base, _, _ = redis_url.rpartition("/")
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    return {"PATH": path, "PARITY_REPO_DIR": str(repo), "PARITY_REDIS_URL": f"{base}/{db}"}


def _serve(repo: Path, env: dict[str, str]) -> tuple[str, dict[str, object]]:
    """Start the entrypoint with `serve`, wait for /ready, read fraud_v1, stop it; return
    what it printed and the response body."""
    port = free_port()
    cmd = ["sh", str(ENTRYPOINT), "serve", "--repo", str(repo), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(3000):  # the first start generates and materializes the sample data
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode()[-3000:])  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the server never became ready")
        body = {"feature_service": "fraud_v1", "entities": {"user_id": [1], "merchant_id": [3]}}
        resp = httpx.post(f"{url}/get-online-features", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
    finally:
        proc.send_signal(signal.SIGTERM)  # exec'd: the signal reaches `parity serve` itself
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # by its pid: no server is left running
            proc.communicate()
            raise
    return err.decode(), resp.json()


def _present(body: dict[str, object]) -> bool:
    results = body["results"]
    assert isinstance(results, list)
    return all(s == "PRESENT" for r in results for s in r["statuses"])


def test_first_start_bootstraps_and_a_restart_refills_redis(tmp_path: Path, redis_url: str) -> None:
    repo = tmp_path / "repo"  # as in the image: the example's two files, no data
    repo.mkdir()
    for name in ("parity.yaml", "features.py"):
        shutil.copy(ROOT / "definitions" / name, repo / name)

    printed, body = _serve(repo, _env(repo, redis_url, 7))
    assert "running parity quickstart" in printed
    assert (repo / "data" / "sample.json").is_file() and _present(body)

    printed, body = _serve(repo, _env(repo, redis_url, 8))  # a new, empty Redis
    assert "running parity quickstart" not in printed and "applying" in printed
    assert _present(body)


def test_a_repo_of_ones_own_is_applied_not_replaced(tmp_path: Path, redis_url: str) -> None:
    """The default PARITY_BOOTSTRAP=example on a repo mounted at /repo that is not the
    baked-in example (data of its own, no sample.json): no quickstart, its data untouched."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("parity.yaml", "features.py"):
        shutil.copy(ROOT / "definitions" / name, repo / name)
    generate(repo / "data", users=20, merchants=5, days=3)  # "their" data: no sample.json
    (repo / "data" / "served").mkdir()
    (repo / "data" / "served" / "part-0.jsonl").write_text("{}\n")
    before = {p: p.read_bytes() for p in (repo / "data").rglob("*") if p.is_file()}

    printed, body = _serve(repo, _env(repo, redis_url, 10))
    assert "running parity quickstart" not in printed, printed
    assert "is not the example" in printed and "applying" in printed
    assert _present(body) and not (repo / "data" / "sample.json").exists()
    assert all(p.read_bytes() == data for p, data in before.items())


def test_a_data_folder_it_cannot_write_is_an_error(tmp_path: Path, redis_url: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "data").write_text("not a folder")
    env = _env(repo, redis_url, 9) | {"PARITY_DATA_DIR": str(repo / "data")}
    cmd = ["sh", str(ENTRYPOINT), "serve", "--repo", str(repo)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"the data folder {repo / 'data'} is not a folder writable by uid" in result.stderr
    assert "parity-data" in result.stderr


def test_other_commands_pass_through_without_bootstrap(tmp_path: Path, redis_url: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    cmd = ["sh", str(ENTRYPOINT), "apply", "--help"]
    result = subprocess.run(cmd, env=_env(repo, redis_url, 9), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage: parity apply" in result.stdout and not (repo / "data").exists()
    assert os.access(ENTRYPOINT, os.X_OK)
