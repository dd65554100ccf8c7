"""The skew lab (issue 17): the ordering it exists to show, reproducible with its seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn", reason="the skew lab needs the 'lab' extra (scikit-learn)")

from store.lab.report import svg_plot, write_html, write_json
from store.lab.skew import run

SIZE = 500
pytestmark = pytest.mark.lab


def _numbers(result: Any) -> dict[str, Any]:
    out = result.to_dict()
    del out["seconds"]
    return out


@pytest.fixture(scope="module")
def two_runs(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    first = run(SIZE, seed=5, workdir=tmp_path_factory.mktemp("lab1"), redis_url=redis_url)
    second = run(SIZE, seed=5, workdir=tmp_path_factory.mktemp("lab2"), redis_url=redis_url)
    return first, second


def test_the_same_seed_gives_the_same_numbers(two_runs: tuple[Any, Any]) -> None:
    first, second = two_runs
    assert _numbers(first) == _numbers(second)


def test_broken_ways_lose_online_and_parity_does_not(two_runs: tuple[Any, Any]) -> None:
    result = two_runs[0]
    parity = result.way("parity")
    for name in ("naive", "ingestion", "tumbling"):
        way = result.way(name)
        assert way.offline_auc - way.online_auc >= 0.05, name
        assert parity.online_auc >= way.online_auc, name
    assert abs(parity.offline_auc - parity.online_auc) <= 0.01
    # serving returned exactly Parity's training frame at every request time
    assert result.served_mismatches == 0


def test_audits_flag_every_broken_way_and_not_parity(two_runs: tuple[Any, Any]) -> None:
    result = two_runs[0]
    assert result.way("parity").flagged_by == []
    assert "leakage" in result.way("naive").flagged_by
    assert "drift" in result.way("ingestion").flagged_by
    tumbling = result.way("tumbling")
    assert {"replay", "drift"} <= set(tumbling.flagged_by)
    assert "tx_24h" in tumbling.audits["drift"]["cause"]
    assert all(result.targets().values()), result.targets()


def test_reports_render(two_runs: tuple[Any, Any], tmp_path: Path) -> None:
    result = two_runs[0]
    data = json.loads(write_json(result, tmp_path / "r.json").read_text())
    assert [w["way"] for w in data["ways"]] == ["naive", "ingestion", "tumbling", "parity"]
    page = write_html(result, tmp_path / "r.html").read_text()
    assert page.count("<svg") == 1 and "Parity: leakage guard" in page
    assert svg_plot(result).count("<rect") == 2 * 4 + 2  # two bars per way, two legend keys
