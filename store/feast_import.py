"""``parity import-feast``: a Feast feature repo becomes the equivalent Parity repo.

The Feast repo is read statically (:mod:`store.feast_parse`: no Feast, none of its code run).
Each Feast object maps to one Parity object:

=======================  =================================================================
Feast                    Parity
=======================  =================================================================
``feature_store.yaml``   ``parity.yaml`` (project; a Redis online store's URL)
``Entity``               ``Entity`` (join-key types from ``value_type``, the views' schema
                         or the source files)
``FileSource``           ``ParquetSource`` (path, ``timestamp_field``,
                         ``created_timestamp_column``; ``field_mapping`` as a field ``expr``)
``FeatureView``          ``FeatureView`` (``schema`` or the source's columns, ``ttl``: 0 is
                         none; tags, owner, description)
``PushSource``           ``PushSource`` feeding the views whose source it is
``FeatureService``       ``FeatureService`` (whole views and projections)
``on_demand_feature_view``  ``OnDemandFeatureView`` (pandas mode: the function's code copied)
=======================  =================================================================

What has no equivalent (other source kinds, stream and label views, Map/Json/Struct/Bytes
types, python-mode on-demand views...) is skipped and reported with why. The generated repo
is then loaded by Parity, so a definition that does not fit its source is reported too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from store.feast_parse import FeastObject, FeastRepo, OnDemandFunction, Projection, TypeRef
from store.feast_parse import read_repo as read_feast_repo

_TYPES = {
    "Int32": "int32",
    "Int64": "int64",
    "Float32": "float32",
    "Float64": "float64",
    "String": "string",
    "Bool": "bool",
    "UnixTimestamp": "timestamp",
    "ValueType.INT32": "int32",
    "ValueType.INT64": "int64",
    "ValueType.FLOAT": "float32",
    "ValueType.DOUBLE": "float64",
    "ValueType.STRING": "string",
    "ValueType.BOOL": "bool",
    "ValueType.UNIX_TIMESTAMP": "timestamp",
}
_IDENT = re.compile(r"[^A-Za-z0-9_]")


class Skip(Exception):
    """An object that cannot be converted; the message says why."""


@dataclass
class ImportResult:
    """What ``import-feast`` wrote and what it could not convert.

    Attributes:
        out: the Parity repo folder written.
        converted: per kind (``entity``, ``feature view``...), the names converted.
        skipped: ``"<kind> <name> (<file:line>): <why>"`` for everything not converted.
        notes: settings that were dropped or changed meaning.
    """

    source: Path
    out: Path
    converted: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, name: str) -> None:
        self.converted.setdefault(kind, []).append(name)


def parity_type(ref: Any, what: str) -> str:
    """The Parity type of a Feast type reference; :class:`Skip` when there is none."""
    if isinstance(ref, TypeRef):
        if ref.name in ("Array", "Set") and ref.item is not None:
            item = parity_type(ref.item, what)
            if ref.name == "Set":
                raise Skip(f"{what}: Parity has no set type (use a list)")
            if item.startswith("list<"):
                raise Skip(f"{what}: Parity has no nested lists")
            return f"list<{item}>"
        if ref.name in _TYPES:
            return _TYPES[ref.name]
        raise Skip(f"{what}: Parity has no {ref.name} type")
    if isinstance(ref, FeastObject):  # Struct({...})
        raise Skip(f"{what}: Parity has no {ref.kind} type")
    raise Skip(f"{what}: type {getattr(ref, 'text', ref)!r} is not understood")


def arrow_type(arrow: Any) -> str | None:
    """The Parity type of an Arrow column type, or None."""
    import pyarrow as pa

    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        item = arrow_type(arrow.value_type)
        return None if item is None or item.startswith("list<") else f"list<{item}>"
    for check, name in (
        (pa.types.is_boolean, "bool"),
        (pa.types.is_int32, "int32"),
        (pa.types.is_integer, "int64"),
        (pa.types.is_float32, "float32"),
        (pa.types.is_floating, "float64"),
        (pa.types.is_string, "string"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_timestamp, "timestamp"),
    ):
        if check(arrow):
            return name
    return None


class _Converter:
    def __init__(self, repo: FeastRepo, out: Path, result: ImportResult) -> None:
        self.repo = repo
        self.out = out
        self.result = result
        self.lines: list[str] = []
        self.names: dict[int, str] = {}  # id(feast object) -> Parity variable
        self.views: dict[str, FeastObject] = {}
        self.push_views: dict[int, list[str]] = {}
        self.used: set[str] = set()
        self.schemas: dict[str, Any] = {}

    # -- helpers ---------------------------------------------------------------------------
    def var(self, name: str) -> str:
        base = _IDENT.sub("_", name) or "obj"
        base = f"_{base}" if base[0].isdigit() else base
        var, i = base, 2
        while var in self.used or var in {"Entity", "Field", "timedelta"}:
            var, i = f"{base}_{i}", i + 1
        self.used.add(var)
        return var

    def skip(self, obj: FeastObject | OnDemandFunction, why: str) -> None:
        kind = obj.kind if isinstance(obj, FeastObject) else "on_demand_feature_view"
        self.result.skipped.append(f"{kind} {obj.name!r} ({obj.where}): {why}")

    def source_path(self, src: FeastObject) -> Path:
        path = src.get("path")
        if not isinstance(path, str) or not path:
            raise Skip(f"source {src.name!r}: its path is not a literal string")
        if "://" in path:
            raise Skip(f"source {src.name!r}: {path} is remote; Parity reads local Parquet")
        p = Path(path)
        return p if p.is_absolute() else self.repo.root / p

    def schema(self, src: FeastObject) -> Any:
        path = self.source_path(src)
        key = str(path)
        if key not in self.schemas:
            import pyarrow.parquet as pq

            try:
                if path.is_dir():
                    import pyarrow.dataset as ds

                    self.schemas[key] = ds.dataset(path, format="parquet").schema
                else:
                    self.schemas[key] = pq.read_schema(path)
            except (OSError, ValueError) as exc:
                raise Skip(f"source {src.name!r}: cannot read {path}: {exc}") from None
        return self.schemas[key]

    def batch_source(self, view: FeastObject) -> tuple[FeastObject, FeastObject | None]:
        """(the view's file source, its push source or None)."""
        src = view.get("source")
        push = None
        if isinstance(src, FeastObject) and src.kind == "PushSource":
            push, src = src, src.get("batch_source")
        if not isinstance(src, FeastObject):
            raise Skip(f"its source is not a FileSource ({getattr(src, 'text', src)!r})")
        if src.kind != "FileSource":
            raise Skip(f"its source is a {src.kind}; Parity reads Parquet files (FileSource)")
        return src, push

    # -- objects ---------------------------------------------------------------------------
    def entity(self, ent: FeastObject, views: list[FeastObject]) -> str:
        if id(ent) in self.names:
            return self.names[id(ent)]
        keys = ent.get("join_keys") or [ent.get("join_key") or ent.name]
        if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], str):
            raise Skip(f"entity {ent.name!r}: join_keys must be one literal name")
        key = keys[0]
        dtype = self.key_type(ent, key, views)
        var = self.var(ent.name)
        desc = ent.get("description") or ""
        extra = f", description={desc!r}" if desc else ""
        self.lines.append(f"{var} = Entity({ent.name!r}, join_keys={{{key!r}: {dtype!r}}}{extra})")
        self.names[id(ent)] = var
        self.result.add("entity", ent.name)
        return var

    def entity_object(self, ent: FeastObject | str) -> FeastObject:
        if isinstance(ent, FeastObject):
            return ent
        for obj in self.repo.objects:
            if obj.kind == "Entity" and obj.name == ent:
                return obj
        raise Skip(f"entity {ent!r} is not defined in the repo")

    def key_type(self, ent: FeastObject, key: str, views: list[FeastObject]) -> str:
        if ent.get("value_type") is not None:
            return parity_type(ent.get("value_type"), f"entity {ent.name!r}")
        for view in views:
            for f in view.get("schema") or []:
                if isinstance(f, FeastObject) and f.get("name", 0) == key:
                    return parity_type(f.get("dtype", 1), f"join key {key!r}")
            src, _ = self.batch_source(view)
            schema = self.schema(src)
            if key in schema.names:
                found = arrow_type(schema.field(key).type)
                if found:
                    return found
        raise Skip(f"entity {ent.name!r}: the type of join key {key!r} is unknown")

    def source(self, src: FeastObject, view: str) -> tuple[str, dict[str, str]]:
        """The ParquetSource expression, and the field mapping (source column -> feature)."""
        path = self.source_path(src)
        rel = os.path.relpath(path, self.out)
        event = src.get("timestamp_field") or src.get("event_timestamp_column") or ""
        if not isinstance(event, str) or not event:
            raise Skip("its source names no timestamp_field")
        created = src.get("created_timestamp_column") or None
        mapping = src.get("field_mapping") or {}
        if not isinstance(mapping, dict):
            raise Skip("its source's field_mapping is not a literal dict")
        for col, target in mapping.items():
            if target in (event, created):
                raise Skip(
                    f"its source maps {col!r} onto a timestamp column; rename it in the file"
                )
        args = [repr(rel), f"event_timestamp={event!r}"]
        if created:
            args.append(f"created_timestamp={created!r}")
        else:
            self.result.notes.append(
                f"feature view {view!r}: its source has no created_timestamp_column, so rows count "
                "as landed at their event time (the leakage guard cannot act) and pushes to it "
                "can only go online"
            )
        lines = "".join(f"        {a},\n" for a in args)
        return f"ParquetSource(\n{lines}    )", {str(v): str(k) for k, v in mapping.items()}

    def fields(
        self, view: FeastObject, keys: set[str], src: FeastObject, mapping: dict[str, str]
    ) -> list[str]:
        out = []
        schema = view.get("schema")
        declared: list[tuple[str, str, str]] = []
        if schema:
            for f in schema:
                if not isinstance(f, FeastObject) or f.kind != "Field":
                    raise Skip("its schema is not a literal list of Field(...)")
                name = f.get("name", 0)
                if name in keys:
                    continue
                try:
                    dtype = parity_type(f.get("dtype", 1), f"field {name!r}")
                except Skip as why:
                    self.result.skipped.append(f"field {view.name}:{name} ({f.where}): {why}")
                    continue
                declared.append((name, dtype, f.get("description") or ""))
        else:
            arrow = self.schema(src)
            skip = {*keys, src.get("timestamp_field"), src.get("created_timestamp_column")}
            for col in arrow:
                name = mapping.get(col.name, col.name)
                if col.name in skip or name in skip:
                    continue
                inferred = arrow_type(col.type)
                if inferred is None:
                    self.result.skipped.append(
                        f"field {view.name}:{name} (inferred): Parity has no {col.type} type"
                    )
                    continue
                declared.append((name, inferred, ""))
        for name, dtype, desc in declared:
            extra = f", expr={_quoted(mapping[name])!r}" if name in mapping else ""
            extra += f", description={desc!r}" if desc else ""
            out.append(f"Field({name!r}, {dtype!r}{extra})")
        if not out:
            raise Skip("none of its features has a Parity type")
        return out

    def view(self, view: FeastObject) -> None:
        if view.kind in ("StreamFeatureView", "LabelView") or (
            view.kind == "BatchFeatureView" and view.get("udf") is not None
        ):
            why = {
                "StreamFeatureView": "stream views (Kafka/Kinesis with a transformation) have "
                "no Parity equivalent; push to a view instead",
                "LabelView": "label views (mutable human labels) have no Parity equivalent; keep "
                "labels in the entity frame",
            }.get(view.kind, "a batch view's udf has no equivalent: write it as Field(expr=...)")
            raise Skip(why)
        entities = view.get("entities") or []
        if not isinstance(entities, list) or not all(
            isinstance(e, FeastObject | str) for e in entities
        ):
            raise Skip("its entities are not Entity objects defined in the repo")
        entities = [self.entity_object(e) for e in entities]
        if not entities:
            raise Skip("it has no entities (Parity views are keyed)")
        src, push = self.batch_source(view)
        users = [v for v in self.views.values() if _uses_any(v, entities)] or [view]
        ent_vars = [self.entity(e, users) for e in entities]
        keys = {str((e.get("join_keys") or [e.get("join_key") or e.name])[0]) for e in entities}
        source_expr, mapping = self.source(src, view.name)
        fields = self.fields(view, keys, src, mapping)
        ttl = view.get("ttl")
        if ttl is not None and not isinstance(ttl, timedelta):
            raise Skip(f"its ttl {getattr(ttl, 'text', ttl)!r} is not a literal timedelta")
        var = self.var(view.name)
        body = [
            f"    name={view.name!r},",
            f"    entities=[{', '.join(ent_vars)}],",
            f"    source={source_expr},",
            "    fields=[",
            *[f"        {f}," for f in fields],
            "    ],",
        ]
        if ttl:  # Feast's 0 means no limit
            body.append(f"    ttl=timedelta(seconds={ttl.total_seconds():g}),")
        for key in ("owner", "description"):
            if view.get(key):
                body.append(f"    {key}={view.get(key)!r},")
        tags = view.get("tags")
        if isinstance(tags, dict) and tags and all(isinstance(v, str) for v in tags.values()):
            body.append(f"    tags={tags!r},")
        if view.get("online") is False:
            self.result.notes.append(
                f"feature view {view.name!r}: online=False has no equivalent; it is simply "
                "never materialized unless you ask"
            )
        self.lines += [f"{var} = FeatureView(", *body, ")"]
        self.names[id(view)] = var
        if push is not None:
            self.push_views.setdefault(id(push), []).append(var)
        self.result.add("feature view", view.name)

    def on_demand(self, odfv: OnDemandFunction) -> None:
        mode = odfv.kwargs.get("mode", "pandas")
        if mode != "pandas":
            raise Skip(f"mode={mode!r}: Parity's on-demand functions take a pandas DataFrame")
        if odfv.kwargs.get("write_to_online_store"):
            raise Skip("write_to_online_store=True (transform on write) has no equivalent")
        sources, request = [], []
        for src in odfv.kwargs.get("sources") or []:
            if isinstance(src, Projection) and id(src.view) in self.names:
                sources += [f"{src.view.name}:{f}" for f in src.features]
            elif isinstance(src, FeastObject) and id(src) in self.names:
                sources.append(src.name)
            elif isinstance(src, FeastObject) and src.kind == "RequestSource":
                for f in src.get("schema") or []:
                    name = f.get("name", 0)
                    dtype = parity_type(f.get("dtype", 1), f"request field {name!r}")
                    request.append(f"Field({name!r}, {dtype!r})")
            else:
                raise Skip(f"its source {_named(src)} was not converted")
        if not sources:
            raise Skip("it has no feature view among its sources")
        fields = []
        for f in odfv.kwargs.get("schema") or []:
            name = f.get("name", 0)
            fields.append(f"Field({name!r}, {parity_type(f.get('dtype', 1), f'field {name!r}')!r})")
        udf = self.var(f"{odfv.name}_udf")
        code = re.sub(rf"^def {re.escape(odfv.name)}\(", f"def {udf}(", odfv.code, count=1)
        var = self.var(odfv.name)
        self.lines += [
            "",
            code,
            "",
            "",
            f"{var} = OnDemandFeatureView(",
            f"    name={odfv.name!r},",
            f"    sources={sources!r},",
            f"    request_fields=[{', '.join(request)}],",
            f"    fields=[{', '.join(fields)}],",
            f"    udf={udf},",
            ")",
        ]
        self.names[id(odfv)] = var
        self.result.add("on-demand feature view", odfv.name)

    def service(self, svc: FeastObject) -> None:
        refs: list[str] = []
        for item in svc.get("features", 1) or []:
            target = item.view if isinstance(item, Projection) else item
            if id(target) not in self.names:
                raise Skip(f"it uses {_named(target)}, which was not converted")
            if isinstance(item, Projection):
                refs += [f"{item.view.name}:{f}" for f in item.features]
            else:
                refs.append(target.name)
        if not refs:
            raise Skip("it lists no features")
        if svc.get("logging_config") is not None:
            self.result.notes.append(
                f"feature service {svc.name!r}: logging_config is dropped; the server logs every "
                "served vector (docs/server.md, the served-feature log)"
            )
        var = self.var(svc.name)
        self.lines.append(f"{var} = FeatureService({svc.name!r}, features={refs!r})")
        self.names[id(svc)] = var
        self.result.add("feature service", svc.name)

    def push_source(self, push: FeastObject) -> None:
        views = self.push_views.get(id(push))
        if not views:
            raise Skip("it feeds no converted feature view")
        var = self.var(push.name)
        self.lines.append(f"{var} = PushSource({push.name!r}, views=[{', '.join(views)}])")
        self.result.add("push source", push.name)


