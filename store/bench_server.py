"""Feature-server benchmark: Parity's server next to a minimal FastAPI handler, same run.

Both servers run under uvicorn with the same worker count on loopback and read the same keys
of the same repo from the same Redis; the minimal one does only the pipelined HMGET (and value
decoding) behind a bare route, with the store's client settings (timeouts, pool size). The
load generator is an asyncio httpx client in a separate process, bounded by time. ``run()``
returns one dict per (server, concurrency, entities).

    python -m store.bench_server [--repo PATH] [--workers 1] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response  # module level: the route's annotations resolve

VIEW = "bench_stats"
FEATURES = ["txn_count", "amount", "avg_amount", "country", "verified"]
N_USERS = 10_000
_DEFINITIONS = f'''
from datetime import timedelta
from store import Entity, FeatureView, Field, ParquetSource

user = Entity("user", join_keys={{"user_id": "int64"}})
{VIEW} = FeatureView(
    name="{VIEW}",
    entities=[user],
    source=ParquetSource("{VIEW}.parquet"),
    fields=[
        Field("txn_count", "int64"),
        Field("amount", "float64"),
        Field("avg_amount", "float64"),
        Field("country", "string"),
        Field("verified", "bool"),
    ],
    ttl=timedelta(days=30),
)
'''


def prepare_repo(root: Path, redis_url: str | None = None, users: int = N_USERS) -> Path:
    """A repo with one view of ``users`` keys, applied and materialized."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from store.feature_store import FeatureStore

    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"project": "bench", "server": {"log_sample_rate": 1.0}}
    if redis_url:
        config["online"] = {"url": redis_url}
    (root / "parity.yaml").write_text(yaml.safe_dump(config))
    (root / "features.py").write_text(_DEFINITIONS)
    rng = random.Random(7)
    now = datetime.now(UTC)
    table = pa.table(
        {
            "user_id": pa.array(range(users), pa.int64()),
            "event_timestamp": pa.array(
                [now - timedelta(hours=1)] * users, pa.timestamp("us", "UTC")
            ),
            "txn_count": [rng.randint(0, 50) for _ in range(users)],
            "amount": [rng.random() * 500 for _ in range(users)],
            "avg_amount": [rng.random() * 50 for _ in range(users)],
            "country": [rng.choice(["FR", "DE", "US", "BR"]) for _ in range(users)],
            "verified": [rng.random() < 0.8 for _ in range(users)],
        }
    )
    pq.write_table(table, root / f"{VIEW}.parquet")
    store = FeatureStore(root)
    store.apply()
    store.materialize(now)
    store.close()
    return root


def minimal_app() -> FastAPI:
    """The baseline: a bare FastAPI route doing the same pipelined HMGET, nothing else."""
    import redis.asyncio

    from store.feature_store import FeatureStore
    from store.online.codec import decode
    from store.online.keys import key_prefix, key_suffix

    store = FeatureStore(os.environ["PARITY_REPO"])
    online = store.config.online  # the same timeouts and pool size as the store's client
    client = redis.asyncio.Redis.from_url(
        store.online_async._resolve_url(),
        socket_timeout=online.socket_timeout,
        socket_connect_timeout=online.socket_timeout,
        max_connections=online.max_connections,
    )
    prefix, suffix = key_prefix(store.config.project), key_suffix(VIEW)
    fields = [b"_e", b"_c", b"_v", *(f.encode() for f in FEATURES)]
    app = FastAPI()

    @app.post("/get-online-features")
    async def read(request: Request) -> Response:
        body = orjson.loads(await request.body())
        pipe = client.pipeline(transaction=False)
        for uid in body["entities"]["user_id"]:
            pipe.hmget(prefix + str(int(uid)).encode() + suffix, fields)
        rows = await pipe.execute()
        values = [[None if v is None else decode(v) for v in row[3:]] for row in rows]
        return Response(orjson.dumps({"values": values}), media_type="application/json")

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of ``pid`` and its live descendants, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_seconds(int(child)) or 0.0
    except (OSError, ValueError, IndexError):
        return None
    return total


@dataclass
class _Server:
    url: str
    pid: int


