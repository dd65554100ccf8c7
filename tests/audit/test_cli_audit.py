"""``parity audit ...``: summary, reports, exit code 0 when clean and 1 on alert."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from typer.testing import CliRunner

from store.cli import app
from store.online.codec import encode
from store.types import ValueType

from .repo import make_store

runner = CliRunner()


def test_audit_commands(tmp_path: Path, redis_url: str) -> None:
    root = tmp_path / "repo"
    fs, _ = make_store(root, redis_url, "cli")
    fs.close()
    out = tmp_path / "parity.json"
    html = tmp_path / "parity.html"
    args = ["audit", "parity", "--repo", str(root), "--json", str(out), "--html", str(html)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["status"] == "ok"
    assert html.read_text().startswith("<!")

    client = redis.Redis.from_url(redis_url)
    client.hset("p:{cli|3}:stats", "n", encode(5, ValueType("int64")))
    result = runner.invoke(app, [*args[:4], "--sample", "40"])
    assert result.exit_code == 1 and "1 differences in 40 keys" in result.output

    result = runner.invoke(app, ["audit", "schema", "--repo", str(root)])
    assert result.exit_code == 0, result.output