def _named(obj: Any) -> str:
    if isinstance(obj, FeastObject | OnDemandFunction):
        return repr(obj.name)
    return repr(getattr(obj, "text", obj))


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _uses_any(view: FeastObject, entities: list[FeastObject]) -> bool:
    mine = view.get("entities") or []
    return isinstance(mine, list) and any(
        e is x or (isinstance(x, str) and x == e.name) for e in entities for x in mine
    )


def convert(repo: FeastRepo, out: Path) -> tuple[str, str, ImportResult]:
    """The ``parity.yaml`` and ``features.py`` texts for ``repo`` written at ``out``."""
    result = ImportResult(repo.root, out)
    result.skipped += repo.problems
    conv = _Converter(repo, out, result)
    view_kinds = {"FeatureView", "BatchFeatureView", "StreamFeatureView", "LabelView"}
    conv.views = {o.name: o for o in repo.objects if o.kind in view_kinds}
    quiet = {"FileSource", "RequestSource", "Project"}  # converted where they are used
    steps: list[tuple[Any, Any]] = [
        *[
            (o, lambda o: conv.entity(o, _users(conv, o)))
            for o in repo.objects
            if o.kind == "Entity"
        ],
        *[(o, conv.view) for o in repo.objects if o.kind in view_kinds],
        *[(o, conv.push_source) for o in repo.objects if o.kind == "PushSource"],
        *[(f, conv.on_demand) for f in repo.on_demand],
        *[(o, conv.service) for o in repo.objects if o.kind == "FeatureService"],
    ]
    done = {id(obj) for obj, _ in steps} | {id(o) for o in repo.objects if o.kind in quiet}
    for obj in repo.objects:
        if id(obj) not in done:
            conv.skip(obj, f"a {obj.kind} has no Parity equivalent")
    for obj, step in steps:
        try:
            step(obj)
        except Skip as why:
            conv.skip(obj, str(why))
    return _yaml(repo, result), _module(repo, conv), result


