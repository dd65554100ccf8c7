"""Parity of an aggregation view: the online read at ``T`` against the training frame at ``T``.

An aggregation's value depends on the read time. For a view materialized at ``T`` (its online
watermark) every key's tiles hold the rows visible at ``T``, so an online read at ``t = T``
must equal the training-frame value at ``T`` (see docs/aggregations.md, "The equality
guarantee"). The keys are those materialization writes at ``T`` (``tiles_at``) plus any other
key found online by SCAN, or a sample of them chosen by the same stable key hash as for plain
views. Both sides go through the code that serves them: :meth:`OnlineStore.read` (tiles
combined at ``T``) and :func:`get_historical_features` (the training frame at ``T``). Values are
compared as codec payloads of the declared type, i.e. bit for bit.

A key whose values differ is classified from its hash's metadata (``_a``: the tiles' as-of
time ``W``, ``_v``: the version): no hash (``missing online``, or ``expired online`` when no
window can reach its newest tile any more), another version, tiles written after ``T`` (a push:
``newer online``, not an alert), a row of the key that became visible in ``[W, T)``
(``stale``), a key the offline rule does not give (``extra online``); otherwise ``value
differs`` (or ``type differs``) per feature.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from store.aggregation import AggregationView
from store.audit.parity import (
    EXPIRED,
    EXTRA,
    KEY_LEVEL,
    MISSING,
    NEWER,
    STALE,
    VERSION,
    _classify,
    _show,
    _Tally,
    _value,
    key_hash,
    materialized_at,
)
from store.offline import plan
from store.offline.aggregate import tiles_at
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.retrieval import get_historical_features
from store.offline.sql import VIS_TS, idents, ts_literal
from store.online.codec import CodecError, encode, encode_column, from_micros, to_micros
from store.online.keys import entity_keys_from_table, key_prefix, key_suffix
from store.online.reader import ViewRead
from store.online.store import OnlineStore
from store.online.tiles import HOP_COL
from store.registry import Definitions, FeatureRef
from store.types import ValueType

_US = timedelta(microseconds=1)
_META = [b"_a", b"_v"]


def decode_entity_key(raw: bytes, join_keys: dict[str, ValueType]) -> dict[str, Any]:
    """Join-key values of an encoded entity key (the inverse of ``encode_key_value``)."""
    out: dict[str, Any] = {}
    pos = 0
    for name, vtype in join_keys.items():
        if vtype.scalar == "string":
            colon = raw.index(b":", pos)
            size = int(raw[pos:colon])
            out[name] = raw[colon + 1 : colon + 1 + size].decode()
            pos = colon + 1 + size
        else:
            end = raw.find(b"|", pos)
            end = len(raw) if end < 0 else end
            text = raw[pos:end]
            if vtype.scalar == "bool":
                out[name] = text == b"1"
            elif vtype.scalar == "timestamp":
                out[name] = from_micros(int(text))
            else:
                out[name] = int(text)
            pos = end
        pos += 1  # the "|" between values
    return out


def offline_values(
    engine: OfflineEngine, view: AggregationView, rows: list[dict[str, Any]], at: datetime
) -> pa.Table:
    """The training frame of ``rows`` (join keys) at ``t = at``: the offline value."""
    cols: dict[str, pa.Array] = {
        k: pa.array([r[k] for r in rows], t.arrow) for k, t in view.join_keys.items()
    }
    cols["event_timestamp"] = pa.array([at] * len(rows), pa.timestamp("us", tz="UTC"))
    refs = [FeatureRef(view.name, f, f) for f in view.feature_names]
    defs = Definitions(views={view.name: view})
    frame = get_historical_features(engine, defs, refs, pa.table(cols), leakage_report=False)
    return frame.to_arrow()


def latest_visible(
    engine: OfflineEngine, view: AggregationView, before: datetime
) -> dict[bytes, int]:
    """Per encoded entity key, the greatest visibility time (µs) of a usable row before
    ``before`` (rules 2 and 3: lateness dropped, availability delay added)."""
    source = engine.source_sql(view)
    keys = idents(view.join_keys)
    sql = (
        f"SELECT {keys}, epoch_us(max({VIS_TS})) AS __last "
        f"FROM ({plan.candidates(view.input_view(), source)}) AS c "
        f"WHERE {VIS_TS} < {ts_literal(before)} GROUP BY ALL"
    )
    con = engine.connect([view])
    try:
        with duck_errors(f"feature view {view.name!r}: latest visible rows"):
            table = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    if table.num_rows == 0:
        return {}
    ekeys = entity_keys_from_table(table, view.join_keys).to_pylist()
    return dict(zip(ekeys, table.column("__last").to_pylist(), strict=True))


def audit_aggregation(
    offline: OfflineEngine,
    online: OnlineStore,
    view: AggregationView,
    version: str,
    *,
    sample: int | None = None,
) -> tuple[_Tally, int, datetime | None]:
    """Compare one aggregation view at its watermark ``T``: (tally, keys compared, ``T``)."""
    tally = _Tally()
    as_of = materialized_at(online, view, tally)
    if as_of is None:
        return tally, 0, None
    tiles = tiles_at(offline, view, as_of)
    keys = list(view.join_keys)
    newest: dict[bytes, int] = {}
    if tiles.num_rows:
        per_key = tiles.group_by(keys).aggregate([(HOP_COL, "max")])
        ekeys = entity_keys_from_table(per_key, view.join_keys).to_pylist()
        newest = dict(zip(ekeys, per_key.column(f"{HOP_COL}_max").to_pylist(), strict=True))
    prefix, suffix = key_prefix(online.project), key_suffix(view.name)
    head, tail = len(prefix), len(suffix)
    found = [k[head:-tail] for k in online.scan_view(view)]
    extra = sorted(set(found) - newest.keys())
    chosen = sorted(newest) + extra
    if sample is not None and sample < len(chosen):
        chosen = sorted(chosen, key=key_hash)[:sample]
    if not chosen:
        return tally, 0, as_of
    rows = [decode_entity_key(k, view.join_keys) for k in chosen]
    frame = offline_values(offline, view, rows, as_of)
    read = online.read([ViewRead(view, version, view.feature_names)], rows, as_of)
    got = {c.feature: c.values for c in read.columns}
    differs: dict[int, list[tuple[str, str, bytes, bytes | None]]] = {}
    for f in view.fields:
        want = encode_column(frame.column(f.name), f.type)
        for i, value in enumerate(got[f.name]):
            payload = _payload(value, f.type)
            if payload != want[i] and (cls := _classify(want[i], payload)) is not None:
                differs.setdefault(i, []).append((f.name, cls, want[i], payload))
    if differs:
        _classify_keys(tally, offline, online, view, version, as_of, chosen, newest, differs)
    return tally, len(chosen), as_of


def _payload(value: Any, vtype: ValueType) -> bytes | None:
    try:
        return encode(value, vtype)
    except CodecError:
        return b"?" + repr(value).encode()  # no codec tag: classified as a type difference


def _classify_keys(
    tally: _Tally,
    offline: OfflineEngine,
    online: OnlineStore,
    view: AggregationView,
    version: str,
    as_of: datetime,
    chosen: list[bytes],
    newest: dict[bytes, int],
    differs: dict[int, list[tuple[str, str, bytes, bytes | None]]],
) -> None:
    prefix, suffix = key_prefix(online.project), key_suffix(view.name)
    order = sorted(differs)
    metas = online.read_raw([prefix + chosen[i] + suffix for i in order], _META)
    t_us, hop_us = to_micros(as_of), view.hop // _US
    now_us = to_micros(datetime.now(UTC))
    last: dict[bytes, int] | None = None
    for i, (stamp, ver) in zip(order, metas, strict=True):
        key = chosen[i]
        values = {f: {"offline": _value(w), "online": _value(g)} for f, _, w, g in differs[i]}
        example: dict[str, Any] = {"view": view.name, "key": _show(key), "read_at": as_of}
        example["values"] = values
        if stamp is not None:
            example["tiles_as_of"] = from_micros(int(stamp))
        if stamp is None:
            gone = key in newest and (newest[key] + 1 + view.max_hops) * hop_us <= now_us
            tally.add(KEY_LEVEL, EXPIRED if gone else MISSING, example)
        elif ver != version.encode():
            online_version = None if ver is None else ver.decode(errors="replace")
            tally.add(KEY_LEVEL, VERSION, example | {"online_version": online_version})
        elif int(stamp) > t_us:
            tally.add(KEY_LEVEL, NEWER, example)
        else:
            if last is None and int(stamp) < t_us:
                last = latest_visible(offline, view, as_of)
            seen = (last or {}).get(key)
            if int(stamp) < t_us and seen is not None and seen >= int(stamp):
                tally.add(KEY_LEVEL, STALE, example | {"last_visible": from_micros(seen)})
            elif key not in newest:
                tally.add(KEY_LEVEL, EXTRA, example)
            else:
                for feature, cls, want, got in differs[i]:
                    shown = {"offline": _value(want), "online": _value(got)}
                    base = {"view": view.name, "key": _show(key), "read_at": as_of}
                    tally.add(feature, cls, base | shown)
