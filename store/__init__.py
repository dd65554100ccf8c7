"""Parity: a point-in-time correct feature store.

Define features once in Python; build leakage-free training frames with DuckDB; serve exactly
the same values from Redis; audit the two against each other.
"""

from __future__ import annotations

import typing as _typing

from store.errors import (
    AmbiguousFeatureError,
    AuditError,
    ConfigError,
    DefinitionError,
    EntityFrameError,
    FeatureNotFoundError,
    FeatureServiceNotFoundError,
    FeatureViewNotFoundError,
    NotTheExampleError,
    OfflineStoreError,
    OnlineStoreError,
    PushError,
    PushSourceNotFoundError,
    RegistryError,
    RequestDataError,
    SourceError,
    StoreError,
)

if _typing.TYPE_CHECKING:
    from store.aggregation import Aggregation, AggregationView
    from store.definitions import (
        DuckDBSource,
        Entity,
        FeatureService,
        FeatureView,
        Field,
        ParquetSource,
        PushSource,
    )
    from store.feature_store import FeatureStore
    from store.ondemand import OnDemandFeatureView
    from store.online_response import OnlineResponse, Status
    from store.push import PushMode, PushResult
    from store.training_frame import TrainingFrame

# Imported on first use (PEP 562), so `parity --help` and `import store.errors` stay fast:
# the engines (DuckDB, pyarrow, pandas, redis) load only when a command needs them.
_LAZY = {
    "Aggregation": "store.aggregation",
    "AggregationView": "store.aggregation",
    "DuckDBSource": "store.definitions",
    "Entity": "store.definitions",
    "FeatureService": "store.definitions",
    "FeatureView": "store.definitions",
    "Field": "store.definitions",
    "ParquetSource": "store.definitions",
    "PushSource": "store.definitions",
    "PushMode": "store.push",
    "PushResult": "store.push",
    "FeatureStore": "store.feature_store",
    "OnDemandFeatureView": "store.ondemand",
    "OnlineResponse": "store.online_response",
    "Status": "store.online_response",
    "TrainingFrame": "store.training_frame",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "AggregationView",
    "AmbiguousFeatureError",
    "AuditError",
    "ConfigError",
    "DefinitionError",
    "DuckDBSource",
    "Entity",
    "EntityFrameError",
    "FeatureNotFoundError",
    "FeatureService",
    "FeatureServiceNotFoundError",
    "FeatureStore",
    "FeatureView",
    "FeatureViewNotFoundError",
    "Field",
    "NotTheExampleError",
    "OfflineStoreError",
    "OnDemandFeatureView",
    "OnlineResponse",
    "OnlineStoreError",
    "ParquetSource",
    "PushError",
    "PushMode",
    "PushResult",
    "PushSource",
    "PushSourceNotFoundError",
    "RegistryError",
    "RequestDataError",
    "SourceError",
    "Status",
    "StoreError",
    "TrainingFrame",
    "__version__",
]