def _users(conv: _Converter, entity: FeastObject) -> list[FeastObject]:
    return [v for v in conv.views.values() if _uses_any(v, [entity])]


def _yaml(repo: FeastRepo, result: ImportResult) -> str:
    cfg = repo.config
    project = _IDENT.sub("_", str(cfg.get("project") or "feast_import"))
    out: dict[str, Any] = {"project": project, "data_dir": "data"}
    online = cfg.get("online_store") or {}
    kind = online.get("type", "sqlite") if isinstance(online, dict) else str(online)
    if kind == "redis" and isinstance(online, dict):
        conn = str(online.get("connection_string") or "localhost:6379").split(",")
        host = conn[0]
        opts = dict(p.split("=", 1) for p in conn[1:] if "=" in p)
        scheme = "rediss" if opts.get("ssl", "").lower() == "true" else "redis"
        auth = f":{opts['password']}@" if opts.get("password") else ""
        out["online"] = {"url": f"{scheme}://{auth}{host}/{opts.get('db', 0)}"}
    else:
        result.notes.append(
            f"online store {kind!r} is replaced by Redis: Parity starts its own redis-server "
            "unless online.url is set in parity.yaml"
        )
    offline = cfg.get("offline_store") or {}
    okind = offline.get("type", "file") if isinstance(offline, dict) else str(offline)
    if okind not in ("file", "duckdb", "dask"):
        result.notes.append(
            f"offline store {okind!r}: Parity's offline store is DuckDB over Parquet; only "
            "FileSource views were converted"
        )
    if cfg.get("project") != project:
        result.notes.append(f"project {cfg.get('project')!r} is named {project!r} (a Parity name)")
    header = f"# Imported from the Feast repo {repo.root} by `parity import-feast`.\n"
    return header + yaml.safe_dump(out, sort_keys=False)


