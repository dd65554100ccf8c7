"""The embedded default: a private ``redis-server`` per feature repo, on a unix socket.

With no Redis URL configured, the store runs ``redis-server`` (from the PATH) with its files in
``<data_dir>/redis/``: ``redis.conf``, the socket ``redis.sock``, ``redis.pid``, ``redis.log``
and the append-only file (persistence on). Every process of the repo reuses the running server;
a file lock makes concurrent first starts safe. Unix socket paths are limited to ~100 bytes, so
for a deep data folder the socket goes to ``$TMPDIR/parity-redis-<hash of the folder>.sock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from store.errors import OnlineStoreError
from store.pids import pid_alive

_MAX_SOCKET_PATH = 100


def redis_dir(data_dir: Path) -> Path:
    """The folder holding the embedded server's files."""
    return Path(data_dir).resolve() / "redis"


def socket_path(data_dir: Path) -> Path:
    """Where the embedded server listens (the same for every process of the repo)."""
    path = redis_dir(data_dir) / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"parity-redis-{digest}.sock"


def embedded_url(data_dir: Path) -> str:
    """The ``unix://`` URL of the embedded server."""
    return f"unix://{socket_path(data_dir)}"


def is_running(data_dir: Path) -> bool:
    """Whether the embedded server answers on its socket."""
    sock = socket_path(data_dir)
    if not sock.exists():
        return False
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _config(data_dir: Path) -> str:
    folder = redis_dir(data_dir)
    settings = {
        "port": "0",
        "unixsocket": str(socket_path(data_dir)),
        "unixsocketperm": "700",
        "daemonize": "yes",
        "pidfile": str(folder / "redis.pid"),
        "logfile": str(folder / "redis.log"),
        "dir": str(folder),
        "appendonly": "yes",
        "appendfsync": "everysec",
        "save": "",
    }
    return "".join(f'{k} "{v}"\n' for k, v in settings.items())


def ensure_embedded(data_dir: Path, *, timeout: float = 10.0) -> str:
    """Start the repo's embedded redis-server unless it already runs; return its URL.

    Raises:
        OnlineStoreError: redis-server is not installed, or did not come up within ``timeout``.
    """
    url = embedded_url(data_dir)
    if is_running(data_dir):
        return url
    folder = redis_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_running(data_dir):
            _start(data_dir, timeout)
    return url


def _start(data_dir: Path, timeout: float) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise OnlineStoreError(
            "no Redis URL is configured and redis-server is not on the PATH: install it "
            "(`apt-get install redis-server`, `brew install redis`) or set online.url in "
            "parity.yaml / PARITY_REDIS_URL"
        )
    folder = redis_dir(data_dir)
    conf = folder / "redis.conf"
    conf.write_text(_config(data_dir))
    result = subprocess.run(
        [binary, str(conf)], capture_output=True, text=True, timeout=timeout, check=False
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(data_dir):
            return
        time.sleep(0.02)
    log = folder / "redis.log"
    tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
    detail = "\n".join([*tail, result.stdout.strip(), result.stderr.strip()]).strip()
    raise OnlineStoreError(
        f"the embedded redis-server ({embedded_url(data_dir)}) did not start within "
        f"{timeout:.0f}s; see {log}:\n{detail}"
    )


def _pid(data_dir: Path) -> int | None:
    try:
        return int((redis_dir(data_dir) / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def stop_embedded(data_dir: Path, *, timeout: float = 10.0) -> bool:
    """Stop the repo's embedded server (flushing its append-only file); False if not running.

    Raises:
        OnlineStoreError: the server did not exit within ``timeout``.
    """
    if not is_running(data_dir):
        return False
    pid = _pid(data_dir)
    client = redis.Redis(unix_socket_path=str(socket_path(data_dir)), socket_timeout=timeout)
    try:
        client.shutdown()
    except (redis.RedisError, OSError):
        pass  # the server closes the connection as it exits
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while pid is not None and pid_alive(pid):
        if time.monotonic() > deadline:
            raise OnlineStoreError(f"the embedded redis-server (pid {pid}) did not stop")
        time.sleep(0.02)
    return True
