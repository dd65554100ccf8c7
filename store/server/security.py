"""Optional API keys: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

With no keys configured every request passes. Otherwise a request without a key gets 401 and
one with a wrong key 403. Keys are compared as SHA-256 digests with
:func:`hmac.compare_digest` against every configured key (no early exit), and never logged.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from store.server.context import context, key_digest


def presented_key(request: Request) -> str | None:
    """The key the client sent, if any."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def require_key(request: Request) -> None:
    """Refuse the request (401/403) unless it carries a configured key; called by data routes.

    Raises:
        HTTPException: 401 without a key, 403 with a wrong one (when keys are configured).
    """
    digests = context(request).key_digests
    if not digests:
        return
    key = presented_key(request)
    if key is None:
        raise HTTPException(
            401,
            detail="an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    digest = key_digest(key)
    ok = False
    for known in digests:
        ok |= hmac.compare_digest(digest, known)
    if not ok:
        raise HTTPException(403, detail="the API key is not valid for this server")
