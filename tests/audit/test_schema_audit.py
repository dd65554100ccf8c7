"""Schema audit: a payload of the wrong type and an unseen category are found, nothing else."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import redis

from store.audit.schema import payload_fits, source_fits
from store.online.codec import encode
from store.types import ValueType

from .repo import make_store


def test_schema_audit(tmp_path: Path, redis_url: str) -> None:
    fs, _ = make_store(tmp_path, redis_url, "schema")
    clean = fs.audit_schema()
    assert clean.status == "ok" and clean.examples == [] and clean.counts == {"stats": {}}
    sources = {r["feature"]: r["source"] for r in clean.rows}  # type: ignore[index]
    assert sources == {"amount": "double", "n": "int64", "tier": "string"}

    client = redis.Redis.from_url(redis_url)
    client.hset("p:{schema|7}:stats", "tier", encode(1.5, ValueType("float64")))
    client.hset("p:{schema|8}:stats", "tier", encode("platinum", ValueType("string")))
    report = fs.audit_schema()
    assert report.counts == {"stats": {"online type": 1, "unseen category": 1}}
    assert report.status == "alert" and report.exit_code == 1
    assert {(e["class"], e["online"]) for e in report.examples} == {
        ("online type", 1.5),
        ("unseen category", "platinum"),
    }
    fs.close()


def test_type_rules() -> None:
    assert source_fits(pa.int32(), pa.int64()) and not source_fits(pa.int64(), pa.int32())
    assert source_fits(pa.int64(), pa.float64()) and not source_fits(pa.string(), pa.float64())
    assert source_fits(pa.timestamp("ns"), pa.timestamp("us", tz="UTC"))
    assert payload_fits(encode(None, ValueType("int64")), ValueType("int64"))
    assert payload_fits(encode(True, ValueType("bool")), ValueType("bool"))
    assert payload_fits(
        encode([1, 2], ValueType.parse("list<int64>")), ValueType.parse("list<int64>")
    )
    assert not payload_fits(
        encode([1.0], ValueType.parse("list<float64>")), ValueType.parse("list<int64>")
    )
    assert not payload_fits(encode(1, ValueType("int64")), ValueType("float64"))


def test_schema_reads_every_key_or_the_parity_key_hash_sample(
    tmp_path: Path, redis_url: str
) -> None:
    # The first 1,000 keys in SCAN order were read: a tampered key was found by chance.
    from store.audit.parity import key_hash
    from store.online.keys import key_prefix, key_suffix

    from .repo import USERS

    fs, _ = make_store(tmp_path, redis_url, "schemasample")
    head, tail = len(key_prefix("schemasample")), len(key_suffix("stats"))
    keys = sorted(fs.online.scan_view("stats"), key=lambda k: key_hash(k[head:-tail]))
    assert len(keys) == USERS
    client = redis.Redis.from_url(redis_url)
    for key in (keys[0], keys[-1]):  # first and last in the stable hash order
        client.hset(key, "tier", encode(1.5, ValueType("float64")))
    full = fs.audit_schema()
    assert full.counts == {"stats": {"online type": 2}}
    assert f"{USERS} of {USERS} online keys read" in full.summary["headline"]
    one = fs.audit_schema(sample=1)  # the key parity's sample=1 takes, whatever SCAN says
    assert one.counts == {"stats": {"online type": 1}}
    assert f"1 of {USERS} online keys read" in one.summary["headline"]
    assert fs.audit_schema(sample=USERS - 1).counts == {"stats": {"online type": 1}}
    fs.close()
