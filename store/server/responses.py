"""Encoding an :class:`~store.online_response.OnlineResponse` as Feast's HTTP JSON, with orjson.

Feast's response is column-oriented: ``metadata.feature_names`` lists the join-key columns
then the features, and ``results[i]`` holds column i across all entity rows (its ``values``,
``statuses`` and ``event_timestamps``). Join-key columns are ``PRESENT`` with the epoch as their
event time, as Feast does.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse

from store.online_response import OnlineResponse
from store.served_log import StampEncoder, nonfinite_name, replace_nonfinite

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


class JSONResponse(StarletteJSONResponse):
    """A JSON response encoded by orjson (datetimes as RFC 3339 with ``Z``)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


def view_versions(response: OnlineResponse) -> list[tuple[str, str]]:
    """The (view, version) of every view a response read, in column order."""
    return list(dict.fromkeys((c.view, c.version) for c in response.columns))


def feast_body(
    response: OnlineResponse,
    entities: dict[str, list[Any]],
    *,
    parity_statuses: bool = False,
    view_metadata: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Feast ``GetOnlineFeaturesResponse`` JSON of ``response``.

    Args:
        response: what the facade read.
        entities: the request's entity columns (output first, in request order).
        parity_statuses: use Parity's status names instead of Feast's.
        view_metadata: ``metadata.feature_view_metadata`` (Feast's
            ``include_feature_view_version_metadata``), when asked for.
    """
    n = len(response.entity_rows)
    names = [*entities, *response.feature_names]
    results: list[dict[str, Any]] = [
        {"values": values, "statuses": ["PRESENT"] * n, "event_timestamps": [EPOCH] * n}
        for values in entities.values()
    ]
    stamps = StampEncoder(_OPTIONS)
    for col in response.columns:
        # Non-finite floats as protobuf's JSON writes them ("NaN", "Infinity").
        values = replace_nonfinite(col.values, nonfinite_name)
        statuses = col.statuses if parity_statuses else _feast_statuses(col.statuses, values)
        results.append(
            {
                "values": values,
                "statuses": statuses,
                "event_timestamps": stamps(col.event_timestamps),
            }
        )
    metadata: dict[str, Any] = {"feature_names": names}
    if view_metadata is not None:
        metadata["feature_view_metadata"] = view_metadata
    return {"metadata": metadata, "results": results}


def _feast_statuses(statuses: list[Any], values: list[Any]) -> list[Any]:
    # list.count and `in` compare in C; hashing a Status member runs Python code, so the
    # per-value lookup is left for columns that are not all PRESENT and non-null.
    if statuses.count("PRESENT") == len(statuses) and None not in values:
        return ["PRESENT"] * len(statuses)
    return [
        NULL_VALUE if s == "PRESENT" and v is None else FEAST_STATUS[s]
        for s, v in zip(statuses, values, strict=True)
    ]
