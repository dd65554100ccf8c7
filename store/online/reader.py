"""Online reads: N entities x K views as one pipeline of HMGETs, and the status of each value.

The plan (keys and fields) and the decoding are plain functions shared by the synchronous and
the asyncio clients, so both readers give identical answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from store.definitions import FeatureView
from store.errors import FeatureNotFoundError
from store.online.codec import decode_many, from_micros, to_micros
from store.online.keys import entity_keys_from_rows, key_prefix, key_suffix
from store.types import ValueType

_META = (b"_e", b"_c", b"_v")


class Status(StrEnum):
    """Why a value is (or is not) returned; same values as the facade's ``Status``."""

    PRESENT = "PRESENT"
    MISSING = "MISSING"
    EXPIRED = "EXPIRED"
    VERSION_MISMATCH = "VERSION_MISMATCH"


@dataclass(frozen=True)
class ViewRead:
    """Features to read from one view, judged against the registry's current version."""

    view: FeatureView
    version: str
    features: Sequence[str]


@dataclass
class FeatureValues:
    """One requested feature across all entity rows, in entity-row order.

    ``event_ts`` is the stored row's event time (also for EXPIRED and VERSION_MISMATCH
    values, None when MISSING); ``values`` is None unless the status is PRESENT. ``dtype`` is
    the feature's declared type (how a DataFrame holds the values).
    """

    view: str
    feature: str
    version: str
    values: list[Any] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    event_ts: list[datetime | None] = field(default_factory=list)
    dtype: ValueType | None = None


@dataclass
class ReadResult:
    """Every requested feature, in request order, read at ``now``."""

    columns: list[FeatureValues]
    now: datetime

    def column(self, view: str, feature: str) -> FeatureValues:
        for col in self.columns:
            if col.view == view and col.feature == feature:
                return col
        raise KeyError(f"{view}:{feature}")

    def ages(self, col: FeatureValues) -> list[timedelta | None]:
        """Age (``now - event_ts``) of each PRESENT value of ``col``, else None."""
        return [
            self.now - ts if ts is not None and s is Status.PRESENT else None
            for ts, s in zip(col.event_ts, col.statuses, strict=True)
        ]


@dataclass(frozen=True)
class ReadPlan:
    """The HMGET commands of one read: ``commands[k * n + i]`` is view k, entity row i."""

    requests: tuple[ViewRead, ...]
    n_rows: int
    commands: list[tuple[Any, ...]]


def plan_read(
    project: str, requests: Sequence[ViewRead], entity_rows: Sequence[Mapping[str, Any]]
) -> ReadPlan:
    """Validate the request and build its HMGET commands.

    Raises:
        FeatureNotFoundError: a requested feature is not in its view.
        EntityFrameError: an entity row lacks a join key or has a wrong type (names the row).
    """
    prefix = key_prefix(project)
    commands: list[tuple[Any, ...]] = []
    entities: dict[tuple[tuple[str, ValueType], ...], list[bytes]] = {}
    for req in requests:
        known = set(req.view.feature_names)
        for name in req.features:
            if name not in known:
                raise FeatureNotFoundError(
                    f"feature view {req.view.name!r} has no feature {name!r}; "
                    f"it has {', '.join(req.view.feature_names)}"
                )
        fields = (*_META, *(f.encode() for f in req.features))
        suffix = key_suffix(req.view.name)
        join_keys = req.view.join_keys
        signature = tuple(join_keys.items())
        if signature not in entities:  # views of the same entity share its encoded keys
            entities[signature] = entity_keys_from_rows(entity_rows, join_keys)
        commands.extend(
            ("HMGET", prefix + entity + suffix, *fields) for entity in entities[signature]
        )
    return ReadPlan(tuple(requests), len(entity_rows), commands)


def _ttl_micros(view: FeatureView) -> int | None:
    return None if view.ttl is None else view.ttl // timedelta(microseconds=1)


def decode_read(plan: ReadPlan, replies: Sequence[Any], now: datetime) -> ReadResult:
    """Statuses and values from the HMGET replies of ``plan``, judged at ``now``."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now_us = to_micros(now)
    columns: list[FeatureValues] = []
    n = plan.n_rows
    for k, req in enumerate(plan.requests):
        columns.extend(_decode_view(req, replies[k * n : (k + 1) * n], now_us))
    return ReadResult(columns, now)


def _decode_view(req: ViewRead, replies: Sequence[Any], now_us: int) -> list[FeatureValues]:
    # Column at a time: a read's client time is dominated by per-value Python work.
    ttl_us = _ttl_micros(req.view)
    version = req.version.encode()
    statuses: list[Status] = []
    events: list[datetime | None] = []
    for reply in replies:
        raw_e = reply[0]
        if raw_e is None:
            statuses.append(Status.MISSING)
            events.append(None)
            continue
        event_us = int(raw_e)
        events.append(from_micros(event_us))
        if reply[2] != version:
            statuses.append(Status.VERSION_MISMATCH)
        elif ttl_us is not None and now_us - event_us > ttl_us:
            statuses.append(Status.EXPIRED)
        else:
            statuses.append(Status.PRESENT)
    present = [s is Status.PRESENT for s in statuses]
    cols = []
    for j, name in enumerate(req.features, start=3):
        payloads = [reply[j] for reply in replies]
        values = decode_many([p if ok else None for p, ok in zip(payloads, present, strict=True)])
        col_statuses = list(statuses)
        for i, (payload, ok) in enumerate(zip(payloads, present, strict=True)):
            if ok and payload is None:  # a row without this field: nothing to return
                col_statuses[i] = Status.MISSING
        cols.append(
            FeatureValues(
                req.view.name,
                name,
                req.version,
                values,
                col_statuses,
                list(events),
                req.view.field(name).type,
            )
        )
    return cols
