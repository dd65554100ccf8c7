"""The feature server: ``create_app(store)`` builds it, ``serve(repo, ...)`` runs it."""

from __future__ import annotations

from store.server.app import create_app
from store.server.run import serve

__all__ = ["create_app", "serve"]
