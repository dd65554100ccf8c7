"""Fixtures of the Feast compatibility suite (marker ``feast``).

Feast 0.67 lives in its own virtual environment, never in ours: ``$PARITY_FEAST_PYTHON``, or
``.feast-venv/bin/python`` / ``.ci/feast-venv/bin/python`` at the repository root (create one
with ``python3 -m venv .feast-venv && .feast-venv/bin/pip install feast==0.67.0``). Without
one, every test here is skipped, saying so. Its python runs ``feast_client.py``: Feast's own
SDK with ``online_store: {type: remote}`` pointed at a real ``parity serve`` on a free port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from store import FeatureStore
from tests.feast_compat.repos import NOW, feast_repo, parity_repo
from tests.server.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("feast_client.py")


def feast_python() -> Path | None:
    """The Feast venv's python, or None."""
    env = os.environ.get("PARITY_FEAST_PYTHON")
    candidates = [Path(env)] if env else []
    candidates += [ROOT / ".feast-venv/bin/python", ROOT / ".ci/feast-venv/bin/python"]
    return next((p for p in candidates if p.is_file()), None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without a Feast venv every test here is skipped, saying how to make one; where the run
    requires Feast (``PARITY_REQUIRE_FEAST=1``, as CI sets) that is an error instead."""
    if feast_python() is not None:
        return
    how = (
        "no Feast venv: create .feast-venv (python3 -m venv .feast-venv "
        "&& .feast-venv/bin/pip install feast==0.67.0) or set PARITY_FEAST_PYTHON"
    )
    here = Path(__file__).parent
    ours = [i for i in items if Path(str(i.fspath)).is_relative_to(here)]
    if ours and os.environ.get("PARITY_REQUIRE_FEAST") == "1":
        raise pytest.UsageError(f"PARITY_REQUIRE_FEAST=1 but {how}")
    for item in ours:
        item.add_marker(pytest.mark.skip(reason=how))


class ParityServer:
    """``parity serve`` in a subprocess on a free port; stopped by its pid."""

    def __init__(self, repo: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        parity = Path(sys.executable).with_name("parity")
        self.proc = subprocess.Popen(
            [str(parity), "serve", "--repo", str(repo), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.stop()
                raise RuntimeError(f"parity serve did not become ready: {err[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class FeastClient:
    """Feast's SDK in the Feast venv, driven one JSON command per line."""

    def __init__(self, python: Path, repo: Path) -> None:
        self.proc = subprocess.Popen(
            [str(python), str(CLIENT), str(repo)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        first = self._line()
        assert first == {"ready": True}, first

    def _line(self) -> Any:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        line = out.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the Feast client exited: {err[-3000:]}")
        return json.loads(line)

    def __call__(self, **cmd: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._line()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Compat:
    server: ParityServer
    client: FeastClient
    store: FeatureStore
    parity_repo: Path
    feast_repo: Path


@pytest.fixture(scope="module")
def compat(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Compat]:
    """A Parity repo served by ``parity serve``, and Feast's SDK pointed at it."""
    python = feast_python()
    assert python is not None  # the tests are skipped otherwise
    root = tmp_path_factory.mktemp("compat")
    repo = parity_repo(root / "parity", redis_url, f"feast_{uuid.uuid4().hex[:8]}")
    store = FeatureStore(repo)
    store.apply()
    store.materialize(NOW - timedelta(minutes=1))
    server = ParityServer(repo)
    try:
        client = FeastClient(python, feast_repo(root / "feast", server.url))
        try:
            yield Compat(server, client, store, repo, root / "feast")
        finally:
            client.close()
    finally:
        server.stop()
        store.close()
