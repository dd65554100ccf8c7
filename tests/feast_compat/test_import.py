"""``parity import-feast`` on the repo ``feast init`` generates: the converted repo loads and
its training frames equal Feast's own where the two rules agree."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from store import FeatureStore
from tests.feast_compat.conftest import feast_python

pytestmark = pytest.mark.feast

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def init_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = feast_python()
    assert python is not None
    root = tmp_path_factory.mktemp("feast_init")
    feast = python.with_name("feast")
    subprocess.run([str(feast), "init", "demo"], cwd=root, check=True, capture_output=True)
    return root / "demo" / "feature_repo"


def _parity(*args: str) -> subprocess.CompletedProcess[str]:
    parity = Path(sys.executable).with_name("parity")
    return subprocess.run([str(parity), *args], capture_output=True, text=True, timeout=300)


def test_import_of_feast_init_reports_what_it_cannot_convert(init_repo: Path) -> None:
    out = init_repo.parent / "parity_repo"
    run = _parity("import-feast", str(init_repo), "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    text = " ".join(run.stdout.split())
    assert "converted 2 feature view(s): driver_hourly_stats, driver_hourly_stats_fresh" in text
    assert "converted 2 on-demand feature view(s)" in text
    assert "converted 3 feature service(s)" in text
    assert "driver_hourly_stats:driver_metadata" in text and "no Map type" in text
    assert "no Struct type" in text and "no Json type" in text
    assert "LabelView 'driver_quality_labels'" in text
    assert "1807 by the leakage guard" in text  # every row landed after its event (created)
    fs = FeatureStore(out)
    assert sorted(fs.definitions.on_demand) == [
        "transformed_conv_rate",
        "transformed_conv_rate_fresh",
    ]
    assert fs.definitions.push_sources["driver_stats_push_source"].view_names == [
        "driver_hourly_stats_fresh"
    ]
    again = _parity("import-feast", str(init_repo), "--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr


def test_training_frames_equal_feasts_where_the_rules_agree(init_repo: Path) -> None:
    out = init_repo.parent / "parity_repo2"
    assert (
        _parity("import-feast", str(init_repo), "--out", str(out), "--sample", "0").returncode == 0
    )
    source = pd.read_parquet(init_repo / "data" / "driver_stats.parquet")
    # after every row landed (created), and not at an event time: both rules pick the same row
    t = pd.Timestamp(source["created"].max(), tz="UTC") + timedelta(minutes=30, microseconds=7)
    drivers = sorted(int(d) for d in source["driver_id"].unique())
    entity = {
        "driver_id": drivers,
        "event_timestamp": [t.isoformat()] * len(drivers),
        "val_to_add": list(range(len(drivers))),
        "val_to_add_2": [10] * len(drivers),
    }
    features = [
        "driver_hourly_stats:conv_rate",
        "driver_hourly_stats:avg_daily_trips",
        "transformed_conv_rate:conv_rate_plus_val1",
    ]
    request = json.dumps({"entity_df": entity, "features": features})
    python = feast_python()
    assert python is not None
    run = subprocess.run(
        [str(python), str(HERE / "feast_historical.py"), str(init_repo), request],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    theirs = json.loads(run.stdout)
    frame = pd.DataFrame({**entity, "event_timestamp": [t] * len(drivers)})
    ours = FeatureStore(out).get_historical_features(frame, features).to_df()
    ours = ours.sort_values("driver_id").reset_index(drop=True)
    for col in ("conv_rate", "avg_daily_trips", "conv_rate_plus_val1"):
        expected = [theirs[col][str(i)] for i in range(len(drivers))]
        assert ours[col].tolist() == pytest.approx(expected, rel=1e-6), col
    assert ours["conv_rate"].notna().all()
