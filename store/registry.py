"""Loads a feature repo's definitions, resolves feature references, plans and applies changes.

The registry file (``<data_dir>/registry.json``) records, per view, the applied version and
spec, and a history of every version ever applied, so a training frame's manifest can say
which definition produced it and when that definition changed.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from store.definitions import Entity, FeatureService, FeatureView, PushSource
from store.errors import (
    AmbiguousFeatureError,
    DefinitionError,
    FeatureNotFoundError,
    FeatureServiceNotFoundError,
    FeatureViewNotFoundError,
    RegistryError,
    unknown_name,
)
from store.ondemand import OnDemandFeatureView

REGISTRY_FILE = "registry.json"


@dataclass(frozen=True)
class Definitions:
    """Everything a feature repo defines, by name."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    push_sources: dict[str, PushSource] = field(default_factory=dict)

    def view(self, name: str) -> FeatureView:
        try:
            return self.views[name]
        except KeyError:
            known = ", ".join(sorted(self.views)) or "none"
            raise FeatureViewNotFoundError(
                f"unknown feature view {name!r}; defined views: {known}"
            ) from None


@dataclass(frozen=True)
class FeatureRef:
    """One requested feature: its view, its name in the view, and its output column."""

    view: str
    feature: str
    output: str


def load_definitions(repo: Path, *, skip: Sequence[Path] = ()) -> Definitions:
    """Import every ``*.py`` at the top of ``repo`` and collect the definitions in them.

    Files starting with ``_`` or ``test_`` are skipped. Modules may import each other.
    """
    files = sorted(
        p
        for p in repo.glob("*.py")
        if not p.name.startswith(("_", "test_")) and not any(p.is_relative_to(s) for s in skip)
    )
    defs = Definitions()
    found: dict[str, tuple[object, str]] = {}
    before = set(sys.modules)
    sys.path.insert(0, str(repo))
    try:
        for path in files:
            module = _import(path, repo)
            for obj in vars(module).values():
                _collect(obj, path.name, defs, found)
    finally:
        sys.path.remove(str(repo))
        for name in set(sys.modules) - before:  # forget the repo's modules: repos may share names
            mod_file = getattr(sys.modules[name], "__file__", None) or ""
            if mod_file.startswith(str(repo)):
                del sys.modules[name]
    _check_services(defs)
    return defs


def _import(path: Path, repo: Path) -> ModuleType:
    tag = hashlib.sha1(str(repo.resolve()).encode()).hexdigest()[:8]
    name = f"_parity_repo_{tag}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except DefinitionError as exc:
        raise DefinitionError(f"{path.name}: {exc}") from exc
    except Exception as exc:
        raise DefinitionError(
            f"{path.name} failed to import: {type(exc).__name__}: {exc}; fix the module"
        ) from exc
    return module


def _collect(
    obj: object, where: str, defs: Definitions, found: dict[str, tuple[object, str]]
) -> None:
    kinds: list[tuple[type, dict[str, Any], str]] = [
        (Entity, defs.entities, "entity"),
        (FeatureView, defs.views, "feature view"),
        (FeatureService, defs.services, "feature service"),
        (OnDemandFeatureView, defs.on_demand, "on-demand feature view"),
        (PushSource, defs.push_sources, "push source"),
    ]
    for cls, bucket, what in kinds:
        if not isinstance(obj, cls):
            continue
        name = obj.name  # type: ignore[attr-defined]
        key = f"{what}:{name}"
        if key in found and found[key][0] != obj:
            raise DefinitionError(
                f"{what} {name!r} is defined twice (in {found[key][1]} and {where}); "
                "rename one of them"
            )
        found.setdefault(key, (obj, where))
        bucket[name] = obj
        if isinstance(obj, FeatureView):
            for entity in obj.entities:
                _collect(entity, where, defs, found)


def _check_services(defs: Definitions) -> None:
    names = (set(defs.views) | set(defs.on_demand)) & set(defs.services)
    names |= set(defs.views) & set(defs.on_demand)
    if names:
        raise DefinitionError(
            f"name(s) {sorted(names)} used for both a feature view and a feature service"
        )
    _check_push_sources(defs)
    for service in defs.services.values():
        try:
            resolve_features(defs, list(service.features), full_feature_names=True)
        except FeatureNotFoundError as exc:
            raise DefinitionError(f"feature service {service.name!r}: {exc}") from None
    for odfv in defs.on_demand.values():
        where = f"on-demand feature view {odfv.name!r}"
        try:
            refs = resolve_features(defs, list(odfv.sources), full_feature_names=True)
        except FeatureNotFoundError as exc:
            raise DefinitionError(f"{where}: {exc}") from None
        # The function sees one column per source feature (short name) and request field.
        seen: dict[str, str] = {f.name: "a request field" for f in odfv.request_fields}
        for ref in refs:
            other = seen.setdefault(ref.feature, f"{ref.view}:{ref.feature}")
            if other != f"{ref.view}:{ref.feature}":
                raise DefinitionError(
                    f"{where}: its function would get two columns named {ref.feature!r} "
                    f"({other} and {ref.view}:{ref.feature}); rename one of them"
                )
        if any(s.partition(":")[0] in defs.on_demand for s in odfv.sources):
            raise DefinitionError(
                f"{where}: sources must be feature views, not other on-demand views"
            )


