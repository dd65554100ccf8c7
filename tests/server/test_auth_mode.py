"""API keys that are blank are a startup error; the auth mode is always printed; the open
/ready shows Redis details only to authenticated callers (issue 12, item 10)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from store import ConfigError, FeatureStore
from store.config import load_config

from .conftest import ServerThread, free_port, make_repo


@pytest.mark.parametrize("value", [" , ", ",", " ", "k1,,k2", "k1, "])
def test_blank_api_keys_are_a_startup_error(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    repo = make_repo(tmp_path / "repo", redis_url)
    monkeypatch.setenv("PARITY_API_KEYS", value)
    with pytest.raises(ConfigError, match="empty or blank"):
        load_config(repo)
    parity = Path(sys.executable).with_name("parity")
    result = subprocess.run(
        [str(parity), "serve", "--repo", str(repo), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "empty or blank" in " ".join(result.stderr.split())


def test_blank_keys_in_parity_yaml_are_refused_too(tmp_path: Path, redis_url: str) -> None:
    with pytest.raises(ConfigError, match="empty or blank"):
        make_repo(tmp_path / "repo", redis_url, {"api_keys": ["k1", "  "]})


def test_an_empty_variable_means_unset(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docker-compose passes ${PARITY_API_KEYS:-}: empty is "no keys", printed as OPEN
    repo = make_repo(tmp_path / "repo", redis_url)
    monkeypatch.setenv("PARITY_API_KEYS", "")
    assert load_config(repo).server.api_keys == ()


@pytest.mark.parametrize(("keys", "words"), [(None, "OPEN, no API keys"), ("a,b", "2 key(s)")])
def test_the_auth_mode_is_printed_at_startup(
    tmp_path: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    serve_repo: Callable[[Path], ServerThread],
    keys: str | None,
    words: str,
) -> None:
    repo = make_repo(tmp_path / "repo", redis_url)
    if keys is not None:
        monkeypatch.setenv("PARITY_API_KEYS", keys)
    serve_repo(repo)
    assert words in capfd.readouterr().err


def test_ready_shows_redis_details_only_with_a_key(
    tmp_path: Path, serve_repo: Callable[[Path], ServerThread]
) -> None:
    url = f"redis://scott:tiger@127.0.0.1:{free_port()}/0"  # nothing listens there
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "parity.yaml").write_text(
        f"project: auth\nonline:\n  url: {url}\n  socket_timeout: 0.5\n"
        "server:\n  api_keys: [sesame]\n"
    )
    (repo / "features.py").write_text("")
    FeatureStore(repo).close()
    server = serve_repo(repo)
    with server.client() as http:
        anonymous = http.get("/ready")
        assert anonymous.status_code == 503
        assert "127.0.0.1" not in anonymous.text and "scott" not in anonymous.text
        assert "online store unreachable" in anonymous.text
        authed = http.get("/ready", headers={"X-API-Key": "sesame"})
        assert authed.status_code == 503 and "127.0.0.1" in authed.text
        assert "tiger" not in authed.text  # the password is never shown
