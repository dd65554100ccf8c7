"""Reads a Feast feature repo without importing Feast: its definition modules are parsed (``ast``),
never run, and their module-level objects are evaluated by a small static evaluator.

Why static: Feast is not (and must not be) installed next to Parity, and running a repo's
modules means running Feast. What the evaluator understands is what Feast repos are written
with: calls of Feast's classes with literal arguments, names of objects defined earlier (in the
same module or imported from another module of the repo), ``timedelta(...)``, Feast's types
(``Float32``, ``Array(String)``, ``ValueType.INT64``), projections ``view[["a", "b"]]`` and
``@on_demand_feature_view(...)`` functions. Anything else becomes an :class:`Opaque` value
carrying its source text, which the importer reports as not convertible, with why.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

#: Feast classes whose calls become :class:`FeastObject` records (by their class name).
KINDS = {
    "Entity",
    "FileSource",
    "PushSource",
    "RequestSource",
    "FeatureView",
    "BatchFeatureView",
    "StreamFeatureView",
    "LabelView",
    "FeatureService",
    "Field",
    "Project",
    "Array",
    "Set",
    "Struct",
    "KafkaSource",
    "KinesisSource",
    "BigQuerySource",
    "SnowflakeSource",
    "RedshiftSource",
    "SparkSource",
    "PostgreSQLSource",
    "TrinoSource",
    "DuckDBSource",
    "Permission",
    "LoggingConfig",
    "FileLoggingDestination",
}
_SKIP_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules"}


@dataclass
class Opaque:
    """A value the static evaluator cannot know (a function call, arithmetic...)."""

    text: str


@dataclass
class FeastObject:
    """A call of one of Feast's classes, with its evaluated arguments."""

    kind: str
    args: list[Any]
    kwargs: dict[str, Any]
    where: str  # "file.py:12"
    var: str = ""  # the module-level name it is bound to

    def get(self, name: str, position: int | None = None, default: Any = None) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        if position is not None and position < len(self.args):
            return self.args[position]
        return default

    @property
    def name(self) -> str:
        value = self.get("name", 0, self.var)
        return value if isinstance(value, str) else self.var


@dataclass
class TypeRef:
    """A Feast type by name (``Float32``, ``ValueType.INT64``, ``Array(String)``...)."""

    name: str
    item: TypeRef | None = None


@dataclass
class Projection:
    """``view[["a", "b"]]``: some features of a view."""

    view: Any
    features: list[str]


@dataclass
class OnDemandFunction:
    """An ``@on_demand_feature_view(...)`` function: its decorator's arguments and code."""

    name: str
    kwargs: dict[str, Any]
    code: str
    where: str


@dataclass
class FeastRepo:
    """What a Feast repo holds: ``feature_store.yaml`` and the objects of its modules."""

    root: Path
    config: dict[str, Any]
    objects: list[FeastObject] = field(default_factory=list)
    on_demand: list[OnDemandFunction] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # non-Feast imports, for UDF code
    problems: list[str] = field(default_factory=list)


def read_repo(root: Path) -> FeastRepo:
    """Parse ``root/feature_store.yaml`` and every definition module under ``root``.

    Raises:
        FileNotFoundError: no ``feature_store.yaml`` in ``root``.
        ValueError: ``feature_store.yaml`` is not a YAML mapping.
    """
    import yaml

    config_path = root / "feature_store.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{root} has no feature_store.yaml: is it a Feast feature repo?")
    config = yaml.safe_load(config_path.read_text()) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} is not a YAML mapping")
    repo = FeastRepo(root, config)
    modules = _modules(root)
    parsed: dict[str, dict[str, Any]] = {}
    for name in sorted(modules):
        _load(name, modules, parsed, repo, stack=[])
    return repo


def _modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every ``*.py`` Feast would scan (not tests, not hidden)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        if path.name.startswith("test_") or path.name == "__init__.py":
            continue
        found[".".join(rel.with_suffix("").parts)] = path
    return found


def _load(
    name: str,
    modules: dict[str, Path],
    parsed: dict[str, dict[str, Any]],
    repo: FeastRepo,
    stack: list[str],
) -> dict[str, Any]:
    if name in parsed:
        return parsed[name]
    if name in stack:  # an import cycle: the names are seen as unknown
        return {}
    path = modules[name]
    where = str(path.relative_to(repo.root))
    try:
        source = path.read_text()
        tree = ast.parse(source, filename=where)
    except (SyntaxError, UnicodeDecodeError) as exc:
        repo.problems.append(f"{where}: not parsed ({exc}); its definitions are skipped")
        parsed[name] = {}
        return {}
    scope: dict[str, Any] = {}
    ev = _Evaluator(scope, source, where)
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            _import(node, name, modules, parsed, repo, stack, scope, source)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                value = ev.value(node.value)
                scope[target.id] = value
                _record(value, target.id, repo)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            value = ev.value(node.value)
            scope[node.target.id] = value
            _record(value, node.target.id, repo)
        elif isinstance(node, ast.FunctionDef):
            odfv = _on_demand(node, ev, source, where)
            if odfv is not None:
                scope[node.name] = odfv
                repo.on_demand.append(odfv)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            _record(ev.value(node.value), "", repo)
    parsed[name] = scope
    return scope