def _check_push_sources(defs: Definitions) -> None:
    for source in defs.push_sources.values():
        where = f"push source {source.name!r}"
        if source.name in defs.views or source.name in defs.on_demand:
            raise DefinitionError(f"{where} has the name of a feature view; rename one of them")
        for name in source.view_names:
            if name not in defs.views:
                known = ", ".join(sorted(defs.views)) or "none"
                raise DefinitionError(f"{where}: unknown feature view {name!r}; defined: {known}")


def resolve_features(
    defs: Definitions, features: Sequence[str] | str, *, full_feature_names: bool = False
) -> list[FeatureRef]:
    """Turn ``["view:feature", "view", ...]`` or a service name into output columns.

    An output name that two requested features share is an error unless
    ``full_feature_names`` is set (then columns are ``view__feature``).

    Raises:
        AmbiguousFeatureError: a short feature name several views have (requested bare, or
            two requested views both have it): the message names the candidates.
        FeatureNotFoundError: an unknown view, feature or service.
    """
    if isinstance(features, str):
        features = _named(defs, features)
    if not features:
        raise FeatureNotFoundError("no features requested: pass 'view:feature' names or a service")
    refs: list[FeatureRef] = []
    for item in features:
        if not isinstance(item, str):
            raise FeatureNotFoundError(
                f"feature reference {item!r} must be a 'view:feature' string"
            )
        view_name, _, feat = item.partition(":")
        if view_name not in defs.on_demand and view_name not in defs.views:
            _unknown_view(defs, view_name, bare=":" not in item)
        view: FeatureView | OnDemandFeatureView = (
            defs.on_demand[view_name] if view_name in defs.on_demand else defs.view(view_name)
        )
        names = [feat] if feat else view.feature_names
        for name in names:
            if name not in view.feature_names:
                raise FeatureNotFoundError(
                    f"feature view {view_name!r} has no feature {name!r}; "
                    f"it has: {', '.join(view.feature_names)}"
                )
            out = f"{view_name}__{name}" if full_feature_names else name
            refs.append(FeatureRef(view_name, name, out))
    seen: dict[str, FeatureRef] = {}
    for ref in refs:
        if ref.output in seen:
            other = seen[ref.output]
            if (other.view, other.feature) == (ref.view, ref.feature):
                raise FeatureNotFoundError(f"feature {ref.view}:{ref.feature} is requested twice")
            raise AmbiguousFeatureError(
                f"feature name {ref.output!r} is ambiguous: both "
                f"{other.view}:{other.feature} and {ref.view}:{ref.feature} are requested; "
                "qualify it (request only the 'view:feature' you want) or pass "
                "full_feature_names=True to name the columns 'view__feature'"
            )
        seen[ref.output] = ref
    return refs


def _named(defs: Definitions, name: str) -> list[str]:
    """The references one bare name stands for: a feature service's features, or every
    feature of a view (``"user_profile"``) or ``"view:feature"``, as in a list."""
    service = defs.services.get(name)
    if service is not None:
        return list(service.features)
    if ":" in name or name in defs.views or name in defs.on_demand:
        return [name]
    known = [*defs.services, *defs.views, *defs.on_demand]
    raise unknown_name("feature service or view", name, known, cls=FeatureServiceNotFoundError)


def _unknown_view(defs: Definitions, name: str, *, bare: bool) -> NoReturn:
    """Raise for a reference to no view; a bare feature name gets its candidates."""
    views: list[FeatureView | OnDemandFeatureView] = [
        *defs.views.values(),
        *defs.on_demand.values(),
    ]
    candidates = [f"{v.name}:{name}" for v in views if bare and name in v.feature_names]
    if len(candidates) > 1:
        raise AmbiguousFeatureError(
            f"feature name {name!r} is ambiguous: several views have it "
            f"({', '.join(candidates)}); qualify it as 'view:feature'"
        )
    known = ", ".join(sorted([*defs.views, *defs.on_demand])) or "none"
    hint = f" (did you mean {candidates[0]!r}?)" if candidates else ""
    raise FeatureViewNotFoundError(f"unknown feature view {name!r}{hint}; defined views: {known}")


