"""Post an audit report to a webhook (Slack-style incoming hooks, or any JSON endpoint)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import orjson

from store.errors import AuditError

if TYPE_CHECKING:
    from store.audit.report import AuditReport


def post_webhook(url: str, report: AuditReport, *, timeout: float = 10.0) -> int:
    """POST ``report.to_json()`` to ``url`` and return the HTTP status.

    The body carries the whole report plus a one-line ``text`` field (what chat webhooks
    show). Only ``http`` and ``https`` URLs are accepted.

    Args:
        url: the endpoint.
        report: the report to send.
        timeout: seconds to wait for the connection and the answer.

    Raises:
        AuditError: the URL is not http(s), the endpoint is unreachable, or it answered with
            an error status; the message names the URL.
    """
    if not url.startswith(("http://", "https://")):
        raise AuditError(f"webhook URL {url!r} must start with http:// or https://")
    payload = report.to_dict()
    payload["text"] = f"parity {report.kind} audit: {report.status.upper()}"
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise AuditError(f"webhook {url} answered HTTP {exc.code}: {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise AuditError(f"webhook {url} is unreachable: {exc}") from exc
