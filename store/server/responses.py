"""Encoding an :class:`~store.online_response.OnlineResponse` as Feast's HTTP JSON, with orjson.

Feast's response is column-oriented: ``metadata.feature_names`` lists the join-key columns
then the features, and ``results[i]`` holds column i across all entity rows (its ``values``,
``statuses`` and ``event_timestamps``). Join-key columns are ``PRESENT`` with the epoch as their
event time, as Feast does.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from starlette.responses import Response

from store.online_response import OnlineResponse

EPOCH = "1970-01-01T00:00:00Z"
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC

# Parity status -> Feast FieldStatus name (see docs/server.md for why each is so).
FEAST_STATUS = {
    "PRESENT": "PRESENT",
    "MISSING": "NOT_FOUND",
    "EXPIRED": "OUTSIDE_MAX_AGE",
    "VERSION_MISMATCH": "NOT_FOUND",
}
NULL_VALUE = "NULL_VALUE"


class JSONResponse(Response):
    """A JSON response encoded by orjson (datetimes as RFC 3339 with ``Z``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


def _jsonable(value: Any) -> Any:
    """Non-finite floats as proto3 JSON writes them (``"NaN"``, ``"Infinity"``)."""
    if value.__class__ is float:
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if value.__class__ is list:
        return [_jsonable(v) for v in value]
    return value


def feast_body(
    response: OnlineResponse, entities: dict[str, list[Any]], *, parity_statuses: bool = False
) -> dict[str, Any]:
    """The Feast ``GetOnlineFeaturesResponse`` JSON of ``response``.

    Args:
        response: what the facade read.
        entities: the request's entity columns (output first, in request order).
        parity_statuses: use Parity's status names instead of Feast's.
    """
    n = len(response.entity_rows)
    names = [*entities, *response.feature_names]
    results: list[dict[str, Any]] = [
        {"values": values, "statuses": ["PRESENT"] * n, "event_timestamps": [EPOCH] * n}
        for values in entities.values()
    ]
    for col in response.columns:
        values = [_jsonable(v) for v in col.values]
        if parity_statuses:
            statuses = [str(s) for s in col.statuses]
        else:
            statuses = [
                NULL_VALUE if v is None and s == "PRESENT" else FEAST_STATUS[str(s)]
                for v, s in zip(values, col.statuses, strict=True)
            ]
        results.append(
            {"values": values, "statuses": statuses, "event_timestamps": col.event_timestamps}
        )
    return {"metadata": {"feature_names": names}, "results": results}
