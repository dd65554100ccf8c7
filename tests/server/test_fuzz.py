"""Schemathesis fuzzes every route of the OpenAPI schema: no 500s, no hangs, answers as declared.

Bounded: a few dozen examples per route, so the whole run takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server.conftest import ServerThread, make_repo

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[schemathesis.BaseSchema]:
    repo = make_repo(tmp_path_factory.mktemp("fuzz"), redis_url, {"max_entities": 50})
    with ServerThread(repo) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_no_hangs(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, timeout=10)
