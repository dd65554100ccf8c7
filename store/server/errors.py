"""The one place where errors become HTTP responses.

=======================================  ====  =============================================
error                                    code  why
=======================================  ====  =============================================
malformed body (types, keys, lengths)    422   ``detail`` lists ``loc`` (field path) + ``msg``
EntityFrameError, PushError,             422   the request's values do not fit the view
DefinitionError                                (RequestDataError: ``loc`` is the field, row)
AmbiguousFeatureError                    422   a short feature name several views have
FeatureNotFoundError                     404   unknown feature, view or feature service
OnlineStoreError                         503   Redis unreachable or failing (retry later)
RegistryError, OfflineStoreError         503   nothing applied / definitions changed / offline
                                               store failing: the server cannot answer now
PushSourceNotFoundError                  422   as feast serve answers an unknown push source
any other StoreError or exception        500   a bug: logged with the request id
=======================================  ====  =============================================

A request in Feast's dialect (any ``/write-to-online-store``, a ``/push`` naming
``push_source_name``, a ``/get-online-features`` carrying ``include_feature_view_version_metadata``,
which Feast's client always sends) gets, for an error Feast has a class for, Feast's error body:
a JSON *string* holding ``{"module", "class", "message"}`` (what Feast's client turns back into
its exception, e.g. ``FeatureViewNotFoundException``), with our message and our ``detail``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.errors import (
    AmbiguousFeatureError,
    DefinitionError,
    EntityFrameError,
    FeatureNotFoundError,
    FeatureServiceNotFoundError,
    FeatureViewNotFoundError,
    OfflineStoreError,
    OnlineStoreError,
    PushError,
    PushSourceNotFoundError,
    RegistryError,
    RequestDataError,
    StoreError,
)
from store.server.context import context
from store.server.metrics import Metrics
from store.server.models import ENTITY_VALUE_MSG
from store.server.responses import JSONResponse

log = logging.getLogger("parity.server")

_STATUS: list[tuple[type[StoreError], int]] = [  # first match wins: subclasses first
    (AmbiguousFeatureError, 422),
    (PushSourceNotFoundError, 422),
    (FeatureNotFoundError, 404),
    (EntityFrameError, 422),
    (PushError, 422),
    (DefinitionError, 422),
    (OnlineStoreError, 503),
    (RegistryError, 503),
    (OfflineStoreError, 503),
]


# Our error -> the class in ``feast.errors`` Feast's client re-raises (subclasses first).
_FEAST_CLASS: list[tuple[type[StoreError], str]] = [
    (AmbiguousFeatureError, "FeatureNameCollisionError"),
    (FeatureViewNotFoundError, "FeatureViewNotFoundException"),
    (FeatureServiceNotFoundError, "FeatureServiceNotFoundException"),
    (PushSourceNotFoundError, "PushSourceNotFoundException"),
    (FeatureNotFoundError, "FeastObjectNotFoundException"),
]
_FEAST_STATE = "feast_dialect"


def speaks_feast(request: Request) -> None:
    """Mark ``request`` as sent in Feast's dialect: its errors get Feast's error body."""
    request.scope.setdefault("state", {})[_FEAST_STATE] = True


def feast_error(exc: StoreError, detail: Any) -> str | None:
    """Feast's error body for ``exc`` (a JSON document as a string, as ``feast serve`` sends
    it and ``FeastError.from_error_detail`` reads it), or None when Feast has no class."""
    for cls, name in _FEAST_CLASS:
        if isinstance(exc, cls):
            doc = {"module": "feast.errors", "class": name, "message": str(exc), "detail": detail}
            return orjson.dumps(doc).decode()
    return None


def status_of(exc: StoreError) -> int:
    """The HTTP status code for a store error."""
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def validation_error(exc: ValidationError, prefix: Sequence[str | int] = ("body",)) -> Any:
    """A FastAPI 422 error for a pydantic error raised while parsing part of a request.

    The per-member errors of an entity value (``entities.<key>.<i>.int`` / ``.str`` / ...,
    and those of a list's items) become one error at ``entities.<key>.<i>``.
    """
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        loc, kind, msg = tuple(e["loc"]), e["type"], e["msg"].removeprefix("Value error, ")
        if len(loc) >= 4 and loc[0] == "entities":
            loc, kind, msg = loc[:3], "entity_value_type", ENTITY_VALUE_MSG
            if loc in seen:
                continue
            seen.add(loc)
        out.append({"type": kind, "loc": (*prefix, *loc), "msg": msg})
    return RequestValidationError(out)


def unprocessable(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> HTTPException:
    """A 422 with the same body shape as a validation error, for checks made in a route."""
    return HTTPException(422, detail=[{"type": kind, "loc": list(loc), "msg": msg}])


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def install(app: FastAPI, metrics: Metrics) -> None:
    """Register the exception handlers on ``app``."""

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StoreError)
        code = status_of(exc)
        if isinstance(exc, OnlineStoreError):
            metrics.online_errors += 1
            # The first process to find the embedded Redis dead starts it: this request
            # still fails, the next one is served.
            await context(request).revive_online()
        if code >= 500:
            log.error("request %s failed: %s: %s", _request_id(request), type(exc).__name__, exc)
        detail: Any = str(exc)
        if code == 422:
            detail = [{"type": type(exc).__name__, "loc": _loc_of(exc), "msg": str(exc)}]
        if request.scope.get("state", {}).get(_FEAST_STATE):
            feast = feast_error(exc, detail)
            if feast is not None:
                return JSONResponse(feast, status_code=code)
        return JSONResponse({"detail": detail}, status_code=code)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed with an unexpected error", _request_id(request))
        return JSONResponse(
            {"detail": f"internal error (request id {_request_id(request)})"}, status_code=500
        )

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(StoreError, on_store_error)
    app.add_exception_handler(Exception, on_bug)


def _loc_of(exc: StoreError) -> list[str | int]:
    if isinstance(exc, RequestDataError) and exc.column:
        row = [] if exc.row is None else [exc.row]
        return ["body", "entities", exc.column, *row]
    if isinstance(exc, EntityFrameError):
        return ["body", "entities"]
    if isinstance(exc, PushError):
        return ["body", "df"]
    return ["body"]