def _module(repo: FeastRepo, conv: _Converter) -> str:
    used = ["Entity", "FeatureService", "FeatureView", "Field", "OnDemandFeatureView"]
    used += ["ParquetSource", "PushSource"]
    head = [
        f'"""Feature definitions imported from the Feast repo {repo.root.name!r}.',
        "",
        "Written by `parity import-feast`; see docs/feast.md for how each Feast object maps.",
        '"""',
        "",
        *[line for line in repo.imports if "timedelta" not in line],
        "from datetime import timedelta",
        "",
        "from store import (",
        *[f"    {name}," for name in sorted(used)],
        ")",
        "",
    ]
    return "\n".join([*head, *conv.lines, ""]) + "\n"


def import_feast(source: Path, out: Path | None = None, *, force: bool = False) -> ImportResult:
    """Read the Feast repo ``source`` and write the Parity repo ``out``.

    Args:
        source: the Feast feature repo (holding ``feature_store.yaml``).
        out: where to write ``parity.yaml`` and ``features.py``; default a sibling folder
            ``<source>_parity`` (not inside the Feast repo: Feast would import the Parity
            module, and Parity the Feast ones).
        force: overwrite an existing ``parity.yaml``/``features.py`` there.

    Raises:
        ConfigError: no ``feature_store.yaml``, or ``out`` already holds a Parity repo.
    """
    from store.errors import ConfigError

    source = source.resolve()
    target = (out or source.with_name(f"{source.name}_parity")).resolve()
    if target == source or target.is_relative_to(source):
        raise ConfigError(
            f"write the Parity repo outside the Feast repo ({target} is inside {source}): Feast "
            "would import its definitions module; pass --out DIR"
        )
    try:
        repo = read_feast_repo(source)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    if (target / "parity.yaml").exists() and not force:
        raise ConfigError(f"{target} already has a parity.yaml: pass --force to overwrite it")
    config, module, result = convert(repo, target)
    target.mkdir(parents=True, exist_ok=True)
    (target / "parity.yaml").write_text(config)
    (target / "features.py").write_text(module)
    return result


