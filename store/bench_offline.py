"""Offline benchmark: our training frames vs hand-written DuckDB and a plain ASOF JOIN.

Data is generated deterministically with DuckDB ``range()`` into Parquet under a bench folder.
Each case runs in its own subprocess (so its peak RSS is its own) and writes its result to
Parquet with ``COPY``, under the same memory limit and threads:

- ``parity``: :func:`store.offline.retrieval.get_historical_features` with ``out_path``
  (including the leakage report, i.e. as users run it);
- ``parity_no_report``: the same without the leakage counts;
- ``hand_frontier``: a hand-written query with the same semantics (frontier + ASOF, carrying
  every column through the window and the join);
- ``hand_range_join``: the obvious hand-written exact query (range join + row_number);
- ``plain_asof``: an ASOF JOIN on event time alone (no leakage guard, lateness or ttl).

Run: ``python -m store.bench_offline --scale small --data /tmp/parity-bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

SCALES = {"small": (1_000_000, 100_000), "large": (10_000_000, 1_000_000)}
CASES = ["plain_asof", "parity", "parity_no_report", "hand_frontier", "hand_range_join"]
FEATURES = [f"f{i}" for i in range(9)]
TTL = timedelta(days=30)
LATENESS = timedelta(days=7)
DELAY = timedelta(minutes=1)
_SPAN_S = 90 * 86400


def generate(folder: Path, scale: str) -> tuple[Path, Path]:
    """Write ``features.parquet`` and ``entities.parquet`` for ``scale`` (idempotent)."""
    n_rows, n_ents = SCALES[scale]
    folder.mkdir(parents=True, exist_ok=True)
    feats, ents = folder / f"features_{scale}.parquet", folder / f"entities_{scale}.parquet"
    keys = max(n_rows // 20, 1)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    base = "TIMESTAMPTZ '2024-01-01 00:00:00+00'"
    values = ", ".join(f"((i * {7 + j}) % 1000) / 10.0 AS f{j}" for j in range(9))
    # lag: mostly minutes, every 50th row days late (beyond the lateness), every 7th an hour.
    lag = "CASE WHEN i % 50 = 0 THEN 864000 WHEN i % 7 = 0 THEN 3600 ELSE (i * 13) % 300 END"
    if not feats.exists():
        con.execute(
            f"COPY (SELECT (i * 2654435761) % {keys} AS user_id, "
            f"{base} + to_seconds((i * 40503) % {_SPAN_S}) AS event_timestamp, "
            f"{base} + to_seconds((i * 40503) % {_SPAN_S} + {lag}) AS created_timestamp, "
            f"{values} FROM range({n_rows}) t(i)) TO '{feats}' (FORMAT parquet)"
        ).fetchall()
    if not ents.exists():
        con.execute(
            f"COPY (SELECT (i * 40503) % {keys} AS user_id, "
            f"{base} + to_seconds((i * 2654435761) % {_SPAN_S}) AS event_timestamp, "
            f"i % 2 = 0 AS label FROM range({n_ents}) t(i)) TO '{ents}' (FORMAT parquet)"
        ).fetchall()
    con.close()
    return feats, ents


def _hand_sql(kind: str, feats: Path, ents: Path) -> str:
    cols = ", ".join(f"f.{c}" for c in FEATURES)
    src = f"(SELECT *, file_row_number AS rn FROM read_parquet('{feats}', file_row_number = true))"
    ent = f"(SELECT *, file_row_number AS rid FROM read_parquet('{ents}', file_row_number = true))"
    ttl, late, delay = (int(d.total_seconds()) for d in (TTL, LATENESS, DELAY))
    cand = (
        f"SELECT *, greatest(event_timestamp, created_timestamp + to_seconds({delay})) AS vis "
        f"FROM {src} WHERE created_timestamp - event_timestamp <= to_seconds({late})"
    )
    if kind == "plain_asof":
        return (
            f"SELECT e.user_id, e.event_timestamp, e.label, {cols} FROM {ent} e "
            f"ASOF LEFT JOIN {src} f ON e.user_id = f.user_id "
            "AND e.event_timestamp > f.event_timestamp ORDER BY e.rid"
        )
    alive = f"e.event_timestamp - f.event_timestamp <= to_seconds({ttl})"
    picked = ", ".join(f"CASE WHEN {alive} THEN f.{c} END AS {c}" for c in FEATURES)
    if kind == "hand_frontier":  # the frontier written by hand, carrying all columns
        rank = "((epoch_us(event_timestamp)::HUGEINT << 64) + epoch_us(created_timestamp))"
        window = (
            "(PARTITION BY user_id ORDER BY vis, event_timestamp, created_timestamp, rn "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        )
        front = (
            f"SELECT * FROM ({cand}) QUALIFY max({rank}) OVER {window} = {rank} "
            f"AND coalesce(lead(vis) OVER {window} <> vis, true)"
        )
        return (
            f"SELECT e.user_id, e.event_timestamp, e.label, {picked} FROM {ent} e "
            f"ASOF LEFT JOIN ({front}) f ON e.user_id = f.user_id AND e.event_timestamp > f.vis "
            "ORDER BY e.rid"
        )
    return (
        f"SELECT e.user_id, e.event_timestamp, e.label, {', '.join(f'f.{c}' for c in FEATURES)} "
        f"FROM {ent} e LEFT JOIN ({cand}) f ON e.user_id = f.user_id "
        f"AND f.vis < e.event_timestamp AND {alive} "
        "QUALIFY row_number() OVER (PARTITION BY e.rid ORDER BY f.event_timestamp DESC NULLS LAST, "
        "f.created_timestamp DESC, f.rn DESC) = 1 ORDER BY e.rid"
    )


def _run_case(case: str, scale: str, folder: Path, memory_limit: str, threads: int | None) -> float:
    from store.config import OfflineConfig
    from store.definitions import Entity, FeatureView, Field, ParquetSource
    from store.offline.engine import OfflineEngine
    from store.offline.retrieval import get_historical_features
    from store.registry import Definitions, resolve_features

    feats, ents = generate(folder, scale)
    out = folder / f"out_{scale}_{case}.parquet"
    config = OfflineConfig(memory_limit=memory_limit, threads=threads)
    engine = OfflineEngine(folder, folder, config)
    started = time.perf_counter()
    if case.startswith("parity"):
        view = FeatureView(
            name="bench",
            entities=[Entity("user", join_keys={"user_id": "int64"})],
            source=ParquetSource(feats.name, created_timestamp="created_timestamp"),
            fields=[Field(c, "float64") for c in FEATURES],
            ttl=TTL,
            allowed_lateness=LATENESS,
            availability_delay=DELAY,
        )
        defs = Definitions(views={"bench": view})
        refs = resolve_features(defs, ["bench"])
        get_historical_features(
            engine, defs, refs, ents, out_path=out, leakage_report=case == "parity"
        )
    else:
        con = engine.connect()
        con.execute(f"COPY ({_hand_sql(case, feats, ents)}) TO '{out}' (FORMAT parquet)").fetchall()
        con.close()
    return time.perf_counter() - started


def run(
    scale: str,
    data_dir: Path | str = Path("bench-data"),
    *,
    memory_limit: str = "4GB",
    threads: int | None = None,
    cases: list[str] | None = None,
    repeat: int = 1,
) -> list[dict[str, Any]]:
    """Run every case at ``scale`` (``small`` or ``large``); one subprocess per case and run.

    With ``repeat`` > 1 the cases are interleaved: each round runs every case once. A case's
    seconds are its fastest run and its peak memory the highest; its ratio to the plain ASOF
    join is the median over rounds of the ratio within a round, which a shared machine's
    slow spells disturb less than a ratio of two fastest runs.

    Returns:
        One dict per case: scale, case, feature_rows, entity_rows, seconds, rows_per_s,
        peak_rss_mb, ratio_to_plain_asof.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {sorted(SCALES)}")
    folder = Path(data_dir)
    generate(folder, scale)
    n_rows, n_ents = SCALES[scale]
    runs: dict[str, list[float]] = {}
    peak: dict[str, int] = {}
    for _ in range(max(repeat, 1)):
        for case in cases or CASES:
            seconds, rss_kb = _subprocess(case, scale, folder, memory_limit, threads)
            runs.setdefault(case, []).append(seconds)
            peak[case] = max(peak.get(case, 0), rss_kb)
    plain = runs.get("plain_asof")
    return [
        {
            "scale": scale,
            "case": case,
            "feature_rows": n_rows,
            "entity_rows": n_ents,
            "seconds": round(min(times), 3),
            "rows_per_s": round(n_ents / min(times)),
            "peak_rss_mb": round(peak[case] / 1024),
            "ratio_to_plain_asof": (
                round(statistics.median(t / p for t, p in zip(times, plain, strict=True)), 2)
                if plain
                else None
            ),
        }
        for case, times in runs.items()
    ]


