"""Feast's own SDK as a client of ``parity serve`` (run by the Feast venv's python, never ours).

Usage: ``python feast_client.py REPO`` where REPO is a Feast feature repo whose
``feature_store.yaml`` says ``online_store: {type: remote, path: http://...}``. It runs
``feast apply`` for REPO once, then reads one JSON command per line on stdin and answers one
JSON line on stdout:

* ``{"op": "read", "features": [...] | "service": NAME, "entity_rows": ...,
  "full_feature_names": bool}`` -> ``{"ok": to_dict()}``
* ``{"op": "write", "view": NAME, "df": {...}}`` -> FeatureStore.write_to_online_store
* ``{"op": "push", "source": NAME, "df": {...}, "to": "ONLINE"}`` -> FeatureStore.push
* ``{"op": "materialize", "start": ISO, "end": ISO, "views": [...]}`` -> FeatureStore.materialize
  (``materialize_incremental`` likewise, with ``end`` and ``views``)
* ``{"op": "http_push", "body": {...}}`` -> POST /push with the body Feast's MCP client sends
* ``{"op": "map_error", "body": ...}`` -> the exception ``FeastError.from_error_detail`` makes

An exception comes back as ``{"error": "module.Class", "message": str(exc)}``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from feast import FeatureStore
from feast.data_source import PushMode


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def _frame(df: dict[str, list[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(df)
    for col in ("event_timestamp", "created"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def run(store: FeatureStore, cmd: dict[str, Any]) -> Any:
    op = cmd["op"]
    if op == "read":
        features: Any = cmd.get("features")
        if "service" in cmd:
            features = store.get_feature_service(cmd["service"])
        resp = store.get_online_features(
            features=features,
            entity_rows=cmd["entity_rows"],
            full_feature_names=cmd.get("full_feature_names", False),
            include_feature_view_version_metadata=cmd.get("version_metadata", False),
        )
        return {k: _plain(v) for k, v in resp.to_dict().items()}
    if op == "write":
        store.write_to_online_store(cmd["view"], _frame(cmd["df"]))
        return None
    if op == "push":
        store.push(cmd["source"], _frame(cmd["df"]), to=PushMode[cmd.get("to", "ONLINE")])
        return None
    if op == "materialize":  # a remote client delegates to POST /materialize
        store.materialize(
            datetime.fromisoformat(cmd["start"]),
            datetime.fromisoformat(cmd["end"]),
            feature_views=cmd["views"],
        )
        return None
    if op == "materialize_incremental":  # POST /materialize-incremental
        store.materialize_incremental(datetime.fromisoformat(cmd["end"]), cmd["views"])
        return None
    if op == "http_push":
        url = store.config.online_store.path + "/push"
        resp = requests.post(url, json=cmd["body"], timeout=30)
        return {"status": resp.status_code, "body": resp.json()}
    if op == "map_error":  # what Feast's client makes of an error body
        from feast.errors import FeastError

        error = FeastError.from_error_detail(cmd["body"])
        return None if error is None else f"{type(error).__module__}.{type(error).__name__}"
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    repo = Path(sys.argv[1])
    subprocess.run(
        [str(Path(sys.executable).parent / "feast"), "apply"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    store = FeatureStore(repo_path=str(repo))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            out: dict[str, Any] = {"ok": run(store, cmd)}
        except Exception as exc:  # every error goes back to the test, typed
            out = {"error": f"{type(exc).__module__}.{type(exc).__name__}", "message": str(exc)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