def differences(out: Path, *, sample: int = 10_000) -> list[dict[str, Any]]:
    """Where Parity's training frames differ from Feast's on purpose, per imported view.

    The probe is a training request at each of (up to ``sample``) source rows' own event
    time plus one microsecond, so Feast's ``event_ts <= t`` and Parity's strict ``<`` pick
    the same row by event time, and what changes is what the leakage guard, the watermark
    and the ttl change: the leakage audit's counts. ``sample=0`` only loads the repo.

    Raises:
        StoreError: the generated repo does not load (a definition that does not fit).
    """
    from store.feature_store import FeatureStore
    from store.offline.sql import quote_ident

    rows: list[dict[str, Any]] = []
    with FeatureStore(out) as fs:
        views = fs.list_feature_views()  # loads and checks the definitions against the data
        for view in views if sample > 0 else []:
            keys = ", ".join(quote_ident(k) for k in view.join_keys)
            event = quote_ident(view.source.event_timestamp)
            sql = (
                f"SELECT {keys}, {event} + INTERVAL 1 MICROSECOND AS event_timestamp "
                f"FROM {quote_ident(view.name)} WHERE {event} IS NOT NULL "
                f"ORDER BY hash({keys}, {event}) LIMIT {int(sample)}"
            )
            entity = fs.offline.query(sql, [view])
            report = fs.audit_leakage(entity, [view.name])
            counts = report.counts.get(view.name, {})
            rows.append({"view": view.name, "rows": entity.num_rows, "changed": counts})
    return rows


