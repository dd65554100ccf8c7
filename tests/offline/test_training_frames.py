"""Training frames: entity frame checks, order and pass-through, several views, streaming."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store.errors import EntityFrameError, FeatureNotFoundError
from store.offline.retrieval import get_historical_features
from store.registry import resolve_features
from store.training_frame import read_manifest

from .conftest import Repo, at, make_repo, ts_array

TWO_VIEWS = """
    from datetime import timedelta
    from store.definitions import Entity, FeatureView, Field, ParquetSource

    user = Entity("user", join_keys={"user_id": "int64"})
    pair = Entity("pair", join_keys={"user_id": "int64", "merchant": "string"})
    user_stats = FeatureView(
        name="user_stats", entities=[user],
        source=ParquetSource("data/u.parquet"),
        fields=[Field("amount", "float64"), Field("n", "int32", expr="CAST(amount AS INTEGER)")],
    )
    pair_stats = FeatureView(
        name="pair_stats", entities=[pair],
        source=ParquetSource("data/p.parquet", created_timestamp="created"),
        fields=[Field("amount", "float64"), Field("tags", "list<string>")],
        ttl=timedelta(minutes=30),
    )
"""


@pytest.fixture
def two(tmp_path: Path) -> Repo:
    u = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": ts_array([at(0), at(0)]),
            "amount": [10.0, 20.0],
        }
    )
    p = pa.table(
        {
            "user_id": pa.array([1, 1], pa.int32()),
            "merchant": ["m1", "m2"],
            "event_timestamp": ts_array([at(0), at(1)]),
            "created": ts_array([at(2), at(3)]),
            "amount": [0.5, 0.7],
            "tags": [["a"], []],
        }
    )
    return make_repo(tmp_path, TWO_VIEWS, {"data/u.parquet": u, "data/p.parquet": p})


def entities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": [True, False, True, True, False],
            "user_id": pd.array([1, 1, 2, 1, 1], dtype="int32"),
            "merchant": ["m1", "m2", "m1", "m1", "m1"],
            "event_timestamp": [at(5), at(5), at(5), at(5), at(40)],
            "weight": [0.1, 0.2, 0.3, 0.1, 0.5],
        }
    )


def test_several_views_compound_keys_order_and_pass_through(two: Repo) -> None:
    refs = resolve_features(two.defs, ["user_stats", "pair_stats"], full_feature_names=True)
    ent = entities()
    frame = get_historical_features(two.engine, two.defs, refs, ent, full_feature_names=True)
    df = frame.to_pandas()
    pd.testing.assert_frame_equal(df[ent.columns], ent)
    assert df["user_stats__amount"].tolist() == [10.0, 10.0, 20.0, 10.0, 10.0]
    assert df["user_stats__n"].tolist() == [10, 10, 20, 10, 10]
    assert df["pair_stats__amount"].isna().tolist() == [False, False, True, False, True]
    assert frame.to_arrow()["pair_stats__tags"].to_pylist() == [["a"], [], None, ["a"], None]
    assert frame.to_arrow().schema.field("user_stats__n").type == pa.int32()


def test_ambiguous_short_names_are_an_error(two: Repo) -> None:
    with pytest.raises(FeatureNotFoundError, match="ambiguous"):
        resolve_features(two.defs, ["user_stats", "pair_stats"])


def test_streams_to_parquet_with_manifest(two: Repo, tmp_path: Path) -> None:
    refs = resolve_features(two.defs, ["user_stats:amount", "pair_stats:tags"])
    ent_path = tmp_path / "ent.parquet"
    pq.write_table(pa.Table.from_pandas(entities(), preserve_index=False), ent_path)
    out = tmp_path / "out" / "frame.parquet"
    frame = get_historical_features(two.engine, two.defs, refs, ent_path, out_path=out)
    assert frame.table is None and out.is_file()
    assert read_manifest(out)["rows"] == 5
    got = pq.read_table(out)
    assert got["label"].to_pylist() == entities()["label"].tolist()
    assert got["amount"].to_pylist() == [10.0, 10.0, 20.0, 10.0, 10.0]
    again = tmp_path / "copy.parquet"
    frame.to_parquet(again)
    assert (
        read_manifest(again)["views"]["pair_stats"]["version"]
        == two.defs.views["pair_stats"].version
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda df: df.drop(columns=["merchant"]), "lacks join key column 'merchant'"),
        (lambda df: df.drop(columns=["event_timestamp"]), "no 'event_timestamp' column"),
        (lambda df: df.assign(user_id=df["user_id"].astype(float)), "'user_id' has type double"),
        (lambda df: df.assign(event_timestamp=[1, 2, 3, 4, 5]), "must hold timestamps"),
        (
            lambda df: df.assign(event_timestamp=["2024-01-01", "x", None, "2024-01-01", "y"]),
            r"3 null or unparsable value\(s\) \(first at row 1\)",
        ),
        (lambda df: df.assign(amount=1.0), "already has column"),
    ],
)
def test_bad_entity_frames(two: Repo, change: object, match: str) -> None:
    refs = resolve_features(two.defs, ["user_stats:amount", "pair_stats:tags"])
    bad = change(entities())  # type: ignore[operator]
    with pytest.raises(EntityFrameError, match=match):
        get_historical_features(two.engine, two.defs, refs, bad)


def test_string_entity_times_and_arrow_input(two: Repo) -> None:
    refs = resolve_features(two.defs, ["user_stats:amount"])
    ent = pa.table(
        {"user_id": [1, 3], "event_timestamp": ["2024-03-01 00:05:00", "2024-03-01T00:05:00+01:00"]}
    )
    got = get_historical_features(two.engine, two.defs, refs, ent).to_arrow()
    assert got["amount"].to_pylist() == [10.0, None]
    assert got["event_timestamp"].to_pylist() == ent["event_timestamp"].to_pylist()


def test_watermark_and_leakage_are_reported(two: Repo) -> None:
    refs = resolve_features(two.defs, ["pair_stats:amount"])
    ent = pd.DataFrame(
        {
            "user_id": [1, 1, 1],
            "merchant": ["m1", "m1", "m2"],
            "event_timestamp": [at(1.5), at(2.5), at(3.5)],
        }
    )
    frame = get_historical_features(two.engine, two.defs, refs, ent)
    assert frame.to_arrow()["amount"].to_pylist() == [None, 0.5, 0.7]
    assert frame.beyond_watermark == {"pair_stats": 1}
    leak = frame.manifest["views"]["pair_stats"]["leakage"]
    assert leak["changed_vs_naive_join"] == 1
    assert leak["naive_value_not_yet_landed"] == 1
    assert frame.manifest["views"]["pair_stats"]["beyond_watermark"] == 1
