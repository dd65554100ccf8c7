"""post_webhook against a real HTTP server on 127.0.0.1 in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import orjson
import pytest

from store.audit import AuditReport, post_webhook
from store.errors import AuditError


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/fail":
            self.send_response(500)
        else:
            type(self).received.append(orjson.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_post_webhook_sends_the_report(hook_url: str) -> None:
    report = AuditReport("drift", "alert", {"features": 3})
    assert post_webhook(hook_url + "/hook", report, timeout=5) == 204
    (payload,) = _Hook.received
    assert payload["status"] == "alert" and payload["text"] == "parity drift audit: ALERT"
    assert payload["summary"] == {"features": 3}


def test_post_webhook_errors_name_the_url(hook_url: str) -> None:
    report = AuditReport("drift", "alert", {})
    with pytest.raises(AuditError, match="/fail answered HTTP 500"):
        post_webhook(hook_url + "/fail", report, timeout=5)
    with pytest.raises(AuditError, match="must start with http"):
        post_webhook("file:///etc/passwd", report)
    with pytest.raises(AuditError, match="unreachable"):
        post_webhook("http://127.0.0.1:9/", report, timeout=2)
