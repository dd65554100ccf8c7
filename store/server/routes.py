"""The feature server's routes; each one parses its request and calls the facade.

``/get-online-features`` and ``/push`` parse their bodies themselves (pydantic's JSON parser,
whatever the ``Content-Type``: Feast's examples post with ``curl -d``, which says form data).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import PlainTextResponse, Response

from store.errors import OnlineStoreError
from store.server.context import ServerContext, context
from store.server.errors import speaks_feast, unprocessable, validation_error
from store.server.models import (
    AnyErrorResponse,
    ErrorResponse,
    GetOnlineFeaturesRequest,
    GetOnlineFeaturesResponse,
    MaterializeIncrementalRequest,
    MaterializeRequest,
    PushRequest,
    PushResponse,
    WriteToOnlineStoreRequest,
)
from store.server.responses import JSONResponse, feast_body, view_versions
from store.server.security import require_key

Model = TypeVar("Model", bound=BaseModel)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": AnyErrorResponse if code in (404, 422) else ErrorResponse, "description": text}
    for code, text in [
        (401, "No API key (when keys are configured)"),
        (403, "Wrong API key"),
        (404, "Unknown feature, feature view or feature service"),
        (413, "Request body larger than max_body_bytes"),
        (422, "Malformed request; detail[].loc is the field path"),
        (503, "Online store unreachable, or registry not applied"),
    ]
}

open_router = APIRouter()
# Data routes call require_key first thing (cheaper than a FastAPI dependency per request).
router = APIRouter(responses=_ERRORS)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _parse(request: Request, model: type[Model]) -> Model:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise validation_error(exc) from None


def _check_batch(ctx: ServerContext, n: int, field: str) -> None:
    if n > ctx.max_entities:
        raise unprocessable(
            ["body", field],
            f"{n} rows is more than this server's limit (max_entities={ctx.max_entities}); "
            "split the request",
            "too_many_rows",
        )


@router.post(
    "/get-online-features",
    summary="Read online features (Feast's request and response)",
    response_model=None,
    responses={200: {"model": GetOnlineFeaturesResponse}},
    openapi_extra=_body(GetOnlineFeaturesRequest),
)
async def get_online_features(request: Request) -> Response:
    """Features for entity keys, each with its status and event time, column by column."""
    require_key(request)
    ctx = context(request)
    req = await _parse(request, GetOnlineFeaturesRequest)
    if "include_feature_view_version_metadata" in req.model_fields_set:
        speaks_feast(request)  # only Feast's client sends it (always)
    _check_batch(ctx, req.n_rows, "entities")
    features: list[str] | str = req.feature_service or req.features or []
    request_time = datetime.now(UTC)
    read = ctx.store.get_online_features_async(
        features, req.entity_rows(), full_feature_names=req.full_feature_names
    )
    try:
        async with asyncio.timeout(ctx.read_timeout):  # no extra task, unlike wait_for
            response = await read
    except TimeoutError:
        raise OnlineStoreError(
            f"online store did not answer within {ctx.read_timeout:g}s"
        ) from None
    ctx.metrics.observe_response(response)
    sampled = ctx.served.sample_rate < 1.0
    ctx.served.record(
        response,
        request_id=ctx.request_id(request),
        request_time=request_time,
        key_types=ctx.store.entity_columns(features) if sampled else None,
    )
    meta = None
    if req.include_feature_view_version_metadata:
        number = ctx.store.registry.version_number
        meta = [
            {"name": view, "version": number(view, version), "parity_version": version}
            for view, version in view_versions(response)
        ]
    body = feast_body(
        response, req.entities, parity_statuses=req.parity_statuses, view_metadata=meta
    )
    return JSONResponse(body)


@router.post(
    "/push",
    summary="Stream rows into a feature view (Feast's push request)",
    response_model=None,
    responses={200: {"model": PushResponse}},
    openapi_extra={
        **_body(PushRequest),
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "The push's idempotency id (or push_id in the body).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 256},
            }
        ],
    },
)
async def push(request: Request) -> Response:
    """Rows are stamped created now (unless given), appended offline and/or compare-and-set
    online, by ``to``; ``push_source_name`` may name a push source feeding several views."""
    require_key(request)
    ctx = context(request)
    req = await _parse(request, PushRequest)
    if req.push_source_name is not None:
        speaks_feast(request)
    else:
        ctx.store.get_feature_view(req.target)  # `view` names a view: 404 if unknown
    rows = req.rows()
    _check_batch(ctx, len(rows), "df")
    to = req.to or "online_and_offline"  # Feast's default is "online": see docs/server.md
    push_id = _push_id(request, req.push_id)
    async with ctx.push_lock:  # the offline append is not safe to run twice at once
        result = await anyio.to_thread.run_sync(
            functools.partial(ctx.store.push, req.target, rows, to=to, push_id=push_id)
        )
    return JSONResponse(_push_body(req.target, len(rows), result))


@router.post(
    "/write-to-online-store",
    summary="Write rows to one view's online store (Feast's remote online store writes)",
    response_model=None,
    responses={200: {"model": PushResponse}},
    openapi_extra=_body(WriteToOnlineStoreRequest),
)
async def write_to_online_store(request: Request) -> Response:
    """Feast's online-only write: the facade's push with ``to="online"``."""
    require_key(request)
    speaks_feast(request)
    ctx = context(request)
    req = await _parse(request, WriteToOnlineStoreRequest)
    if _has_infinity(req.df):
        _refuse_overflowing_numbers(await request.body())
    rows = req.rows()
    _check_batch(ctx, len(rows), "df")
    async with ctx.push_lock:
        result = await anyio.to_thread.run_sync(
            ctx.store.write_to_online_store, req.feature_view_name, rows
        )
    return JSONResponse(_push_body(req.feature_view_name, len(rows), result))


def _has_infinity(columns: dict[str, list[Any]]) -> bool:
    return any(
        isinstance(v, float) and math.isinf(v)
        for values in columns.values()
        for value in values
        for v in (value if isinstance(value, list) else [value])
    )


def _refuse_overflowing_numbers(body: bytes) -> None:
    """An infinity in the body must be the literal ``Infinity``, not a number too big for a
    float (``1e400``), which would silently become one."""

    def finite(text: str) -> float:
        number = float(text)
        if math.isinf(number):
            raise unprocessable(
                ["body", "df"],
                f"the number {text[:40]} is beyond a float: send a finite number, or the "
                "literal Infinity / the string 'Infinity' for an infinite value",
                "float_out_of_range",
            )
        return number

    json.loads(body, parse_float=finite, parse_int=int)


def _push_id(request: Request, in_body: str | None) -> str | None:
    """The push's idempotency id: the body's ``push_id`` or the ``Idempotency-Key`` header."""
    header = request.headers.get("idempotency-key")
    if header is not None and not 0 < len(header) <= 256:
        raise unprocessable(["header", "Idempotency-Key"], "must be 1 to 256 characters", "push_id")
    if header is not None and in_body is not None and header != in_body:
        raise unprocessable(
            ["body", "push_id"], "differs from the Idempotency-Key header: send one", "push_id"
        )
    return in_body or header


def _timestamp(text: str | None, field: str) -> datetime:
    if text is None:
        raise unprocessable(["body", field], f"{field} is required (an ISO 8601 timestamp)")
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise unprocessable(
            ["body", field], f"{field}: {text!r} is not an ISO 8601 timestamp"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _materialize_options(request: Request, version: str | None) -> None:
    if request.query_params.get("async", "false").lower() == "true":
        raise unprocessable(
            ["query", "async"],
            "async=true is not supported: materialization runs within the request (drop "
            "run_async=True)",
        )
    if version is not None:
        raise unprocessable(
            ["body", "version"],
            "version pins are not supported: Parity materializes the applied version of each "
            "view (content-hashed); `parity apply` the definition you want",
        )


def _materialized(results: list[Any]) -> dict[str, Any]:
    views = []
    for r in results:
        fields = dataclasses.asdict(r)
        views.append({k: v for k, v in fields.items() if isinstance(v, int | float | str)})
    return {"status": "done", "views": views}


@router.post(
    "/materialize",
    summary="Materialize views (Feast's remote materialize)",
    openapi_extra=_body(MaterializeRequest),
)
async def materialize(request: Request) -> Response:
    """The offline value at ``end_ts`` of every key, written online (the facade's
    ``materialize``)."""
    require_key(request)
    speaks_feast(request)
    ctx = context(request)
    req = await _parse(request, MaterializeRequest)
    _materialize_options(request, req.version)
    if req.disable_event_timestamp:
        start, end = None, datetime.now(UTC)
    else:
        start, end = _timestamp(req.start_ts, "start_ts"), _timestamp(req.end_ts, "end_ts")
        if start >= end:
            raise unprocessable(["body", "start_ts"], "start_ts must be before end_ts")
    run = functools.partial(ctx.store.materialize, end=end, start=start, views=req.feature_views)
    return JSONResponse(_materialized(await anyio.to_thread.run_sync(run)))


@router.post(
    "/materialize-incremental",
    summary="Materialize views incrementally (Feast's remote materialize_incremental)",
    openapi_extra=_body(MaterializeIncrementalRequest),
)
async def materialize_incremental(request: Request) -> Response:
    """From each view's committed watermark up to ``end_ts``, by ingestion time."""
    require_key(request)
    speaks_feast(request)
    ctx = context(request)
    req = await _parse(request, MaterializeIncrementalRequest)
    _materialize_options(request, req.version)
    end = _timestamp(req.end_ts, "end_ts")
    run = functools.partial(ctx.store.materialize_incremental, end=end, views=req.feature_views)
    return JSONResponse(_materialized(await anyio.to_thread.run_sync(run)))


