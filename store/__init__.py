"""Parity: a point-in-time correct feature store.

Define features once in Python; build leakage-free training frames with DuckDB; serve exactly
the same values from Redis; audit the two against each other.
"""

from __future__ import annotations

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
from store.errors import (
    AmbiguousFeatureError,
    AuditError,
    ConfigError,
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
    SourceError,
    StoreError,
)
from store.feature_store import FeatureStore
from store.ondemand import OnDemandFeatureView
from store.online_response import OnlineResponse, Status
from store.push import PushMode, PushResult
from store.training_frame import TrainingFrame

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