def _record(value: Any, var: str, repo: FeastRepo) -> None:
    if isinstance(value, FeastObject) and value.kind not in {"Field", "Array", "Set", "Struct"}:
        value.var = value.var or var
        if all(value is not seen for seen in repo.objects):
            repo.objects.append(value)


def _import(
    node: ast.Import | ast.ImportFrom,
    module: str,
    modules: dict[str, Path],
    parsed: dict[str, dict[str, Any]],
    repo: FeastRepo,
    stack: list[str],
    scope: dict[str, Any],
    source: str,
) -> None:
    text = ast.get_source_segment(source, node) or ""
    base = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
    if isinstance(node, ast.ImportFrom) and node.level:  # relative: the repo's own modules
        base = ".".join([*module.split(".")[: -node.level], base] if base else module)
    top = (base or (node.names[0].name if node.names else "")).split(".")[0]
    if isinstance(node, ast.ImportFrom) and base in modules:
        other = _load(base, modules, parsed, repo, [*stack, module])
        for alias in node.names:
            if alias.name in other:
                scope[alias.asname or alias.name] = other[alias.name]
        return
    if top != "feast" and text and text not in repo.imports and not base.startswith("."):
        repo.imports.append(text)


def _on_demand(
    node: ast.FunctionDef, ev: _Evaluator, source: str, where: str
) -> OnDemandFunction | None:
    for deco in node.decorator_list:
        call = deco if isinstance(deco, ast.Call) else None
        func = call.func if call else deco
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name != "on_demand_feature_view":
            continue
        kwargs = {k.arg: ev.value(k.value) for k in (call.keywords if call else []) if k.arg}
        lines = source.splitlines()
        code = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        return OnDemandFunction(node.name, kwargs, code, f"{where}:{node.lineno}")
    return None


class _Evaluator:
    """Evaluates the expressions Feast repos are written with; the rest is :class:`Opaque`."""

    def __init__(self, scope: dict[str, Any], source: str, where: str) -> None:
        self.scope = scope
        self.source = source
        self.where = where

    def opaque(self, node: ast.AST) -> Opaque:
        return Opaque(ast.get_source_segment(self.source, node) or type(node).__name__)

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return self.mapping(node)
        if isinstance(node, ast.Name):
            if node.id in self.scope:
                return self.scope[node.id]
            return TypeRef(node.id)  # Float32, String... (or an unknown name)
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("ValueType", "types"):
                return TypeRef(f"{base.id}.{node.attr}" if base.id == "ValueType" else node.attr)
            return self.opaque(node)
        if isinstance(node, ast.Subscript):
            return self.projection(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.value(node.operand)
            return -inner if isinstance(inner, int | float) else self.opaque(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        return self.opaque(node)

    def mapping(self, node: ast.Dict) -> Any:
        if any(k is None for k in node.keys):  # {**other}
            return self.opaque(node)
        pairs = zip(node.keys, node.values, strict=True)
        return {self.value(k): self.value(v) for k, v in pairs if k is not None}

    def projection(self, node: ast.Subscript) -> Any:
        view = self.value(node.value)
        wanted = self.value(node.slice)
        names = isinstance(wanted, list) and all(isinstance(w, str) for w in wanted)
        if isinstance(view, FeastObject) and names:
            return Projection(view, wanted)
        return self.opaque(node)

    def call(self, node: ast.Call) -> Any:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg}
        if any(k.arg is None for k in node.keywords) or any(
            isinstance(a, ast.Starred) for a in node.args
        ):
            return self.opaque(node)
        if name == "timedelta":
            try:
                return timedelta(*args, **kwargs)
            except (TypeError, ValueError, OverflowError):  # timedelta(days=10**10): too big
                return self.opaque(node)
        if name in ("Array", "Set") and args and isinstance(args[0], TypeRef):
            return TypeRef(name, args[0])
        if name in KINDS:
            return FeastObject(name, args, kwargs, f"{self.where}:{node.lineno}")
        return self.opaque(node)
