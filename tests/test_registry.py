"""Loading a repo, resolving feature references, plan and apply with history."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import DefinitionError, FeatureNotFoundError
from store.registry import Registry, load_definitions, resolve_features

MODULE = """
from datetime import timedelta
from store import Entity, FeatureService, FeatureView, Field, ParquetSource

user = Entity("user", join_keys={"user_id": "int64"})
a = FeatureView("a", [user], ParquetSource("data/a.parquet"), [Field("x", "int64"),
                Field("y", "float64")], ttl=timedelta(days={ttl}))
b = FeatureView("b", [user], ParquetSource("data/b.parquet"), [Field("x", "int64")])
svc = FeatureService("svc", ["a:x", "b"])
"""


def write_repo(path: Path, ttl: int = 1, extra: str = "") -> Path:
    path.mkdir(exist_ok=True)
    (path / "parity.yaml").write_text("project: demo\n")
    (path / "features.py").write_text(MODULE.replace("{ttl}", str(ttl)) + extra)
    return path


def test_load_and_resolve(tmp_path: Path) -> None:
    defs = load_definitions(write_repo(tmp_path))
    assert set(defs.views) == {"a", "b"} and set(defs.entities) == {"user"}
    refs = resolve_features(defs, ["a:y", "b:x"])
    assert [r.output for r in refs] == ["y", "x"]
    with pytest.raises(FeatureNotFoundError, match="ambiguous"):
        resolve_features(defs, "svc")
    full = resolve_features(defs, "svc", full_feature_names=True)
    assert [r.output for r in full] == ["a__x", "b__x"]
    with pytest.raises(FeatureNotFoundError, match="has no feature 'z'"):
        resolve_features(defs, ["a:z"])
    with pytest.raises(FeatureNotFoundError, match="unknown feature view 'c'"):
        resolve_features(defs, ["c:x"])
    with pytest.raises(FeatureNotFoundError, match="unknown feature service"):
        resolve_features(defs, "nope")


def test_duplicate_names_and_bad_services(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        extra='\nb2 = FeatureView("a", [user], ParquetSource("x.parquet"), '
        '[Field("q", "int64")])\n',
    )
    with pytest.raises(DefinitionError, match="'a' is defined twice"):
        load_definitions(tmp_path)
    write_repo(tmp_path, extra='\nsvc2 = FeatureService("svc2", ["a:nope"])\n')
    with pytest.raises(DefinitionError, match=r"feature service 'svc2'.*no feature 'nope'"):
        load_definitions(tmp_path)
    write_repo(tmp_path, extra="\nraise RuntimeError('boom')\n")
    with pytest.raises(DefinitionError, match=r"features.py failed to import.*boom"):
        load_definitions(tmp_path)


def test_plan_apply_history(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    registry = Registry(repo / "data")
    plan = registry.plan(load_definitions(repo))
    assert {(c.kind, c.name) for c in plan.changes if c.object_type == "feature view"} == {
        ("add", "a"),
        ("add", "b"),
    }
    registry.apply(load_definitions(repo))
    assert not registry.plan(load_definitions(repo)).has_changes
    old = registry.view_version("a")
    write_repo(repo, ttl=2)
    plan = registry.plan(load_definitions(repo))
    [change] = [c for c in plan.changes if c.kind != "unchanged"]
    assert (change.kind, change.name, change.old_version) == ("change", "a", old)
    registry.apply(load_definitions(repo))
    assert registry.view_version("a") == change.new_version
    assert [h["kind"] for h in registry.history("a")] == ["add", "change"]


ODFV = """
from store import OnDemandFeatureView
def f(df):
    return df
od = OnDemandFeatureView("od", {sources}, [Field("out", "float64")], f,
                         request_fields=[Field("amount", "float64")])
"""


@pytest.mark.parametrize(
    ("sources", "clash"),
    [
        ('["a:x", "b:x"]', r"two columns named 'x' \(a:x and b:x\)"),
        ('["a", "b"]', r"two columns named 'x' \(a:x and b:x\)"),
        ('["a:x"]', None),
    ],
)
def test_on_demand_sources_give_the_function_distinct_columns(
    tmp_path: Path, sources: str, clash: str | None
) -> None:
    write_repo(tmp_path, extra=ODFV.format(sources=sources))
    if clash is None:
        assert set(load_definitions(tmp_path).on_demand) == {"od"}
    else:
        with pytest.raises(DefinitionError, match=rf"on-demand feature view 'od'.*{clash}"):
            load_definitions(tmp_path)


def test_on_demand_request_field_cannot_shadow_a_source(tmp_path: Path) -> None:
    extra = ODFV.format(sources='["a:y"]').replace('Field("amount"', 'Field("y"')
    write_repo(tmp_path, extra=extra)
    with pytest.raises(DefinitionError, match=r"two columns named 'y' \(a request field and a:y\)"):
        load_definitions(tmp_path)
