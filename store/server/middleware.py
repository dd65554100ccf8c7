"""One plain ASGI middleware: a request id on every request and response, metrics, and the
body size limit (413 at once for a declared ``Content-Length`` over it; a chunked body is
counted as it arrives and cut off with a 413 when it passes the limit).

Written as raw ASGI (not ``BaseHTTPMiddleware``), so it adds microseconds, not a task.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.server.metrics import Metrics

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestMiddleware:
    """Assign ``scope["state"]["request_id"]`` (the client's ``X-Request-ID`` when it is a
    sane token, else a new one), echo it as a response header, and time the request by route.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._prefix = uuid.uuid4().hex[:16].encode()
        self._counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = b""
        declared = 0
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
                request_id = value
            elif name == b"content-length" and value.isdigit():
                declared = int(value)
        if not request_id:
            # A random per-process prefix and a counter: unique, without a syscall per request.
            request_id = b"%s%016x" % (self._prefix, next(self._counter))
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        code = 500

        async def send_with_id(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            await send(message)

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(413, detail=self._detail(f"more than {received} bytes"))
            return message

        try:
            if declared > self.max_body_bytes:
                await self._too_large(declared, send_with_id)
            else:
                await self.app(scope, counted_receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - start
            self.metrics.observe_request(scope["method"], path, code, seconds)

    def _detail(self, size: str) -> str:
        return (
            f"request body of {size} is larger than this server's limit "
            f"(max_body_bytes={self.max_body_bytes}); split the request"
        )

    async def _too_large(self, size: int, send: Send) -> None:
        body = orjson.dumps({"detail": self._detail(f"{size} bytes")})
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
