"""Every command on the example's kinds of views: exit codes 0/1/2, names, folders, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from store.cli import app
from store.online.embedded import is_running, stop_embedded

from .audit.agg_repo import make_agg_store

runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path, redis_url: str, request: pytest.FixtureRequest) -> Path:
    root = tmp_path / "repo"
    fs, t0 = make_agg_store(root, redis_url, f"cli{abs(hash(request.node.name)) % 10**6}")
    fs.close()
    entities = pd.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [t0, t0, t0]})
    entities.to_parquet(root / "entities.parquet")
    return root


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_training_frame_of_an_aggregation_view(repo: Path) -> None:
    """Item 2: the manifest has no row choice for a window; the table says so, no crash."""
    out = repo / "frames" / "agg.parquet"
    for features in (["-f", "agg"], ["-f", "agg:n_2h"]):
        code, text = _run(
            "training-frame", "--repo", str(repo), "--entities", str(repo / "entities.parquet"),
            *features, "--out", str(out),
        )  # fmt: skip
        assert code == 0, text
        assert "n/a (window" in text and out.exists()


def test_a_single_view_name_everywhere(repo: Path) -> None:
    """Item 4: `-f VIEW` means every feature of the view, in every command that takes -f."""
    entities = str(repo / "entities.parquet")
    code, text = _run("get", "--repo", str(repo), "-f", "agg", "-e", "user_id=1", "--json")
    assert code == 0, text
    assert "n_2h" in text and "tier_last" in text
    code, text = _run("audit", "leakage", "--repo", str(repo), "--entities", entities, "-f", "agg")
    assert code == 0, text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["get", "-f", "ag", "-e", "user_id=1"], "did you mean 'agg'"),
        (["audit", "replay", "--view", "foo"], "unknown view 'foo'"),
        (["audit", "parity", "--view", "ag"], "'ag'"),
        (["audit", "schema", "--view", "ag"], "'ag'"),
        (["materialize", "now", "--view", "ag"], "'ag'"),
        (["validate", "--view", "ag"], "'ag'"),
    ],
)
def test_unknown_names_exit_2_naming_candidates(repo: Path, args: list[str], expected: str) -> None:
    """Item 5: a typo is an error naming the candidates, never an empty green result."""
    code, text = _run(*args, "--repo", str(repo))
    assert code == 2, text
    assert expected in text and "agg" in text


def test_drift_of_an_unknown_feature(repo: Path) -> None:
    frame = repo / "frame.parquet"
    pd.DataFrame({"user_id": [1], "n_2h": [3], "country": ["x"]}).to_parquet(frame)
    code, text = _run(
        "audit", "drift", "--repo", str(repo), "--baseline", str(frame), "--current",
        str(frame), "--feature", "n_2hh",
    )  # fmt: skip
    assert code == 2 and "did you mean 'n_2h'" in text, text


def test_an_unexpected_error_exits_2_with_one_line(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 5: a crash is never exit 1 with a traceback."""
    from store.feature_store import FeatureStore

    def broken(self: FeatureStore) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(FeatureStore, "list_features", broken)
    code, text = _run("features", "--repo", str(repo))
    assert code == 2
    assert "unexpected RuntimeError: boom" in text and "Traceback" not in text


def test_reports_into_a_missing_folder(repo: Path) -> None:
    """Item 6: --json/--html create their folder."""
    out = repo / "reports" / "deep"
    code, text = _run(
        "audit", "parity", "--repo", str(repo), "--json", str(out / "p.json"),
        "--html", str(out / "p.html"),
    )  # fmt: skip
    assert code == 0, text
    assert json.loads((out / "p.json").read_text())["kind"] == "parity"
    assert (out / "p.html").exists()


def test_redis_status_never_starts_the_server(tmp_path: Path) -> None:
    """Item 7: a status does not change state."""
    (tmp_path / "parity.yaml").write_text("project: status\n")
    (tmp_path / "features.py").write_text("")
    data = tmp_path / "data"
    try:  # whatever fails, no redis-server is left running
        code, text = _run("redis", "status", "--repo", str(tmp_path))
        assert code == 1 and "not running" in text
        assert not is_running(data)
        from store import FeatureStore

        FeatureStore(tmp_path).online.ping()  # starts the embedded server
        code, text = _run("redis", "status", "--repo", str(tmp_path))
        assert code == 0 and "answers" in text
        assert stop_embedded(data)
        code, text = _run("redis", "status", "--repo", str(tmp_path))
        assert code == 1 and not is_running(data)
    finally:
        stop_embedded(data)


