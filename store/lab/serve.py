"""Serving, replayed: what Parity's online path returned at each test request's time.

Requests are served in time order. Before a read at ``t`` the online store is brought up to
``t`` with :meth:`FeatureStore.materialize_incremental`, the way a deployment keeps Redis
fresh; the read then runs at ``now=t``. A materialization costs a DuckDB pass, so the lab
skips one when nothing of the requested card landed since the last: a key's online state
depends only on that key's rows, so the read is the same (the replay audit proves it, row by
row, on the log this module writes).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from store import FeatureStore
from store.lab.data import US


@dataclass(frozen=True)
class Served:
    """The served values (one row per request, in request order) and the served log."""

    values: pa.Table
    log: pa.Table
    materializations: int


def _landings(table: pa.Table) -> dict[int, np.ndarray]:
    """Per card, the sorted times its rows landed (µs)."""
    users = table.column("user_id").to_numpy()
    landed = table.column("created_timestamp").cast(pa.int64()).to_numpy()
    order = np.lexsort((landed, users))
    users, landed = users[order], landed[order]
    cut = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    return {int(users[a]): landed[a:b] for a, b in itertools.pairwise(cut)}


def _stale(landed: np.ndarray | None, since: int, t: int) -> bool:
    """Did a row of this card land in ``[since, t)``?"""
    if landed is None:
        return False
    return bool(np.searchsorted(landed, t) > np.searchsorted(landed, since))


def serve(
    fs: FeatureStore, requests: pa.Table, features: list[str], sources: Mapping[str, pa.Table]
) -> Served:
    """Serve every request (``user_id``, ``event_timestamp``) through the online path.

    Args:
        fs: the serving repo.
        requests: the test requests.
        features: feature references to read.
        sources: view name -> its source table (to know when a card's rows landed).
    """
    users = requests.column("user_id").to_pylist()
    micros = requests.column("event_timestamp").cast(pa.int64()).to_numpy()
    landings = {view: _landings(table) for view, table in sources.items()}
    rows: dict[str, list[Any]] = {k: [] for k in _LOG_COLUMNS}
    by_request: list[list[Any]] = [[] for _ in range(len(users))]
    since: dict[str, int] = {}
    runs = 0
    for i in np.argsort(micros, kind="stable"):
        t_us, user = int(micros[i]), users[i]
        now = datetime.fromtimestamp(t_us // US, UTC).replace(microsecond=t_us % US)
        if not since:
            fs.materialize(now, views=list(sources))
            since, runs = dict.fromkeys(sources, t_us), runs + 1
        stale = [v for v in sources if _stale(landings[v].get(user), since[v], t_us)]
        if stale:
            fs.materialize_incremental(now, views=stale)
            since |= dict.fromkeys(stale, t_us)
            runs += 1
        resp = fs.get_online_features(features, [{"user_id": user}], now=now)
        by_request[i] = [col.values[0] for col in resp.columns]
        for col in resp.columns:
            _log(rows, f"lab-{i}", now, user, col)
    names = [f.split(":")[1] for f in features]
    columns = {name: [vals[k] for vals in by_request] for k, name in enumerate(names)}
    return Served(pa.table(columns), _log_table(rows), runs)


_LOG_COLUMNS = (
    "request_time",
    "request_id",
    "read_at",
    "row",
    "entity_key",
    "view",
    "feature",
    "name",
    "version",
    "status",
    "event_timestamp",
    "value",
    "value_number",
    "value_string",
)


def _log(rows: dict[str, list[Any]], request_id: str, now: datetime, user: int, col: Any) -> None:
    """One served value as a row of the served-feature log (the table ``audit_replay`` reads,
    laid out as the feature server's log is)."""
    value = col.values[0]
    rows["request_time"].append(now)
    rows["request_id"].append(request_id)
    rows["read_at"].append(now)
    rows["row"].append(0)
    rows["entity_key"].append(json.dumps({"user_id": user}, separators=(",", ":")))
    rows["view"].append(col.view)
    rows["feature"].append(col.feature)
    rows["name"].append(col.name)
    rows["version"].append(col.version)
    rows["status"].append(str(col.statuses[0]))
    rows["event_timestamp"].append(col.event_timestamps[0])
    rows["value"].append(json.dumps(value))
    number = isinstance(value, bool | int | float)
    rows["value_number"].append(float(value) if number else None)
    rows["value_string"].append(value if isinstance(value, str) else None)


def _log_table(rows: dict[str, list[Any]]) -> pa.Table:
    ts = pa.timestamp("us", tz="UTC")
    types = {
        "request_time": ts,
        "read_at": ts,
        "event_timestamp": ts,
        "row": pa.int32(),
        "value_number": pa.float64(),
    }
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in rows.items()})