@contextmanager
def _server(factory: str, repo: Path, workers: int) -> Iterator[_Server]:
    port = _free_port()
    env = {**os.environ, "PARITY_REPO": str(repo)}
    args = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    args += ["--no-access-log"]
    proc = subprocess.Popen(args, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        yield _Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            resp = httpx.post(f"{url}/get-online-features", json=_body([1]), timeout=2)
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        if resp.status_code != 200:
            raise RuntimeError(f"server at {url} answers {resp.status_code}: {resp.text[:300]}")
        return
    raise RuntimeError(f"server at {url} did not start")


def _body(users: Sequence[int]) -> dict[str, Any]:
    return {"features": [f"{VIEW}:{f}" for f in FEATURES], "entities": {"user_id": list(users)}}


async def _load(url: str, concurrency: int, entities: int, seconds: float) -> dict[str, Any]:
    import httpx

    rng = random.Random(concurrency * 1000 + entities)
    bodies = [orjson.dumps(_body(rng.sample(range(N_USERS), entities))) for _ in range(256)]
    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        total = 0

        async def worker(i: int, stop_at: float, record: bool) -> None:
            nonlocal errors, total
            n = i
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                try:
                    resp = await client.post(
                        "/get-online-features", content=bodies[n % 256], headers=headers
                    )
                    ok = resp.status_code == 200
                except httpx.HTTPError:  # a timeout counts as an error, at its full latency
                    ok = False
                total += 1
                if record:
                    latencies.append(time.perf_counter() - start)
                    errors += not ok
                n += concurrency

        warm = time.perf_counter() + min(1.0, seconds / 3)
        await asyncio.gather(*(worker(i, warm, False) for i in range(concurrency)))
        begin = time.perf_counter()
        await asyncio.gather(*(worker(i, begin + seconds, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - begin
    latencies.sort()

    def pct(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "total": total,
    }


def _load_in_process(url: str, concurrency: int, entities: int, seconds: float) -> dict[str, Any]:
    code = (
        "import asyncio, orjson, sys; from store.bench_server import _load; "
        f"r = asyncio.run(_load({url!r}, {concurrency}, {entities}, {seconds})); "
        "sys.stdout.write(orjson.dumps(r).decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, timeout=seconds + 120
    )
    result: dict[str, Any] = orjson.loads(out.stdout)
    return result


def run(
    repo: Path | None = None,
    *,
    redis_url: str | None = None,
    workers: int = 1,
    concurrencies: Sequence[int] = (1, 16, 32),
    entities: Sequence[int] = (1, 10, 100),
    seconds: float = 3.0,
) -> list[dict[str, Any]]:
    """Benchmark both servers on every (concurrency, entities) pair.

    Args:
        repo: a repo made by :func:`prepare_repo` (default: one is made in a temp folder).
        redis_url: Redis for the temp repo (default: the embedded server).
        workers: uvicorn workers of each server.
        concurrencies: concurrent clients of the load generator.
        entities: entity keys per request.
        seconds: measured time per cell (after a short warm-up).

    Returns:
        One row per server and cell: ``server, workers, concurrency, entities, requests,
        errors, rps, p50_ms, p99_ms``.
    """
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        if repo is None:
            repo = prepare_repo(Path(tmp) / "repo", redis_url)
            if redis_url is None:  # the temp repo's embedded redis-server goes with it
                with _stopping_embedded(repo / "data"):
                    return _run_servers(repo, workers, concurrencies, entities, seconds)
        return _run_servers(repo, workers, concurrencies, entities, seconds)


@contextmanager
def _stopping_embedded(data_dir: Path) -> Iterator[None]:
    from store.online.embedded import stop_embedded

    try:
        yield
    finally:
        stop_embedded(data_dir)


def _run_servers(
    repo: Path,
    workers: int,
    concurrencies: Sequence[int],
    entities: Sequence[int],
    seconds: float,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with (
        _server("store.server.run:app_from_env", repo, workers) as parity,
        _server("store.bench_server:minimal_app", repo, workers) as minimal,
    ):
        servers = {"parity": parity, "minimal": minimal}
        for concurrency in concurrencies:
            for n in entities:
                for name, server in servers.items():  # interleaved: both see the same machine
                    cpu_before = _cpu_seconds(server.pid)
                    stats = _load_in_process(server.url, concurrency, n, seconds)
                    cpu_after = _cpu_seconds(server.pid)
                    # Server CPU per request (warm-up included in both counts): robust to a
                    # busy machine and to a load generator that saturates first.
                    cpu_ms = None
                    if cpu_before is not None and cpu_after is not None and stats["total"]:
                        cpu_ms = round(1000 * (cpu_after - cpu_before) / stats["total"], 3)
                    rows.append(
                        {"server": name, "workers": workers, "concurrency": concurrency}
                        | {"entities": n, **stats, "server_cpu_ms": cpu_ms}
                    )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a text table with Parity's p99 relative to the minimal handler."""
    minimal = {(r["concurrency"], r["entities"]): r for r in rows if r["server"] == "minimal"}
    lines = ["conc  ents  server   req/s    p50 ms   p99 ms  p99 vs min  cpu ms/req  cpu vs min"]
    for r in rows:
        base = minimal[(r["concurrency"], r["entities"])]
        ratio = r["p99_ms"] / base["p99_ms"] if base["p99_ms"] else float("nan")
        cpu, base_cpu = r.get("server_cpu_ms"), base.get("server_cpu_ms")
        cpu_ratio = cpu / base_cpu if cpu is not None and base_cpu else float("nan")
        lines.append(
            f"{r['concurrency']:>4}  {r['entities']:>4}  {r['server']:<7} {r['rps']:>7.0f}  "
            f"{r['p50_ms']:>7.2f}  {r['p99_ms']:>7.2f}  {ratio:>9.2f}x  "
            f"{cpu if cpu is not None else float('nan'):>10.3f}  {cpu_ratio:>9.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=None)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = run(args.repo, redis_url=args.redis_url, workers=args.workers, seconds=args.seconds)
    print(table(rows))
    if args.json:
        args.json.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
