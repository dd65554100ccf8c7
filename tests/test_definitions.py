"""Definitions are validated where they are written, and versions follow value-changing edits."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from store import DefinitionError, Entity, FeatureService, FeatureView, Field, ParquetSource
from store.types import ValueType

user = Entity("user", join_keys={"user_id": "int64"})
source = ParquetSource("data/s.parquet", created_timestamp="created_timestamp")


def view(**changes: object) -> FeatureView:
    args: dict[str, object] = dict(
        name="stats",
        entities=[user],
        source=source,
        fields=[Field("f0", "float64"), Field("amount_usd", "float64", expr="amount * fx")],
        ttl=timedelta(days=30),
    )
    args.update(changes)
    return FeatureView(**args)  # type: ignore[arg-type]


def test_types_parse_and_map() -> None:
    assert str(ValueType.parse("list<int64>")) == "list<int64>"
    assert ValueType.parse("timestamp").duckdb == "TIMESTAMPTZ"
    with pytest.raises(DefinitionError, match="unknown type 'decimal'"):
        ValueType.parse("decimal", what="field 'x'")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Entity("user", join_keys={"user id": "int64"}), "join key name 'user id'"),
        (lambda: Entity("user", join_keys={"score": "float64"}), "cannot be a key"),
        (lambda: Entity("user", join_keys={}), "at least one join key"),
        (lambda: Field("x", "int128"), "unknown type 'int128'"),
        (lambda: view(name="bad-name"), "feature view name 'bad-name'"),
        (lambda: view(fields=[Field("a", "int64"), Field("a", "int64")]), "'a' is defined twice"),
        (lambda: view(fields=[Field("user_id", "int64")]), "clash with join keys"),
        (lambda: view(ttl=3600), "ttl must be a datetime.timedelta"),
        (lambda: view(ttl=timedelta(-1)), "must not be negative"),
        (lambda: view(entities=[]), "entities must be a non-empty list"),
        (lambda: FeatureService("svc", features="stats:f0"), "must be a list"),
        (lambda: ParquetSource("x.parquet", event_timestamp="ts; drop"), "not valid"),
    ],
)
def test_bad_definitions_name_the_object(build: object, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        build()  # type: ignore[operator]


def test_version_changes_only_with_values() -> None:
    base = view()
    assert view().version == base.version
    assert view(owner="someone", description="x").version == base.version
    for changed in (
        view(ttl=timedelta(days=31)),
        view(allowed_lateness=timedelta(hours=1)),
        view(availability_delay=timedelta(minutes=1)),
        view(fields=[Field("f0", "float32"), Field("amount_usd", "float64", expr="amount * fx")]),
        view(fields=[Field("f0", "float64"), Field("amount_usd", "float64", expr="amount")]),
        view(source=dataclasses.replace(source, path="data/other.parquet")),
    ):
        assert changed.version != base.version


@pytest.mark.parametrize("name", ["user_txn_stats\n", "user\n", "a\nb", " user", "user "])
def test_a_name_with_a_trailing_newline_is_refused(name: str) -> None:
    # re.match with ^...$ accepted "name\n" ($ matches before a final newline), which then
    # reached Redis keys and SQL: every name check is a fullmatch.
    with pytest.raises(DefinitionError, match="is not valid"):
        Entity(name, join_keys={"user_id": "int64"})
    with pytest.raises(DefinitionError, match="is not valid"):
        Entity("user", join_keys={name: "int64"})
    with pytest.raises(DefinitionError, match="is not valid"):
        FeatureView(
            name=name,
            entities=[Entity("user", join_keys={"user_id": "int64"})],
            source=ParquetSource("x.parquet"),
            fields=[Field("amount", "float64")],
        )


def test_a_type_with_a_trailing_newline_inside_is_parsed_only_whole() -> None:
    assert ValueType.parse("list<int64>\n") == ValueType("int64", True)  # stripped first
    with pytest.raises(DefinitionError, match="unknown type"):
        ValueType.parse("list<int64>\nx")