def _push_body(target: str, n: int, result: object) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        fields = dataclasses.asdict(result)
    # Counts only: file paths on the server are none of the client's business.
    detail = {k: v for k, v in fields.items() if isinstance(v, int | float | str) and k != "view"}
    return {"view": target, "rows": n, "detail": detail}


@router.get("/features", summary="Feature views and services")
async def features(request: Request) -> Response:
    """Every view with its features, types, version, ttl and owner; every service and push
    source."""
    require_key(request)
    ctx = context(request)
    services = [
        {
            "name": s.name,
            "features": list(s.features),
            "owner": s.owner,
            "description": s.description,
        }
        for s in ctx.store.definitions.services.values()
    ]
    pushes = [
        {"name": p.name, "views": p.view_names, "description": p.description}
        for p in ctx.store.definitions.push_sources.values()
    ]
    body = {"views": ctx.store.list_features(), "services": services, "push_sources": pushes}
    return JSONResponse(body)


@open_router.get("/health", summary="The process is up")
async def health() -> Response:
    """Always 200 while the process serves HTTP (a liveness probe)."""
    return JSONResponse({"status": "ok"})


@open_router.get(
    "/ready",
    summary="Redis answers and the registry is applied",
    responses={503: {"description": "Not ready: the body lists the problems"}},
)
async def ready(request: Request) -> Response:
    """200 when the server can answer reads; 503 naming each problem otherwise.

    Open (for probes), so with API keys configured the details (Redis host and user, file
    paths) go only to a caller that sends a valid key; others get what is wrong in general.
    """
    ctx = context(request)
    problems = await ctx.problems()
    if problems:
        shown = [detail if _authenticated(request) else what for what, detail in problems]
        return JSONResponse({"status": "not ready", "problems": shown}, status_code=503)
    return JSONResponse({"status": "ready"})


def _authenticated(request: Request) -> bool:
    """Whether the caller may see details: it sent a valid key, or the server has none."""
    try:
        require_key(request)
    except HTTPException:
        return False
    return True


@open_router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Requests, latency, value statuses by view, online-store errors, served-log counters."""
    ctx = context(request)
    served = ctx.served
    extra = [
        ("parity_served_log_written_total", "counter", "Responses logged.", served.written),
        ("parity_served_log_dropped_total", "counter", "Responses not logged (queue full).",
         served.dropped),
        ("parity_served_log_errors_total", "counter", "Responses lost to write errors.",
         served.errors),
    ]  # fmt: skip
    text = ctx.metrics.render(extra)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
