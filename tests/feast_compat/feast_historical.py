"""Feast's own training frame for a repo (run by the Feast venv's python, never ours).

Usage: ``python feast_historical.py REPO REQUEST_JSON`` where the request is
``{"entity_df": {column: [values]}, "features": [...]}`` (timestamps as ISO strings). Runs
``feast apply`` in REPO, then prints ``get_historical_features(...).to_df()`` as JSON columns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from feast import FeatureStore


def main() -> None:
    repo = Path(sys.argv[1])
    request = json.loads(sys.argv[2])
    feast = Path(sys.executable).parent / "feast"
    subprocess.run([str(feast), "apply"], cwd=repo, check=True, capture_output=True)
    entity_df = pd.DataFrame(request["entity_df"])
    entity_df["event_timestamp"] = pd.to_datetime(entity_df["event_timestamp"], utc=True)
    store = FeatureStore(repo_path=str(repo))
    frame = store.get_historical_features(entity_df=entity_df, features=request["features"])
    df = frame.to_df().sort_values(list(request["entity_df"])).reset_index(drop=True)
    df["event_timestamp"] = df["event_timestamp"].astype(str)
    print(df.to_json(orient="columns", double_precision=15))


if __name__ == "__main__":
    main()