def test_outside_a_repo_the_hint_is_true(tmp_path: Path) -> None:
    """Item 9: nothing suggests that `parity quickstart` creates a parity.yaml."""
    code, text = _run("features", "--repo", str(tmp_path))
    assert code == 2
    flat = " ".join(text.split())
    assert "create one with `parity quickstart`" not in flat
    assert "parity.yaml (at least `project: NAME`)" in flat


def test_help_imports_no_engine() -> None:
    """Item 12: `parity --help` must not pay for DuckDB, pandas, pyarrow or redis."""
    code = (
        "import sys, store.cli; "
        "print(sorted(m for m in ('duckdb', 'pandas', 'pyarrow', 'redis', 'numpy', 'fastapi') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_get_parses_keys_and_request_data_by_declared_type(repo: Path) -> None:
    """Item 3: `amount=20.5` is a float; status and age are shown; the syntax is in --help."""
    code, text = _run("get", "--repo", str(repo), "-f", "ratio", "-f", "agg:n_2h",
                      "-e", "user_id=1,x=20.5", "-e", "user_id=2, x=7")  # fmt: skip
    assert code == 0, text
    assert "status" in text and "age" in text and "PRESENT" in text
    code, text = _run("get", "--repo", str(repo), "-f", "ratio", "-f", "agg:amount_2h",
                      "-e", "user_id=1,x=20.5", "--json")  # fmt: skip
    data = json.loads(text)
    assert data["share"][0] == pytest.approx(20.5 / data["amount_2h"][0])
    code, text = _run("get", "--repo", str(repo), "-f", "ratio", "-e", "user_id=1,x=abc")
    assert code == 2 and "'x'" in text and "float64" in text, text
    code, text = _run("get", "--repo", str(repo), "-f", "ratio", "-e", "user_id=1.5,x=1")
    assert code == 2 and "'user_id'" in text and "int64" in text, text
    code, text = _run("get", "--repo", str(repo), "-f", "ratio", "-e", "user_id=1,y=1")
    assert code == 2 and "user_id, x" in text, text
    code, text = _run("get", "--help")
    assert "key=value" in text and "request data" in " ".join(text.split())


def test_features_and_drift_cover_on_demand_views(repo: Path) -> None:
    """Item 10: `parity features` (and /features, the same facade call) list on-demand views;
    the drift audit covers their features."""
    code, text = _run("features", "--repo", str(repo), "--json")
    assert code == 0, text
    views = {v["view"]: v for v in json.loads(text)}
    assert views["agg"]["kind"] == "aggregation"
    assert views["ratio"]["kind"] == "on_demand"
    assert views["ratio"]["request_fields"] == {"x": "float64"}
    assert views["ratio"]["sources"] == ["agg:amount_2h"]
    assert views["ratio"]["join_keys"] == {"user_id": "int64"}
    assert views["ratio"]["applied_version"] == views["ratio"]["version"]
    frame = repo / "frame.parquet"
    pd.DataFrame({"share": [0.1 * i for i in range(200)]}).to_parquet(frame)
    code, text = _run("audit", "drift", "--repo", str(repo), "--baseline", str(frame),
                      "--current", str(frame), "--json", str(repo / "d.json"))  # fmt: skip
    assert code == 0, text
    assert [r["feature"] for r in json.loads((repo / "d.json").read_text())["rows"]] == ["share"]


def test_drift_says_which_baseline_features_it_could_not_audit(repo: Path) -> None:
    """Item 10: a feature is covered or its row of the summary says why not."""
    base, cur = repo / "base.parquet", repo / "cur.parquet"
    pd.DataFrame({"n_2h": list(range(200)), "share": [0.5] * 200}).to_parquet(base)
    pd.DataFrame({"n_2h": list(range(200))}).to_parquet(cur)
    code, text = _run("audit", "drift", "--repo", str(repo), "--baseline", str(base),
                      "--current", str(cur), "--json", str(repo / "d.json"))  # fmt: skip
    assert code == 0, text  # a warning (exit 1 only on alert)
    data = json.loads((repo / "d.json").read_text())
    # A baseline feature the current data lacks is a warning naming it, not a silent OK.
    assert data["status"] == "warn" and data["summary"]["absent"] == ["share"]
    assert "no values in the current data (warn): share" in data["summary"]["headline"]
    share = next(r for r in data["rows"] if r["feature"] == "share")
    assert share["status"] == "warn" and "share" in share["reasons"][0]


@pytest.mark.parametrize("args", [["--help"], ["features", "--help"], ["audit", "--help"]])
def test_a_reader_that_leaves_is_not_an_error(args: list[str]) -> None:
    """`parity --help | head`: the reader is gone before parity writes; exit 0, not 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: every write is EPIPE, whatever the timing
    try:
        code = subprocess.run(
            [sys.executable, "-c", "from store.cli import main; main()", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert code.returncode == 0, code.stderr.decode()
