"""FeatureStore: the small facade that composes definitions, registry, offline and online.

Every command of the CLI and every route of the server is a call on this class; it holds no
logic of its own beyond choosing which engine answers and in what order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pandas as pd
import pyarrow as pa

from store.aggregation import AggregationView
from store.audit.report import AuditReport
from store.config import RepoConfig, load_config
from store.definitions import Entity, FeatureService, FeatureView
from store.errors import (
    EntityFrameError,
    FeatureServiceNotFoundError,
    PushSourceNotFoundError,
    RegistryError,
    unknown_name,
)
from store.materialize import MaterializeResult, Progress, materialize_views
from store.offline.engine import OfflineEngine
from store.offline.retrieval import get_historical_features
from store.offline.validate import ValidationReport, validate_view
from store.ondemand_apply import OnDemandPlan, apply_offline, apply_online, plan_on_demand
from store.online.reader import ViewRead
from store.online.store import AsyncOnlineStore, OnlineStore
from store.online_response import OnlineResponse
from store.push import PushMode, PushResult, push_rows, push_to_views
from store.registry import Definitions, FeatureRef, Plan, Registry, load_definitions
from store.registry import resolve_features as _resolve
from store.training_frame import TrainingFrame

if TYPE_CHECKING:
    from store.audit.replay import ReplayView
    from store.ondemand import OnDemandFeatureView
    from store.types import ValueType

EntityInput: TypeAlias = pd.DataFrame | pa.Table | str | Path
EntityRows: TypeAlias = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
PushInput: TypeAlias = pd.DataFrame | pa.Table | str | Path | Sequence[Mapping[str, Any]]


def _utc(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _feature_names(features: Sequence[str] | str | FeatureService) -> Sequence[str] | str:
    """A feature service object stands for its name (Feast passes the object)."""
    return features.name if isinstance(features, FeatureService) else features


def _is_query(text: str) -> bool:
    """Whether an ``entity_df`` string is SQL (Feast's meaning) rather than a Parquet path:
    it is when it is not an existing file (a query can be longer than a path can be)."""
    try:
        return not Path(text).is_file()
    except OSError:  # e.g. longer than a file name may be
        return True


def _entity_rows(entity_rows: EntityRows) -> list[dict[str, Any]]:
    """Entity rows as dicts, from rows or from Feast's column shape ``{"key": [v, ...]}``."""
    if isinstance(entity_rows, Mapping):
        columns = {k: list(v) for k, v in entity_rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{k}: {len(v)}" for k, v in columns.items())
            raise EntityFrameError(f"entity_rows columns differ in length ({shown})")
        n = lengths.pop() if lengths else 0
        return [{k: v[i] for k, v in columns.items()} for i in range(n)]
    return [dict(r) for r in entity_rows]


class FeatureStore:
    """A feature repo: its definitions, offline store, online store and registry.

    Args:
        repo: the feature repo folder (holding ``parity.yaml``); default the current folder.
        config: settings to use instead of reading ``parity.yaml``.
        repo_path: Feast's name for ``repo``.
    """

    def __init__(
        self,
        repo: str | Path | None = None,
        *,
        config: RepoConfig | None = None,
        repo_path: str | Path | None = None,
    ) -> None:
        if repo is not None and repo_path is not None:
            raise TypeError("give the repo folder once: repo or repo_path, not both")
        self.repo = Path(repo or repo_path or ".").resolve()
        self.config = config or load_config(self.repo)
        data_dir = Path(self.config.data_dir)
        self.data_dir = data_dir if data_dir.is_absolute() else self.repo / data_dir
        self.registry = Registry(self.data_dir)

    # -- definitions and registry ------------------------------------------------------------

    @cached_property
    def definitions(self) -> Definitions:
        """The repo's definitions, loaded and checked against their sources."""
        defs = load_definitions(self.repo, skip=[self.data_dir])
        for view in defs.views.values():
            self.offline.check_view(view)
        return defs

    def plan(self) -> Plan:
        """What :meth:`apply` would add, change and remove."""
        return self.registry.plan(self.definitions)

    def apply(self) -> Plan:
        """Record the current definitions in the registry (new versions become current)."""
        return self.registry.apply(self.definitions)

    def resolve(
        self, features: Sequence[str] | str | FeatureService, *, full_feature_names: bool = False
    ) -> list[FeatureRef]:
        """Turn feature references, a service or its name into output columns."""
        return _resolve(
            self.definitions, _feature_names(features), full_feature_names=full_feature_names
        )

    def list_features(self) -> list[dict[str, Any]]:
        """Every view with its kind (``feature``, ``aggregation`` or ``on_demand``),
        features, version, ttl, owner and entities. An on-demand view lists its source
        features and the request data it needs; its keys are its sources' keys."""
        defs = self.definitions
        out = []
        for view in defs.views.values():
            out.append(
                {
                    "view": view.name,
                    "kind": "aggregation" if isinstance(view, AggregationView) else "feature",
                    "version": view.version,
                    "applied_version": self.registry.view_version(view.name),
                    "entities": [e.name for e in view.entities],
                    "join_keys": {k: str(t) for k, t in view.join_keys.items()},
                    "features": {f.name: str(f.type) for f in view.fields},
                    "ttl_seconds": None if view.ttl is None else view.ttl.total_seconds(),
                    "owner": view.owner,
                    "description": view.description,
                }
            )
        applied = self.registry.state().get("on_demand", {})
        for odfv in defs.on_demand.values():
            sources = [defs.view(r.view) for r in self.resolve(odfv.sources)]
            keys: dict[str, str] = {}
            for source in sources:
                keys |= {k: str(t) for k, t in source.join_keys.items()}
            out.append(
                {
                    "view": odfv.name,
                    "kind": "on_demand",
                    "version": odfv.version,
                    "applied_version": applied.get(odfv.name, {}).get("version"),
                    "entities": list(dict.fromkeys(e.name for v in sources for e in v.entities)),
                    "join_keys": keys,
                    "features": {f.name: str(f.type) for f in odfv.fields},
                    "ttl_seconds": None,
                    "owner": "",
                    "description": odfv.description,
                    "sources": list(odfv.sources),
                    "request_fields": {f.name: str(f.type) for f in odfv.request_fields},
                }
            )
        return out

    def list_feature_views(self) -> list[FeatureView]:
        """Every feature view (aggregation views included), in definition order."""
        return list(self.definitions.views.values())

    def list_entities(self) -> list[Entity]:
        """Every entity."""
        return list(self.definitions.entities.values())

    def list_feature_services(self) -> list[FeatureService]:
        """Every feature service."""
        return list(self.definitions.services.values())

    def get_feature_view(self, name: str) -> FeatureView:
        """The feature view ``name``.

        Raises:
            FeatureViewNotFoundError: no such view (the message lists the defined ones).
        """
        return self.definitions.view(name)

    def get_feature_service(self, name: str) -> FeatureService:
        """The feature service ``name``.

        Raises:
            FeatureServiceNotFoundError: no such service (the message lists the defined ones).
        """
        try:
            return self.definitions.services[name]
        except KeyError:
            known = ", ".join(sorted(self.definitions.services)) or "none"
            raise FeatureServiceNotFoundError(
                f"unknown feature service {name!r}; defined services: {known}"
            ) from None

    def applied_views(self, names: Sequence[str] | None = None) -> list[tuple[FeatureView, str]]:
        """Views with their applied version; refuses definitions changed since the last apply."""
        if not self.registry.applied:
            raise RegistryError(f"nothing applied yet in {self.repo}: run `parity apply` first")
        defs = self.definitions
        chosen = [defs.view(n) for n in names] if names else list(defs.views.values())
        out = []
        for view in chosen:
            applied = self.registry.view_version(view.name)
            if applied != view.version:
                raise RegistryError(
                    f"feature view {view.name!r} changed since the last apply "
                    f"(applied {applied}, defined {view.version}): run `parity apply` first"
                )
            out.append((view, applied))
        return out

    # -- offline -----------------------------------------------------------------------------

    @cached_property
    def offline(self) -> OfflineEngine:
        return OfflineEngine(self.repo, self.data_dir, self.config.offline)

    def validate(self, views: Sequence[str] | None = None) -> list[ValidationReport]:
        """Check every source (or ``views``) against its declaration."""
        defs = self.definitions
        chosen = [defs.view(n) for n in views] if views else list(defs.views.values())
        return [validate_view(self.offline, view) for view in chosen]

    def get_historical_features(
        self,
        entity_df: EntityInput,
        features: Sequence[str] | str | FeatureService,
        *,
        full_feature_names: bool = False,
        out_path: str | Path | None = None,
    ) -> TrainingFrame:
        """Build a point-in-time correct training frame.

        Args:
            entity_df: join keys + ``event_timestamp`` (+ labels): DataFrame, Table, Parquet
                path, or a SELECT over the offline store (each feature view is a table of
                its source rows), as Feast allows.
            features: ``["view:feature", ...]``, a feature service or its name.
            full_feature_names: name columns ``view__feature``.
            out_path: stream the result to this Parquet file instead of memory.

        Returns:
            The frame (``.to_df()``, ``.to_arrow()``, ``.to_parquet()``) with its manifest.
        """
        features = _feature_names(features)
        if isinstance(entity_df, str) and _is_query(entity_df):
            entity_df = self.offline.query(entity_df, self.definitions.views.values())
        refs = self.resolve(features, full_feature_names=full_feature_names)
        od = plan_on_demand(self.definitions, refs)
        frame = get_historical_features(
            self.offline,
            self.definitions,
            od.fetch,
            entity_df,
            full_feature_names=full_feature_names,
            out_path=None if out_path is None else Path(out_path),
        )
        return apply_offline(self.definitions, od, frame)

    # -- online ------------------------------------------------------------------------------

    @cached_property
    def online(self) -> OnlineStore:
        return OnlineStore(self.config.online, self.data_dir, self.config.project)

    @cached_property
    def online_async(self) -> AsyncOnlineStore:
        return AsyncOnlineStore(self.config.online, self.data_dir, self.config.project)

    def materialize(
        self,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        feature_views: Sequence[str] | None = None,
        *,
        end: datetime | None = None,
        start: datetime | None = None,
        views: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Write the offline value at ``t = end`` of every key into the online store.

        Called as ``materialize(end)`` or ``materialize(end=..., start=...)``, or with Feast's
        ``materialize(start_date, end_date, feature_views)``. ``start`` only narrows which
        rows are read (by event time); the value written is the rule's value at ``end``.
        """
        if end_date is not None:
            end, start = end_date, start_date if start is None else start
        elif end is None:
            end = start_date
        if end is None:
            raise TypeError("materialize needs an end time: materialize(end) or end_date=")
        return materialize_views(
            self.offline,
            self.online,
            self.applied_views(views or feature_views),
            _utc(end),
            start=None if start is None else _utc(start),
            progress=progress,
        )

    def materialize_incremental(
        self,
        end_date: datetime | None = None,
        feature_views: Sequence[str] | None = None,
        *,
        end: datetime | None = None,
        views: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> list[MaterializeResult]:
        """Pick up from each view's last committed watermark, by ingestion time, up to
        ``end_date`` (Feast's name; or ``end``; default now)."""
        return materialize_views(
            self.offline,
            self.online,
            self.applied_views(views or feature_views),
            _utc(end if end is not None else end_date),
            incremental=True,
            progress=progress,
        )

    def _reads(
        self, features: Sequence[str] | str | FeatureService, full_feature_names: bool
    ) -> tuple[list[ViewRead], list[FeatureRef], OnDemandPlan]:
        """One ViewRead per view (so a read is N entities x K views HMGETs), the refs fetched
        and the on-demand plan."""
        refs = self.resolve(_feature_names(features), full_feature_names=full_feature_names)
        od = plan_on_demand(self.definitions, refs)
        refs = od.fetch
        versions = {v.name: ver for v, ver in self.applied_views(sorted({r.view for r in refs}))}
        by_view: dict[str, list[str]] = {}
        for ref in refs:
            by_view.setdefault(ref.view, []).append(ref.feature)
        defs = self.definitions
        reads = [
            ViewRead(defs.view(name), versions[name], feats) for name, feats in by_view.items()
        ]
        return reads, refs, od

    def entity_columns(self, features: Sequence[str] | str) -> dict[str, ValueType]:
        """The columns an entity row of ``features`` takes, with their declared types: the
        join keys of every view read, then the request data of on-demand views."""
        od = plan_on_demand(self.definitions, self.resolve(features))
        out: dict[str, ValueType] = {}
        for ref in od.fetch:
            out |= self.definitions.view(ref.view).join_keys
        for name in dict.fromkeys(r.view for r in od.computed):
            out |= {f.name: f.type for f in self.definitions.on_demand[name].request_fields}
        return out

    def get_online_features(
        self,
        features: Sequence[str] | str | FeatureService,
        entity_rows: EntityRows,
        full_feature_names: bool = False,
        *,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """Read features for entity keys, each with status and event time.

        Args:
            features: ``["view:feature", ...]``, a feature service or its name.
            entity_rows: one dict per entity (``[{"user_id": 1}]``) or, as Feast also takes,
                one list per key column (``{"user_id": [1, 2]}``).
            full_feature_names: name columns ``view__feature``.
            now: judge statuses (EXPIRED) at this time; default now.

        Returns:
            The values with statuses (``.to_dict()``, ``.to_df()``, ``.to_arrow()``).
        """
        reads, refs, od = self._reads(features, full_feature_names)
        rows = _entity_rows(entity_rows)
        resp = OnlineResponse.from_read(self.online.read(reads, rows, _utc(now)), refs, rows)
        return apply_online(self.definitions, od, resp, rows)

    async def get_online_features_async(
        self,
        features: Sequence[str] | str | FeatureService,
        entity_rows: EntityRows,
        full_feature_names: bool = False,
        *,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """:meth:`get_online_features` for asyncio callers (the feature server)."""
        reads, refs, od = self._reads(features, full_feature_names)
        rows = _entity_rows(entity_rows)
        result = await self.online_async.read(reads, rows, _utc(now))
        resp = OnlineResponse.from_read(result, refs, rows)
        return apply_online(self.definitions, od, resp, rows)

    def push(
        self,
        push_source_name: str,
        df: PushInput,
        allow_registry_cache: bool = True,
        to: PushMode | str = PushMode.ONLINE_AND_OFFLINE,
        *,
        push_id: str | None = None,
    ) -> PushResult:
        """Stream rows into a push source's views (or into one view, named directly).

        Rows are stamped created now (unless they carry a created timestamp), appended
        offline and compare-and-set online, by ``to``: ``online_and_offline`` (default),
        ``offline`` or ``online`` (Feast's :class:`PushMode`, by value or name). Feast's
        default is ``online``; ours keeps training and serving on the same rows.

        Args:
            push_source_name: a :class:`PushSource` (every view it feeds takes the columns it
                declares) or a feature view.
            df: the rows: DataFrame, Arrow table, Parquet/CSV path or a list of dicts.
            allow_registry_cache: accepted for Feast's signature (the registry is always read).
            to: where the rows go.
            push_id: an idempotency id: a retry with the same id (after a timeout, a 503, a
                crash) appends nothing again and redoes the online write of the rows that
                landed; ``result.status`` says ``appended`` or ``duplicate``. Without one, the
                push is given a fresh id (``result.push_id``).

        Raises:
            PushSourceNotFoundError: neither a push source nor a feature view has that name.
            PushError: the rows do not fit (nothing is written then).
        """
        defs = self.definitions
        source = defs.push_sources.get(push_source_name)
        if source is None and push_source_name not in defs.views:
            sources = ", ".join(sorted(defs.push_sources)) or "none"
            views = ", ".join(sorted(defs.views)) or "none"
            raise PushSourceNotFoundError(
                f"unknown push source {push_source_name!r}: push sources: {sources}; "
                f"feature views: {views}"
            )
        if source is None:
            [(fv, version)] = self.applied_views([push_source_name])
            return push_rows(self.offline, self.online, fv, version, df, to=to, push_id=push_id)
        targets = self.applied_views(source.view_names)
        return push_to_views(
            self.offline, self.online, source.name, targets, df, to=to, push_id=push_id
        )

    def write_to_online_store(
        self,
        feature_view_name: str,
        df: PushInput | None = None,
        inputs: PushInput | None = None,
        allow_registry_cache: bool = True,
    ) -> PushResult:
        """Feast's online-only write: :meth:`push` to one view with ``to="online"``.

        Raises:
            FeatureViewNotFoundError: no such view.
        """
        rows = df if df is not None else inputs
        if rows is None:
            raise TypeError("write_to_online_store needs df= (or inputs=)")
        [(fv, version)] = self.applied_views([feature_view_name])
        return push_rows(self.offline, self.online, fv, version, rows, to=PushMode.ONLINE)

    def close(self) -> None:
        """Release connections (the embedded Redis keeps running for other processes)."""
        if "online" in self.__dict__:
            self.online.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- audits ------------------------------------------------------------------------------

    def audit_parity(
        self, views: Sequence[str] | None = None, *, sample: int | None = None
    ) -> AuditReport:
        """Diff online values against the offline rule at each view's materialization time.

        Args:
            views: view names; default every applied view.
            sample: compare this many keys per view, chosen by a stable key hash; default all.
        """
        from store.audit.ondemand import audit_on_demand, logged_requests
        from store.audit.parity import parity_audit
        from store.served_log import malformed_records, read_served_log

        plain, on_demand = self._audited(views)
        chosen = self.applied_views(plain)
        online_fn, offline_fn = self._audit_paths()
        results = []
        for name in on_demand:
            odfv = self.definitions.on_demand[name]
            sources = [(r, self.definitions.view(r.view)) for r in self.resolve(odfv.sources)]
            log = read_served_log(self.data_dir) if odfv.request_fields else None
            needed = [f.name for f in odfv.request_fields]
            requests = None if log is None else logged_requests(log, odfv, needed)
            result = audit_on_demand(
                self.offline,
                self.online,
                odfv,
                sources,
                online_fn=online_fn,
                offline_fn=offline_fn,
                requests=requests,
                sample=sample,
            )
            unreadable = 0 if log is None else malformed_records(log)
            if unreadable:  # reported, never fatal
                result.malformed += unreadable
                result.malformed_example = result.malformed_example or (
                    f"{unreadable} served-log record(s) could not be read"
                )
            results.append(result)
        return parity_audit(self.offline, self.online, chosen, sample=sample, on_demand=results)

    def _audit_paths(
        self,
    ) -> tuple[
        Callable[[list[str], list[dict[str, Any]], datetime], OnlineResponse],
        Callable[[pa.Table, list[str]], pa.Table],
    ]:
        """The serving and the training path, as the on-demand audits call them."""

        def online_fn(feats: list[str], rows: list[dict[str, Any]], t: datetime) -> OnlineResponse:
            return self.get_online_features(feats, rows, full_feature_names=True, now=t)

        def offline_fn(table: pa.Table, feats: list[str]) -> pa.Table:
            return self.get_historical_features(table, feats, full_feature_names=True).to_arrow()

        return online_fn, offline_fn

    def _audited(self, views: Sequence[str] | None) -> tuple[list[str], list[str]]:
        """(feature views, on-demand views) an audit of ``views`` covers: default all; an
        on-demand view brings its source views, so its inputs are audited too."""
        defs = self.definitions
        names = list(views) if views else [*defs.views, *defs.on_demand]
        on_demand = [n for n in names if n in defs.on_demand]
        plain = [n for n in names if n not in defs.on_demand]
        for name in on_demand:
            plain += [r.view for r in self.resolve(defs.on_demand[name].sources)]
        return list(dict.fromkeys(plain)), on_demand

    def audit_leakage(self, entity_df: EntityInput, features: Sequence[str] | str) -> AuditReport:
        """Per view, the values the leakage guard and the watermark changed vs a naive join.

        Args:
            entity_df: the training request's entity rows (join keys + ``event_timestamp``).
            features: ``["view:feature", ...]`` or a feature service name.
        """
        from store.audit.leakage import leakage_audit

        defs = self.definitions
        by_view: dict[str, tuple[FeatureView, list[str]]] = {}
        on_demand: dict[str, list[str]] = {}
        pending = self.resolve(features)
        while pending:
            ref = pending.pop(0)
            if ref.view in defs.on_demand:  # it leaks what its sources leak: audit them
                sources = self.resolve(defs.on_demand[ref.view].sources)
                on_demand[ref.view] = list(dict.fromkeys(s.view for s in sources))
                pending += sources
                continue
            feats = by_view.setdefault(ref.view, (defs.view(ref.view), []))[1]
            if ref.feature not in feats:
                feats.append(ref.feature)
        return leakage_audit(self.offline, by_view, entity_df, on_demand=on_demand)

    def audit_schema(
        self, views: Sequence[str] | None = None, *, sample: int | None = None
    ) -> AuditReport:
        """Declared types vs source files vs online payloads, and unseen categories.

        Args:
            views: view names; default every applied view.
            sample: online keys read per view, chosen by a stable key hash (as the parity
                audit's); default every key.
        """
        from store.audit.schema import schema_audit
        from store.audit.schema_views import check_on_demand
        from store.served_log import read_served_log

        plain, on_demand = self._audited(views)
        chosen = self.applied_views(plain)
        _, offline_fn = self._audit_paths()
        checked = []
        for name in on_demand:
            odfv = self.definitions.on_demand[name]
            refs = self.resolve(odfv.sources)
            sources = {r.view: self.definitions.view(r.view) for r in refs}
            log = read_served_log(self.data_dir) if odfv.request_fields else None
            found = check_on_demand(self.offline, odfv, refs, sources, log, offline_fn, sample)
            checked.append((name, *found))
        return schema_audit(
            self.offline,
            self.online,
            [v for v, _ in chosen],
            sample=sample,
            versions={v.name: ver for v, ver in chosen},
            on_demand=checked,
        )

    def audit_replay(
        self,
        log: pa.Table | None = None,
        *,
        views: Sequence[str] | None = None,
        min_match_rate: float = 0.99,
    ) -> AuditReport:
        """Recompute each served vector offline at its read time and compare.

        Args:
            log: a served-feature log table; default the repo's (``read_served_log``).
            views: view names; default every view in the log.
            min_match_rate: a feature matching less often than this is an alert.
        """
        from store.audit.replay import replay_audit
        from store.served_log import read_served_log

        table = read_served_log(self.data_dir) if log is None else log
        defs = self.definitions
        known = [*defs.views, *defs.on_demand]
        for name in views or []:
            if name not in known:
                raise unknown_name("view", name, known)
        names = list(dict.fromkeys(views)) if views else known
        plain = [n for n in names if n in defs.views]
        versions = {v.name: ver for v, ver in self.applied_views(plain)} if plain else {}
        _, offline_fn = self._audit_paths()
        return replay_audit(
            [self._replay_view(n, versions) for n in names],
            table,
            offline_fn,
            min_match_rate=min_match_rate,
        )

    def _replay_view(self, name: str, versions: Mapping[str, str]) -> ReplayView:
        """What the replay audit needs of one view (feature, aggregation or on-demand)."""
        from store.audit.pit import GUARDED, choices
        from store.audit.replay import ReplayView

        defs = self.definitions
        if name in defs.on_demand:
            odfv = defs.on_demand[name]
            columns: dict[str, pa.DataType] = {}
            for ref in self.resolve(odfv.sources):
                columns |= {k: t.arrow for k, t in defs.view(ref.view).join_keys.items()}
            columns |= {f.name: f.type.arrow for f in odfv.request_fields}
            types = {f.name: f.type for f in odfv.fields}
            sources = [defs.view(r.view) for r in self.resolve(odfv.sources)]
            return ReplayView(name, odfv.version, types, columns, None, self._mark_of(sources))
        view = defs.view(name)
        version = versions[name]
        columns = {k: t.arrow for k, t in view.join_keys.items()}
        types = {f.name: f.type for f in view.fields}

        def chosen(entities: pa.Table) -> list[Any]:
            return choices(self.offline, view, entities).column(GUARDED[0]).to_pylist()  # type: ignore[no-any-return]

        if isinstance(view, AggregationView):
            return ReplayView(name, version, types, columns, None, self._mark_of([view]))
        return ReplayView(name, version, types, columns, chosen)

    def _mark_of(self, views: Sequence[FeatureView]) -> Callable[[], datetime | None]:
        """The latest committed materialization watermark of ``views`` (None if one has none),
        read only when the replay needs it."""

        def mark() -> datetime | None:
            marks = [self.online.get_watermark(v) for v in views]
            return None if any(m is None for m in marks) else max(m[0] for m in marks if m)

        return mark

    def audit_drift(
        self,
        baseline: pd.DataFrame | pa.Table | str | Path,
        current: pd.DataFrame | pa.Table | str | Path | None = None,
        *,
        features: Sequence[str] | None = None,
    ) -> AuditReport:
        """Compare feature distributions: a training frame against the served log or a frame.

        Thresholds come from each feature's ``drift`` setting in the definitions.

        Args:
            baseline: the reference, e.g. a training frame (Table, DataFrame or Parquet path).
            current: another frame; default the served-feature log of this repo.
            features: column names to audit; default every column the two share.
        """
        from store.audit import drift_audit, served_columns
        from store.audit.inputs import as_table, declared_types, definition_thresholds
        from store.served_log import read_served_log

        defs = self.definitions
        views = list(defs.views.values())
        base = as_table(baseline, what="baseline")
        declared: list[FeatureView | OnDemandFeatureView] = [*views, *defs.on_demand.values()]
        types = declared_types(declared)
        names = list(features) if features is not None else None
        candidates = [n for n in base.column_names if n in types]
        for name in names or []:
            if name not in candidates:
                raise unknown_name("feature of the baseline", name, candidates)
        cur: Any
        if current is None:
            wanted = names or candidates
            log = read_served_log(self.data_dir)
            cur = served_columns(log, {n: types[n] for n in wanted})
        else:
            cur = as_table(current, what="current")
        cols = dict(cur) if isinstance(cur, dict) else {n: cur.column(n) for n in cur.column_names}
        for name in names or []:
            if name not in cols:
                raise unknown_name("feature of the current frame", name, sorted(cols))
        # A baseline feature the current data lacks is audited as empty: a warning naming it
        # (serving stopped logging it), never a silent pass.
        shared = names or candidates
        for name in shared:
            if name not in cols:
                cols[name] = pa.chunked_array([], type=types[name].arrow)
        chosen = {n: types[n] for n in shared}
        limits = {n: t for n, t in definition_thresholds(declared).items() if n in chosen}
        report = drift_audit(base, cols, chosen, limits)
        return report