def render(result: ImportResult, diffs: list[dict[str, Any]] | None) -> list[str]:
    """The report ``parity import-feast`` prints."""
    lines = [f"Wrote {result.out / 'parity.yaml'} and {result.out / 'features.py'}."]
    for kind, names in result.converted.items():
        lines.append(f"  converted {len(names)} {kind}(s): {', '.join(names)}")
    if result.skipped:
        lines.append(f"Not converted ({len(result.skipped)}):")
        lines += [f"  - {s}" for s in result.skipped]
    if result.notes:
        lines.append("Notes:")
        lines += [f"  - {n}" for n in result.notes]
    lines.append("Where Parity's answers differ from Feast's (on purpose):")
    lines.append(
        "  - point-in-time: a row is visible at t only if event_ts < t (Feast: <=), so a label "
        "at exactly an event's time never sees that event"
    )
    lines.append(
        "  - leakage guard: a row is visible only once it had landed (created_ts + "
        "availability_delay < t); Feast uses created only to break ties"
    )
    lines.append("  - online: a value older than the ttl is OUTSIDE_MAX_AGE (Feast serves it)")
    for d in diffs or []:
        changed = sum(d["changed"].values())
        why = ", ".join(f"{n} by the {c}" for c, n in d["changed"].items()) or "none"
        lines.append(
            f"  - {d['view']}: {changed} of {d['rows']} probe rows (source rows at their own "
            f"event time + 1 µs) get a different training value than Feast's join ({why})"
        )
    return lines


__all__ = ["ImportResult", "differences", "import_feast", "render"]
