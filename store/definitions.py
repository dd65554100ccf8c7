"""Feature definitions: Entity, sources, Field, FeatureView, FeatureService.

Every object is frozen and validated when built, so a mistake is reported where it is written.
A feature view's ``version`` is a content hash over everything that can change one of its
values (source, keys, fields and expressions, ttl, lateness, delay); descriptions, owners and
tags do not change it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from store.errors import DefinitionError
from store.sql_expr import scalar_sql, select_sql
from store.types import ValueType, check_name


def _delta(value: object, *, what: str, allow_none: bool) -> timedelta | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, timedelta):
        raise DefinitionError(f"{what} must be a datetime.timedelta, got {value!r}")
    if value < timedelta(0):
        raise DefinitionError(f"{what} must not be negative, got {value}")
    return value


def _micros(value: timedelta | None) -> int | None:
    return None if value is None else value // timedelta(microseconds=1)


@dataclass(frozen=True)
class Entity:
    """A named key, e.g. ``user``, with one or more typed join-key columns.

    Args:
        name: the entity's name.
        join_keys: ``{"user_id": "int64"}``; several columns make a compound key.
        description: free text.
    """

    name: str
    join_keys: Mapping[str, str | ValueType]
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="entity")
        if isinstance(self.join_keys, str) or not isinstance(self.join_keys, Mapping):
            raise DefinitionError(
                f"entity {self.name!r}: join_keys must be a mapping like {{'user_id': 'int64'}}"
            )
        if not self.join_keys:
            raise DefinitionError(f"entity {self.name!r}: needs at least one join key")
        keys: dict[str, ValueType] = {}
        for col, dtype in self.join_keys.items():
            check_name(col, what=f"entity {self.name!r} join key")
            vt = ValueType.parse(dtype, what=f"entity {self.name!r} join key {col!r}")
            if vt.is_list or vt.scalar in {"float32", "float64"}:
                raise DefinitionError(
                    f"entity {self.name!r} join key {col!r}: {vt} cannot be a key; "
                    "use int32, int64, string, bool or timestamp"
                )
            keys[col] = vt
        object.__setattr__(self, "join_keys", keys)

    @property
    def key_types(self) -> dict[str, ValueType]:
        return dict(self.join_keys)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ParquetSource:
    """Rows from Parquet: a file, a glob, or a folder of (hive-partitioned) files.

    Args:
        path: relative to the feature repo folder (or absolute).
        event_timestamp: column holding when each fact happened.
        created_timestamp: column holding when the row landed; without it, created = event.
    """

    path: str
    event_timestamp: str = "event_timestamp"
    created_timestamp: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise DefinitionError(f"ParquetSource path must be a non-empty string: {self.path!r}")
        check_name(self.event_timestamp, what=f"source {self.path!r} event_timestamp column")
        if self.created_timestamp is not None:
            check_name(
                self.created_timestamp, what=f"source {self.path!r} created_timestamp column"
            )

    def spec(self) -> dict[str, Any]:
        return {
            "type": "parquet",
            "path": self.path,
            "event_timestamp": self.event_timestamp,
            "created_timestamp": self.created_timestamp,
        }

    def describe(self) -> str:
        return self.path


@dataclass(frozen=True)
class DuckDBSource:
    """Rows from a DuckDB table (or a SELECT query) in a DuckDB database file.

    Args:
        table: a table name in ``database``; or
        query: a SELECT statement (exactly one of table/query).
        database: path of the DuckDB file, relative to the repo; default the repo's
            ``<data_dir>/offline.duckdb``.
    """

    table: str | None = None
    query: str | None = None
    database: str | None = None
    event_timestamp: str = "event_timestamp"
    created_timestamp: str | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise DefinitionError("DuckDBSource needs exactly one of table= or query=")
        if self.table is not None:
            check_name(self.table, what="DuckDBSource table")
        if self.query is not None:
            select_sql(self.query, what="DuckDBSource")
        check_name(self.event_timestamp, what=f"source {self.describe()} event_timestamp column")
        if self.created_timestamp is not None:
            check_name(
                self.created_timestamp,
                what=f"source {self.describe()} created_timestamp column",
            )

    def spec(self) -> dict[str, Any]:
        return {
            "type": "duckdb",
            "table": self.table,
            "query": self.query,
            "database": self.database,
            "event_timestamp": self.event_timestamp,
            "created_timestamp": self.created_timestamp,
        }

    def describe(self) -> str:
        return f"table {self.table}" if self.table else "query"


Source = ParquetSource | DuckDBSource


@dataclass(frozen=True)
class Field:
    """A typed feature of a view.

    Args:
        name: the feature name (and output column).
        dtype: its type (see ``store.types``).
        expr: optional DuckDB SQL expression over source columns; default the column ``name``.
        description: free text.
        drift: drift thresholds of this feature for the drift audit, e.g.
            ``{"psi_warn": 0.2, "psi_alert": 0.4}`` (keys of ``store.audit.Thresholds``).
            Not part of the view's version: it changes no value.
    """

    name: str
    dtype: str | ValueType
    expr: str | None = None
    description: str = ""
    drift: Mapping[str, float] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        check_name(self.name, what="field")
        if self.drift is not None:
            if not isinstance(self.drift, Mapping) or not all(
                isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
                for k, v in self.drift.items()
            ):
                raise DefinitionError(
                    f"field {self.name!r}: drift must map threshold names to numbers, "
                    f"e.g. {{'psi_alert': 0.4}}"
                )
            object.__setattr__(self, "drift", dict(self.drift))
        object.__setattr__(self, "dtype", ValueType.parse(self.dtype, what=f"field {self.name!r}"))
        if self.expr is not None and (not isinstance(self.expr, str) or not self.expr.strip()):
            raise DefinitionError(f"field {self.name!r}: expr must be a non-empty SQL string")

    @property
    def type(self) -> ValueType:
        return self.dtype  # type: ignore[return-value]


@dataclass(frozen=True)
class FeatureView:
    """Features of one or more entities, read from one source by the point-in-time rule.

    Args:
        name: the view's name.
        entities: the entities whose join keys identify a row.
        source: where rows come from.
        fields: the features.
        ttl: a value older than this (at request time) is not used; None = forever.
        allowed_lateness: rows that landed later than this after their event are dropped
            (the streaming watermark); None = keep all.
        availability_delay: extra time after ``created_timestamp`` before a row is usable.
        owner, description, tags: metadata (not part of the version).
    """

    name: str
    entities: Sequence[Entity]
    source: Source
    fields: Sequence[Field]
    ttl: timedelta | None = None
    allowed_lateness: timedelta | None = None
    availability_delay: timedelta = timedelta(0)
    owner: str = ""
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, what="feature view")
        where = f"feature view {self.name!r}"
        entities = tuple(self.entities) if isinstance(self.entities, Iterable) else ()
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise DefinitionError(f"{where}: entities must be a non-empty list of Entity")
        if not isinstance(self.source, ParquetSource | DuckDBSource):
            raise DefinitionError(f"{where}: source must be a ParquetSource or DuckDBSource")
        fields = tuple(self.fields) if isinstance(self.fields, Iterable) else ()
        if not fields or not all(isinstance(f, Field) for f in fields):
            raise DefinitionError(f"{where}: fields must be a non-empty list of Field")
        _unique([f.name for f in fields], what=f"{where}: field")
        keys = [k for e in entities for k in e.join_keys]
        _unique(keys, what=f"{where}: join key")
        clash = {f.name for f in fields} & set(keys)
        if clash:
            raise DefinitionError(f"{where}: field(s) {sorted(clash)} clash with join keys")
        for f in fields:
            if f.expr is not None:
                scalar_sql(f.expr, what=f"{where}: field {f.name!r}")
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "ttl", _delta(self.ttl, what=f"{where} ttl", allow_none=True))
        lateness = _delta(self.allowed_lateness, what=f"{where} allowed_lateness", allow_none=True)
        object.__setattr__(self, "allowed_lateness", lateness)
        delay = _delta(
            self.availability_delay, what=f"{where} availability_delay", allow_none=False
        )
        object.__setattr__(self, "availability_delay", delay)
        object.__setattr__(self, "tags", dict(self.tags))

    @property
    def join_keys(self) -> dict[str, ValueType]:
        """All join-key columns of the view, in entity order."""
        return {k: t for e in self.entities for k, t in e.key_types.items()}

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def spec(self) -> dict[str, Any]:
        """Everything that can change a value, as plain JSON-able data."""
        return {
            "name": self.name,
            "entities": [
                {"name": e.name, "join_keys": {k: str(t) for k, t in e.key_types.items()}}
                for e in self.entities
            ],
            "source": self.source.spec(),
            "fields": [{"name": f.name, "dtype": str(f.type), "expr": f.expr} for f in self.fields],
            "ttl_us": _micros(self.ttl),
            "allowed_lateness_us": _micros(self.allowed_lateness),
            "availability_delay_us": _micros(self.availability_delay),
        }

    @cached_property  # the view is frozen; reads look it up on every request
    def version(self) -> str:
        """Content hash of :meth:`spec`: changes whenever a value could change."""
        blob = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class FeatureService:
    """A named list of features a model uses: ``"view:feature"`` or ``"view"`` (all of it)."""

    name: str
    features: Sequence[str]
    description: str = ""
    owner: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="feature service")
        if isinstance(self.features, str) or not all(isinstance(f, str) for f in self.features):
            raise DefinitionError(
                f"feature service {self.name!r}: features must be a list of 'view:feature'"
            )
        if not self.features:
            raise DefinitionError(f"feature service {self.name!r}: needs at least one feature")
        object.__setattr__(self, "features", tuple(self.features))


@dataclass(frozen=True)
class PushSource:
    """A named stream of rows that feeds one or more feature views (Feast's ``PushSource``).

    ``FeatureStore.push(name, rows)`` appends the rows to every view it feeds and writes them
    online; each view takes the columns it declares.

    Args:
        name: the push source's name (distinct from every feature view's name).
        views: the feature views (objects or names) that the pushed rows feed.
        description: free text.
    """

    name: str
    views: Sequence[FeatureView | str]
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="push source")
        views = [self.views] if isinstance(self.views, str | FeatureView) else self.views
        names = []
        for view in views if isinstance(views, Iterable) else ():
            if not isinstance(view, str | FeatureView):
                raise DefinitionError(
                    f"push source {self.name!r}: views must be FeatureView objects or names, "
                    f"got {view!r}"
                )
            names.append(view if isinstance(view, str) else view.name)
        if not names:
            raise DefinitionError(f"push source {self.name!r}: needs at least one feature view")
        _unique(names, what=f"push source {self.name!r}: view")
        object.__setattr__(self, "views", tuple(names))

    @property
    def view_names(self) -> list[str]:
        """The names of the views this source feeds."""
        return [str(v) for v in self.views]


def _unique(names: list[str], *, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DefinitionError(f"{what} {name!r} is defined twice")
        seen.add(name)