def _subprocess(
    case: str, scale: str, folder: Path, memory_limit: str, threads: int | None
) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "store.bench_offline", "--scale", scale, "--data", str(folder)]
    cmd += ["--case", case, "--memory-limit", memory_limit]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (kB on Linux)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench case {case} failed with exit code {proc.returncode}")
    return float(json.loads(stdout.strip().splitlines()[-1])["seconds"]), int(usage.ru_maxrss)


def main(argv: list[str] | None = None) -> None:
    """``python -m store.bench_offline --scale small [--data DIR]``: print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument("--data", default="bench-data")
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--case", default=None, help="run one case in this process (internal)")
    args = parser.parse_args(argv)
    if args.case:
        seconds = _run_case(args.case, args.scale, Path(args.data), args.memory_limit, args.threads)
        print(json.dumps({"seconds": seconds}))
        return
    rows = run(
        args.scale,
        args.data,
        memory_limit=args.memory_limit,
        threads=args.threads,
        repeat=args.repeat,
    )
    head = f"{'case':<18}{'seconds':>9}{'rows/s':>12}{'peak MB':>9}{'x plain':>9}"
    print(
        f"scale {args.scale}: {rows[0]['feature_rows']:,} feature rows x "
        f"{rows[0]['entity_rows']:,} entity rows, 9 features"
    )
    print(head)
    for r in rows:
        print(
            f"{r['case']:<18}{r['seconds']:>9.2f}{r['rows_per_s']:>12,}"
            f"{r['peak_rss_mb']:>9,}{r['ratio_to_plain_asof']:>9.2f}"
        )


if __name__ == "__main__":
    main()
