"""`parity quickstart`: what it reports and what it refuses to touch (fast: no audits run)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.testing import CliRunner

from store.audit.leakage import GUARD, OTHER, WATERMARK
from store.audit.report import AuditReport
from store.cli import app
from store.quickstart import MARKER, _record_written, _remove_sample, leakage_lines
from store.sample import generate

runner = CliRunner()


def _leakage(counts: dict[str, dict[str, int]]) -> AuditReport:
    changed = sum(sum(c.values()) for c in counts.values())
    return AuditReport(kind="leakage", status="alert", summary={"changed": changed}, counts=counts)


def test_leaks_prevented_are_the_guards_count_only() -> None:
    """Rows beyond allowed_lateness and unexplained rows are not "leaks prevented"."""
    report = _leakage(
        {
            "user_txn_stats": {GUARD: 120, WATERMARK: 40, OTHER: 2},
            "user_profile": {GUARD: 30},
        }
    )
    text = "\n".join(leakage_lines(report))
    assert "Parity prevented 150 leaks" in text
    assert "192" not in text  # summary["changed"]: every cause together
    assert "40 values a naive join would take landed later than allowed_lateness" in text
    assert "2 values differ from a naive join for no known cause" in text


def test_no_other_cause_no_besides_line() -> None:
    lines = leakage_lines(_leakage({"user_profile": {GUARD: 7}}))
    assert lines == [
        "Parity prevented 7 leaks: values a naive event-time join would have put in this "
        "training frame although they had not landed at the label's time."
    ]


EXAMPLE = Path(__file__).resolve().parents[1] / "definitions"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _user_repo(tmp_path: Path) -> Path:
    """The reviewer's reproduction: a repo of the user's own with a served log and a
    training frame of its own."""
    repo = tmp_path / "myrepo"
    (repo / "data" / "served").mkdir(parents=True)
    (repo / "parity.yaml").write_text("project: mine\ndata_dir: data\n")
    (repo / "data" / "served" / "part-0.jsonl").write_text('{"served": 1}\n')
    pq.write_table(pa.table({"x": [1, 2]}), repo / "data" / "training_frame.parquet")
    return repo


def test_a_repo_of_ones_own_is_refused_and_untouched(tmp_path: Path) -> None:
    repo = _user_repo(tmp_path)
    before = _files(repo)
    result = runner.invoke(app, ["quickstart", "--repo", str(repo)])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "is not the example" in flat and "fraud_v2" in flat
    assert "parity quickstart --repo definitions" in flat
    assert _files(repo) == before


def test_the_current_folder_is_refused_when_it_is_not_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cd myrepo && parity quickstart` picks '.', and must not touch it."""
    repo = _user_repo(tmp_path)
    before = _files(repo)
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["quickstart"])
    assert result.exit_code == 2, result.output
    assert _files(repo) == before


def _example_copy(tmp_path: Path) -> Path:
    repo = tmp_path / "example"
    repo.mkdir()
    for name in ("parity.yaml", "features.py"):
        shutil.copy(EXAMPLE / name, repo / name)
    return repo


def test_the_example_with_data_of_its_own_is_refused_and_untouched(tmp_path: Path) -> None:
    """Defining fraud_v2 is not enough: a data folder holding anything but the sample (no
    sample.json) is someone's data."""
    repo = _example_copy(tmp_path)
    (repo / "data" / "served").mkdir(parents=True)
    (repo / "data" / "served" / "part-0.jsonl").write_text('{"served": 1}\n')
    pq.write_table(pa.table({"x": [1]}), repo / "data" / "transactions.parquet")
    before = _files(repo)
    result = runner.invoke(app, ["quickstart", "--repo", str(repo)])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "not the quickstart's sample" in flat and "sample.json" in flat
    assert _files(repo) == before
    assert runner.invoke(app, ["quickstart", "--check", "--repo", str(repo)]).exit_code == 2


def test_a_view_reading_other_files_is_not_the_example(tmp_path: Path) -> None:
    repo = _example_copy(tmp_path)
    features = repo / "features.py"
    features.write_text(
        features.read_text().replace('"data/user_profile.parquet"', '"/srv/crm/profiles.parquet"')
    )
    result = runner.invoke(app, ["quickstart", "--check", "--repo", str(repo)])
    assert result.exit_code == 2
    assert "'user_profile' reads /srv/crm/profiles.parquet" in " ".join(result.output.split())
    assert not (repo / "data").exists()


def test_check_accepts_the_example(tmp_path: Path) -> None:
    repo = _example_copy(tmp_path)
    result = runner.invoke(app, ["quickstart", "--check", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert not (repo / "data").exists()  # --check writes nothing
    (repo / "data").mkdir()
    assert runner.invoke(app, ["quickstart", "--check", "--repo", str(repo)]).exit_code == 0


def test_regenerating_deletes_only_what_the_generator_wrote(tmp_path: Path) -> None:
    """A new sample replaces the generator's files; a file of the user's next to them stays,
    and the old sample's served log is moved aside, not deleted."""
    data = tmp_path / "data"
    data.mkdir()
    summary = generate(data, users=20, merchants=5, days=3)
    (data / MARKER).write_text(json.dumps({"end": summary.end.isoformat()}))
    _record_written(data, summary.files)
    mine = data / "user_txn_stats" / "notes.txt"
    mine.write_text("mine")
    (data / "served").mkdir()
    (data / "served" / "part-0.jsonl").write_text("{}\n")
    (data / "stale_day_part").mkdir()
    _remove_sample(data, Console(file=io.StringIO()))
    assert mine.read_text() == "mine"
    assert not any((data / "user_txn_stats").glob("day=*"))  # generated partitions gone
    for name in ("transactions.parquet", "user_profile.parquet", "merchant_risk.parquet"):
        assert not (data / name).exists()
    [aside] = data.glob("served-until-*")
    assert (aside / "part-0.jsonl").read_text() == "{}\n"
    assert (data / "stale_day_part").is_dir() and not (data / MARKER).exists()
