"""The whole OpenAPI schema under the schemathesis CLI with ``--checks all`` (marker ``fuzz``),
and the schema's statement of "exactly one of features / feature_service"."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Served, ServerThread, make_repo


@pytest.mark.fuzz
def test_schemathesis_checks_all_over_the_whole_schema(
    tmp_path: Path, redis_url: str, serve_repo: Callable[[Path], ServerThread]
) -> None:
    """The schemathesis CLI with ``--checks all`` (every check but one, below) over every
    operation: 0 server errors, every response as declared, bad input refused.

    ``positive_data_acceptance`` is left out: it calls every schema-valid body valid, and some
    rules cannot be written in JSON Schema (the columns of ``entities`` / ``df`` have equal
    lengths; a view name must exist). Those bodies get a 422 naming the rule, by design.
    """
    repo = make_repo(tmp_path / "repo", redis_url, {"max_entities": 50})
    server = serve_repo(repo)
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(cli), "run", f"{server.url}/openapi.json",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--max-examples", "25", "--seed", "1", "--request-timeout", "10", "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "Server error" not in out and "passed" in out


def test_the_schema_states_exactly_one_of_features_or_feature_service(
    served: Served,
) -> None:
    spec = served.http.get("/openapi.json").json()
    body = spec["paths"]["/get-online-features"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    assert "exactly one of features / feature_service" in schema["description"]
    branches = [sorted(b["required"]) for b in schema["oneOf"]]
    assert branches == [["features"], ["feature_service"]]
    push = spec["paths"]["/push"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [b["required"] for b in push["oneOf"]] == [["push_source_name"], ["view"]]