@dataclass(frozen=True)
class Change:
    """One line of a plan."""

    kind: str  # "add" | "change" | "remove" | "unchanged"
    object_type: str  # "feature view" | "entity" | "feature service"
    name: str
    old_version: str | None = None
    new_version: str | None = None


@dataclass(frozen=True)
class Plan:
    """What ``apply`` would do."""

    changes: list[Change]

    @property
    def has_changes(self) -> bool:
        return any(c.kind != "unchanged" for c in self.changes)


class Registry:
    """The applied state of a repo, kept as JSON in its data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / REGISTRY_FILE
        self._cached: tuple[int, dict[str, Any]] | None = None

    def state(self) -> dict[str, Any]:
        """The registry as stored; an empty one when nothing was applied yet.

        Read once per change of the file (online reads consult it on every request; an
        ``apply`` by another process is seen at the next call).
        """
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {"views": {}, "entities": {}, "services": {}, "history": []}
        if self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"registry {self.path} is unreadable ({exc}); restore it or run `parity apply`"
            ) from exc
        self._cached = (stamp, data)
        return data

    @property
    def applied(self) -> bool:
        return self.path.exists()

    def view_version(self, name: str) -> str | None:
        entry = self.state()["views"].get(name)
        return None if entry is None else str(entry["version"])

    def version_number(self, name: str, version: str) -> int:
        """Which applied version of ``name`` ``version`` is, counting from 1 (Feast numbers a
        view's versions); 0 when it was never applied."""
        seen: list[str] = []
        for row in self.history(name):
            new = row.get("new_version")
            if new is not None and new not in seen:
                seen.append(str(new))
        return seen.index(version) + 1 if version in seen else 0

    def history(self, name: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.state()["history"]
        return [r for r in rows if name is None or r["name"] == name]

    def plan(self, defs: Definitions) -> Plan:
        state = self.state()
        changes: list[Change] = []
        current = {
            "feature view": {n: v.version for n, v in defs.views.items()},
            "entity": {n: _hash(_entity_spec(e)) for n, e in defs.entities.items()},
            "feature service": {n: _hash(list(s.features)) for n, s in defs.services.items()},
            "on-demand feature view": {n: v.version for n, v in defs.on_demand.items()},
        }
        stored_keys = {
            "feature view": "views",
            "entity": "entities",
            "feature service": "services",
            "on-demand feature view": "on_demand",
        }
        for kind, versions in current.items():
            stored = {n: e["version"] for n, e in state.get(stored_keys[kind], {}).items()}
            for name in sorted(set(versions) | set(stored)):
                old, new = stored.get(name), versions.get(name)
                if old is None:
                    changes.append(Change("add", kind, name, None, new))
                elif new is None:
                    changes.append(Change("remove", kind, name, old, None))
                elif old != new:
                    changes.append(Change("change", kind, name, old, new))
                else:
                    changes.append(Change("unchanged", kind, name, old, new))
        return Plan(changes)

    def apply(self, defs: Definitions) -> Plan:
        """Record the definitions as current; returns the plan that was applied."""
        plan = self.plan(defs)
        state = copy.deepcopy(self.state())
        now = datetime.now(UTC).isoformat()
        state["views"] = {
            n: {"version": v.version, "spec": v.spec(), "applied_at": _applied_at(state, n, v, now)}
            for n, v in defs.views.items()
        }
        state["entities"] = {
            n: {"version": _hash(_entity_spec(e)), "spec": _entity_spec(e)}
            for n, e in defs.entities.items()
        }
        state["on_demand"] = {
            n: {"version": v.version, "spec": v.spec()} for n, v in defs.on_demand.items()
        }
        state["services"] = {
            n: {"version": _hash(list(s.features)), "features": list(s.features)}
            for n, s in defs.services.items()
        }
        for change in plan.changes:
            if change.kind != "unchanged":
                state["history"].append(
                    {
                        "at": now,
                        "kind": change.kind,
                        "type": change.object_type,
                        "name": change.name,
                        "old_version": change.old_version,
                        "new_version": change.new_version,
                    }
                )
        self._write(state)
        return plan

    def _write(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".registry-")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)  # atomic: readers see the old or the new registry


def _applied_at(state: dict[str, Any], name: str, view: FeatureView, now: str) -> str:
    old = state["views"].get(name)
    if old is not None and old["version"] == view.version:
        return str(old["applied_at"])
    return now


def _entity_spec(entity: Entity) -> dict[str, Any]:
    return {"name": entity.name, "join_keys": {k: str(t) for k, t in entity.key_types.items()}}


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]
