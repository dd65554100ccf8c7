"""Online tiles of aggregation views: per-piece partial aggregates, written whole, combined on read.

Layout: the same hash per (project, entity key, view) as plain views,
``p:{<project>|<entity key>}:<view>``, with fields ``_a`` (the write's as-of time ``T`` in µs:
the tiles hold exactly the rows visible at ``T``), ``_v`` (view version) and ``t<k>.<v>`` per
*piece*: the rows of event hop ``k`` that became visible in hop ``v`` (JSON list of the partial
states of every aggregation, in the view's order).

A write replaces a key's whole hash (Lua, atomic per key) with tiles computed by the offline
engine at ``T`` (:func:`store.offline.aggregate.online_tiles`), unless the stored hash has the
same version and a later ``T``: re-running is idempotent and an older computation never
replaces a newer one. Tiles are absolute values, never increments, so nothing is counted
twice. The key expires when no window can reach its newest tile any more:
``(newest k + 1) * H + longest window``.

A read at ``t`` combines the pieces with ``k`` in ``[floor(t/H) - n, floor(t/H)]`` of each
aggregation (``n`` = its window in hops). Every stored row has ``event_ts <= vis_ts < T``, so
for ``t >= T`` this is the offline value at ``t`` over the rows visible at ``T``; float sums
included, bit for bit: the pieces' sums are added in ``(v, k)`` order, one IEEE addition at a
time from 0.0, as the offline engine does (never with the built-in ``sum``, which compensates
on Python 3.12+). A hash of the layout before pieces (fields ``t<k>``) reads as
``VERSION_MISMATCH``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from store.aggregation import AggregationView
from store.errors import FeatureNotFoundError
from store.online.codec import from_micros, to_micros
from store.online.connection import SyncClient, roundtrip
from store.online.keys import entity_keys_from_rows, entity_keys_from_table, key_prefix, key_suffix
from store.online.reader import FeatureValues, ReadResult, Status, ViewRead

HOP_COL = "__k"
VIS_HOP_COL = "__v"
_US = timedelta(microseconds=1)
_SCRIPT = """
local v = redis.call('HGET', KEYS[1], '_v')
local a = redis.call('HGET', KEYS[1], '_a')
if v == ARGV[2] and a and tonumber(a) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '_a', ARGV[1], '_v', ARGV[2], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
"""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # HUGEINT sums of integers
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def write_tiles(
    client: SyncClient,
    project: str,
    view: AggregationView,
    version: str,
    as_of: datetime,
    tiles: pa.Table,
    *,
    chunk_size: int = 2000,
) -> tuple[int, int]:
    """Replace the tiles of every key in ``tiles`` (rows of ``online_tiles``) as of ``as_of``.

    Returns:
        (keys written, keys skipped because a later computation is stored).
    """
    if tiles.num_rows == 0:
        return 0, 0
    hop_us = view.hop // _US
    max_window_us = view.max_hops * hop_us
    entity = entity_keys_from_table(tiles, view.join_keys).to_pylist()
    hops = tiles.column(HOP_COL).to_pylist()
    vis_hops = tiles.column(VIS_HOP_COL).to_pylist()
    states = [c for c in tiles.column_names if c.startswith("__s")]
    values = [tiles.column(c).to_pylist() for c in states]
    by_key: dict[bytes, list[tuple[int, bytes, bytes]]] = {}
    for i, ent in enumerate(entity):
        # json writes a float as its repr (it reads back bit for bit), NaN and ±inf as
        # NaN / Infinity, which json reads back too.
        blob = json.dumps([_plain(col[i]) for col in values], separators=(",", ":"))
        name = f"t{hops[i]}.{vis_hops[i]}".encode()
        by_key.setdefault(ent, []).append((int(hops[i]), name, blob.encode()))
    prefix, suffix = key_prefix(project), key_suffix(view.name)
    as_of_us = str(to_micros(as_of))
    commands: list[tuple[Any, ...]] = []
    for ent, items in by_key.items():
        newest = max(k for k, _, _ in items)
        expire_ms = math.ceil(((newest + 1) * hop_us + max_window_us) / 1000)
        fields = [x for _, name, blob in items for x in (name, blob)]
        key = prefix + ent + suffix
        commands.append(("EVAL", _SCRIPT, 1, key, as_of_us, version, expire_ms, *fields))
    written = skipped = 0
    for start in range(0, len(commands), chunk_size):
        for reply in roundtrip(client, commands[start : start + chunk_size]):
            if isinstance(reply, Exception):
                raise reply
            written, skipped = written + (reply == 1), skipped + (reply != 1)
    return written, skipped


def plan_tiles(
    project: str, view: AggregationView, entity_rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """One ``HGETALL`` per entity row (sent in the read's pipeline)."""
    prefix, suffix = key_prefix(project), key_suffix(view.name)
    keys = entity_keys_from_rows(entity_rows, view.join_keys)
    return [("HGETALL", prefix + ent + suffix) for ent in keys]


Piece = tuple[int, int, list[Any]]  # (visibility hop v, event hop k, partial states)


def combine(view: AggregationView, pieces: Sequence[Piece], at_hop: int) -> list[Any]:
    """Every aggregation's value from the pieces ``(v, k, states)``, read in hop ``at_hop``."""
    return _combine(_layout(view), sorted(pieces, key=lambda p: (p[0], p[1])), at_hop)


def _layout(view: AggregationView) -> list[tuple[str, str, int, int, int]]:
    """Per aggregation: function, output scalar, window in hops, state offset and width."""
    out, pos = [], 0
    for agg in view.aggregations:
        width = 2 if agg.function in ("mean", "last") else 1
        n = agg.window // view.hop
        scalar = agg.output_type.scalar
        if agg.function == "sum" and not agg.input_type.scalar.startswith("float"):
            scalar = "int"  # an exact sum, in Python ints
        out.append((agg.function, scalar, n, pos, width))
        pos += width
    return out


def _combine(
    layout: list[tuple[str, str, int, int, int]], ordered: Sequence[Piece], at_hop: int
) -> list[Any]:
    """``ordered``: the pieces in ``(v, k)`` order, the order float sums are added in."""
    out = []
    for function, scalar, n, pos, width in layout:
        low = at_hop - n
        parts = [s[pos : pos + width] for _, k, s in ordered if low <= k <= at_hop]
        out.append(_finish(function, scalar, parts))
    return out


def _fold(values: list[float]) -> float:
    """One IEEE double addition at a time, in order, from 0.0 (the offline engine's order)."""
    total = 0.0
    for x in values:
        total += x
    return total


def _finish(function: str, scalar: str, parts: list[list[Any]]) -> Any:
    firsts = [p[0] for p in parts if p[0] is not None]
    if function == "count":
        return sum(firsts)
    if function == "sum" and scalar == "int":
        return int(sum(firsts))
    if function == "sum":
        total = _fold([float(x) for x in firsts])
        return to_float32(total) if scalar == "float32" else total
    if function == "mean":
        count = sum(p[1] for p in parts if p[1] is not None)
        return _fold([float(x) for x in firsts]) / count if count else None
    if function == "count_distinct":
        return len(set().union(*firsts))
    if function == "last":
        ranked = [p for p in parts if p[1] is not None]
        return max(ranked, key=lambda p: p[1])[0] if ranked else None
    if not firsts:
        return None
    key = nan_greatest if any(x != x for x in firsts) else None  # only NaN is not equal to itself
    return min(firsts, key=key) if function == "min" else max(firsts, key=key)


def nan_greatest(x: Any) -> tuple[bool, Any]:
    """Sort key ordering NaN above every number, as DuckDB does (its min skips NaN unless all
    values are NaN; its max is NaN as soon as one is)."""
    return (isinstance(x, float) and math.isnan(x), x)


def to_float32(x: float) -> float:
    """``x`` rounded to the nearest float32 as IEEE 754 does (to ±inf past the largest)."""
    if math.isfinite(x) and abs(x) >= _FLOAT32_OVERFLOW:
        return math.copysign(math.inf, x)
    value: float = _FLOAT32.unpack(_FLOAT32.pack(x))[0]
    return value


_FLOAT32 = struct.Struct("<f")
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103  # halfway between the largest float32 and 2**128


def read_values(
    view: AggregationView,
    version: str,
    features: Sequence[str],
    replies: Sequence[Any],
    now: datetime,
) -> list[FeatureValues]:
    """Feature columns from the ``HGETALL`` replies of :func:`plan_tiles`, read at ``now``.

    A key never written (or expired) gives the empty window's values (0 for count and sum,
    null otherwise) with status ``MISSING``; another version's tiles give
    ``VERSION_MISMATCH`` and null. ``event_ts`` is the as-of time of the tiles.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    at_hop = to_micros(now) // (view.hop // _US)  # floors, like the SQL floor_hop
    index = {name: j for j, name in enumerate(view.feature_names)}
    layout = _layout(view)
    low = at_hop - view.max_hops
    empty = _combine(layout, [], at_hop)
    cols = [FeatureValues(view.name, f, version, dtype=view.field(f).type) for f in features]
    wanted = version.encode()
    for reply in replies:
        stamp_raw, ver, tiles = _split(reply, low, at_hop)
        if stamp_raw is None:
            vals, status, stamp = empty, Status.MISSING, None
        elif ver != wanted or tiles is None:  # another version, or tiles of the old layout
            vals, status = [None] * len(empty), Status.VERSION_MISMATCH
            stamp = from_micros(int(stamp_raw))
        else:
            tiles.sort()  # (v, k): the order float sums are added in
            states = json.loads(b"[" + b",".join(blob for _, _, blob in tiles) + b"]")
            pieces = [(v, k, st) for (v, k, _), st in zip(tiles, states, strict=True)]
            vals = _combine(layout, pieces, at_hop)
            status, stamp = Status.PRESENT, from_micros(int(stamp_raw))
        for col in cols:
            col.values.append(vals[index[col.feature]])
            col.statuses.append(status)
            col.event_ts.append(stamp)
    return cols


def _split(
    reply: Any, low: int, high: int
) -> tuple[Any, bytes | None, list[tuple[int, int, bytes]] | None]:
    """(``_a``, ``_v``, pieces ``(v, k, blob)`` with ``low <= k <= high``) of an HGETALL reply:
    a dict through redis-py's callbacks, a flat list from the raw pipeline. Other pieces stay
    unparsed. Pieces are None when the hash holds a tile of the old layout (``t<k>``)."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2])  # noqa: B905
    stamp = ver = None
    tiles: list[tuple[int, int, bytes]] | None = []
    for key, value in pairs:
        name = key if isinstance(key, bytes) else str(key).encode()
        if name[:1] == b"t":
            hop, dot, vis = name[1:].partition(b".")
            if not dot:
                tiles = None
            elif tiles is not None and low <= int(hop) <= high:
                blob = value if isinstance(value, bytes) else str(value).encode()
                tiles.append((int(vis), int(hop), blob))
        elif name == b"_a":
            stamp = value
        elif name == b"_v":
            ver = value if isinstance(value, bytes) else str(value).encode()
    return stamp, ver, tiles


def split_reads(requests: Sequence[ViewRead]) -> tuple[list[ViewRead], list[ViewRead]]:
    """(plain view reads, aggregation view reads)."""
    plain = [r for r in requests if not isinstance(r.view, AggregationView)]
    return plain, [r for r in requests if isinstance(r.view, AggregationView)]


def tile_commands(
    project: str, reads: Sequence[ViewRead], entity_rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """The ``HGETALL`` commands of the aggregation reads, view after view."""
    out: list[tuple[Any, ...]] = []
    for req in reads:
        assert isinstance(req.view, AggregationView)
        unknown = [f for f in req.features if f not in req.view.feature_names]
        if unknown:
            raise FeatureNotFoundError(
                f"feature view {req.view.name!r} has no feature {unknown[0]!r}; "
                f"it has {', '.join(req.view.feature_names)}"
            )
        out += plan_tiles(project, req.view, entity_rows)
    return out


def add_tile_columns(
    result: ReadResult, reads: Sequence[ViewRead], replies: Sequence[Any], n_rows: int
) -> ReadResult:
    """Append the aggregation reads' columns (replies of :func:`tile_commands`) to ``result``."""
    for k, req in enumerate(reads):
        assert isinstance(req.view, AggregationView)
        chunk = replies[k * n_rows : (k + 1) * n_rows]
        for reply in chunk:
            if isinstance(reply, Exception):
                raise reply
        result.columns += read_values(req.view, req.version, req.features, chunk, result.now)
    return result
