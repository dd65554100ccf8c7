"""Every error the store raises on purpose.

The tree (callers catch the root, or a built-in where they expect one)::

    StoreError
    ├── ConfigError(ValueError)          parity.yaml / environment is wrong
    ├── DefinitionError(ValueError)      a feature definition is wrong (names object and fix)
    ├── RegistryError                    nothing applied yet, or registry file unreadable
    ├── FeatureNotFoundError(KeyError)   unknown view, feature or feature service
    │   ├── FeatureViewNotFoundError     unknown feature view (names the defined ones)
    │   ├── FeatureServiceNotFoundError  unknown feature service
    │   ├── PushSourceNotFoundError      unknown push source (or view) to push to
    │   └── AmbiguousFeatureError(ValueError)  a short feature name that several views
    │                                          have: the request must qualify it
    ├── EntityFrameError(ValueError)     a bad training request or online entity rows
    │   └── RequestDataError             request data of an on-demand view is missing or
    │                                    does not fit its declared type (names field, row)
    ├── OfflineStoreError                the offline engine failed (DuckDB error converted)
    │   └── SourceError                  a source file/table is missing or unreadable
    ├── OnlineStoreError(ConnectionError) Redis unreachable or failing (names the URL)
    ├── PushError(ValueError)            streamed rows do not match the view
    └── AuditError                       an audit could not run

This module imports nothing internal, so anything may import it.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of every error raised by the store."""


class ConfigError(StoreError, ValueError):
    """The repo configuration (parity.yaml or environment) is invalid."""


class DefinitionError(StoreError, ValueError):
    """A feature definition is invalid; the message names the object and the fix."""


class RegistryError(StoreError):
    """The registry is missing, unreadable, or out of date for the request."""


class FeatureNotFoundError(StoreError, KeyError):
    """An unknown feature view, feature or feature service was requested."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class FeatureViewNotFoundError(FeatureNotFoundError):
    """An unknown feature view (Feast's ``FeatureViewNotFoundException``)."""


class FeatureServiceNotFoundError(FeatureNotFoundError):
    """An unknown feature service (Feast's ``FeatureServiceNotFoundException``)."""


class PushSourceNotFoundError(FeatureNotFoundError):
    """A push names neither a push source nor a feature view (Feast's
    ``PushSourceNotFoundException``)."""


class AmbiguousFeatureError(FeatureNotFoundError, ValueError):
    """A short feature name that several requested views have; the message names them.

    A malformed request rather than a missing feature (the feature server answers 422, not
    404); it stays a FeatureNotFoundError so callers that caught that before still do.
    """


class EntityFrameError(StoreError, ValueError):
    """An entity frame (training request) or online entity rows are malformed."""


class RequestDataError(EntityFrameError):
    """Request data for an on-demand view is missing or does not fit its declared type.

    Attributes:
        column: the request field.
        row: the entity row (0-based), or None when the whole column is at fault.
    """

    def __init__(self, message: str, column: str = "", row: int | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.row = row


class OfflineStoreError(StoreError):
    """The offline engine failed while running a query."""


class SourceError(OfflineStoreError):
    """A source cannot be read, or does not match its declaration."""


class OnlineStoreError(StoreError, ConnectionError):
    """The online store is unreachable or failed; the message names the URL."""


class PushError(StoreError, ValueError):
    """Rows pushed to a view do not match its schema."""


class AuditError(StoreError):
    """An audit could not be run."""


class NotTheExampleError(StoreError):
    """``parity quickstart`` was pointed at a repo that is not the example (it refuses to
    write its sample data over anything else)."""


def unknown_name(
    what: str,
    name: str,
    known: list[str] | tuple[str, ...],
    *,
    cls: type[FeatureNotFoundError] = FeatureNotFoundError,
) -> FeatureNotFoundError:
    """The error (a ``cls``) for a name that is not one of ``known``: it names the candidates
    (the closest first), so a typo is never taken for an empty, green result."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(sorted(known)) or "none"
    return cls(f"unknown {what} {name!r}{hint}; known: {listed}")
