"""Schema audit: declared types vs source file types vs online payloads; unseen categories.

For each feature of a view: the declared type against the Arrow type of its source column
(a feature computed by ``expr`` has no column to compare), the codec tag of a sample of online
payloads against the declared type (every payload carries its type, see
:mod:`store.online.codec`), and, for string features, the sampled online values that the
offline source never had (unseen categories).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from store.aggregation import AggregationView
from store.audit.parity import key_hash, sample_limit
from store.audit.report import AuditReport, Row, Status, worst
from store.definitions import FeatureView
from store.offline.engine import OfflineEngine, duck_errors
from store.offline.sql import quote_ident
from store.online.codec import decode
from store.online.keys import key_prefix, key_suffix
from store.online.store import OnlineStore
from store.types import ValueType

_TAGS: dict[str, frozenset[bytes]] = {
    "int32": frozenset({b"i"}),
    "int64": frozenset({b"i"}),
    "float64": frozenset({b"d"}),
    "float32": frozenset({b"f"}),
    "timestamp": frozenset({b"t"}),
    "string": frozenset({b"s"}),
    "bool": frozenset({b"T", b"F"}),
}
_LIST_ITEM = {"int32": b"i", "int64": b"i", "float64": b"d", "float32": b"f", "timestamp": b"t"}
_LIST_ITEM |= {"string": b"s", "bool": b"b"}
MAX_EXAMPLES = 5
CHUNK = 5000
"""Keys read back per batch (each batch one pipelined round trip)."""


def payload_fits(payload: bytes, vtype: ValueType) -> bool:
    """Whether an online payload's codec tag is the one ``vtype`` encodes to (null always fits)."""
    if payload[:1] == b"n":
        return True
    if vtype.is_list:
        return payload[:1] == b"l" and payload[1:2] == _LIST_ITEM[vtype.scalar]
    return payload[:1] in _TAGS[vtype.scalar]


def source_fits(source: pa.DataType, declared: pa.DataType) -> bool:
    """Whether a source column of Arrow type ``source`` reads as ``declared`` without loss."""
    if source == declared:
        return True
    if pa.types.is_timestamp(source) and pa.types.is_timestamp(declared):
        return True
    if pa.types.is_integer(source) and pa.types.is_integer(declared):
        return bool(source.bit_width <= declared.bit_width)
    if pa.types.is_floating(declared) and (
        pa.types.is_floating(source) or pa.types.is_integer(source)
    ):
        return bool(not pa.types.is_floating(source) or source.bit_width <= declared.bit_width)
    strings = pa.types.is_string(source) or pa.types.is_large_string(source)
    return bool(strings) and bool(
        pa.types.is_string(declared) or pa.types.is_large_string(declared)
    )


def _categories(engine: OfflineEngine, view: FeatureView, feature: str) -> set[str]:
    con = engine.connect([view])
    try:
        sql = f"SELECT DISTINCT {quote_ident(feature)} FROM ({engine.source_sql(view)}) AS s"
        with duck_errors(f"feature view {view.name!r}: categories of {feature!r}"):
            return {r[0] for r in con.execute(sql).fetchall() if r[0] is not None}
    finally:
        con.close()


def sampled_keys(
    online: OnlineStore, view: FeatureView, sample: int | None
) -> tuple[list[bytes], int]:
    """The view's online keys to read, and how many it has: every key, or the stable sample
    the parity audit takes (:func:`store.audit.parity.sample_limit`), never SCAN order."""
    keys = online.scan_view(view)
    head, tail = len(key_prefix(online.project)), len(key_suffix(view.name))
    limit = sample_limit([k[head:-tail] for k in keys], sample)
    if limit is None:
        return keys, len(keys)
    return [k for k in keys if key_hash(k[head:-tail]) <= limit], len(keys)


def audit_view(
    engine: OfflineEngine, online: OnlineStore, view: FeatureView, sample: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows (one per feature) and examples of one view."""
    schema = engine.source_schema(view)
    keys, total = sampled_keys(online, view, sample)
    names = [f.name.encode() for f in view.fields]
    replies = online.read_raw(keys, names, chunk_size=CHUNK) if keys else []
    rows, examples = [], []
    for j, f in enumerate(view.fields):
        status: Status = "ok"
        reasons: list[str] = []
        src = schema.field(f.name).type if f.expr is None and f.name in schema.names else None
        if f.expr is None and src is None:
            status, reasons = "alert", [f"no column {f.name!r} in the source"]
        mismatch = src is not None and not source_fits(src, f.type.arrow)
        if mismatch:
            status = "alert"
            reasons.append(f"source column is {src}, declared {f.type}")
        payloads = [p for r in replies if (p := r[j]) is not None]
        bad = [p for p in payloads if not payload_fits(p, f.type)]
        for p in bad[:MAX_EXAMPLES]:
            examples.append(
                {
                    "view": view.name,
                    "feature": f.name,
                    "class": "online type",
                    "declared": str(f.type),
                    "online": _show(p),
                }
            )
        if bad:
            status = "alert"
            reasons.append(f"{len(bad)} online payloads are not {f.type}")
        unseen: list[str] = []
        if f.type.scalar == "string" and not f.type.is_list and payloads:
            known = _categories(engine, view, f.name)
            online_values = {
                v for p in payloads if payload_fits(p, f.type) and isinstance(v := decode(p), str)
            }
            unseen = sorted(online_values - known)
            for value in unseen[:MAX_EXAMPLES]:
                examples.append(
                    {
                        "view": view.name,
                        "feature": f.name,
                        "class": "unseen category",
                        "online": value,
                    }
                )
            if unseen:
                status = worst([status, "warn"])
                reasons.append(f"{len(unseen)} online categories not in the source")
        rows.append(
            {
                "view": view.name,
                "feature": f.name,
                "status": status,
                "count": len(bad) + len(unseen),
                "declared": str(f.type),
                "source": None if src is None else str(src),
                "source_mismatch": mismatch or (f.expr is None and src is None),
                "online_sampled": len(payloads),
                "online_type_mismatch": len(bad),
                "unseen_categories": len(unseen),
                "reasons": reasons,
            }
        )
    if rows:
        rows[0] |= {"keys_read": len(keys), "keys_online": total}
    return rows, examples


def _show(payload: bytes) -> Any:
    try:
        return decode(payload)
    except ValueError:
        return repr(payload[:32])


def schema_audit(
    engine: OfflineEngine,
    online: OnlineStore,
    views: Sequence[FeatureView],
    *,
    sample: int | None = None,
    versions: Mapping[str, str] | None = None,
    on_demand: Sequence[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = (),
) -> AuditReport:
    """Check declared types against source files and online payloads, and unseen categories.

    Args:
        engine: the offline engine.
        online: the online store.
        views: the views to check.
        sample: online keys read per view, chosen by the parity audit's stable key hash (the
            same keys every run); default every key (read in pipelined batches).
        versions: applied version per aggregation view (its tiles are read back as served).
        on_demand: per on-demand view, its name, rows and examples
            (:func:`store.audit.schema_views.check_on_demand`).

    Returns:
        An :class:`AuditReport` of kind ``schema``, one row per view and feature. Alert on a
        source or online type that does not fit the declaration, warn on unseen categories.
        Aggregation views and on-demand views are checked by :mod:`store.audit.schema_views`;
        an on-demand view that cannot be run gets a ``warn`` row saying why.
    """
    from store.audit.schema_views import aggregation_rows

    rows: list[Row] = []
    examples: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    checked: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = []
    for view in views:
        if isinstance(view, AggregationView):
            version = (versions or {}).get(view.name, view.version)
            found = aggregation_rows(engine, online, view, version, sample)
        else:
            found = audit_view(engine, online, view, sample)
        checked.append((view.name, *found))
    for name, view_rows, view_examples in [*checked, *on_demand]:
        rows += view_rows
        examples += view_examples
        tally = {
            "source type": sum(1 for r in view_rows if r["source_mismatch"]),
            "output type": sum(1 for r in view_rows if r.get("output_mismatch")),
            "online type": sum(int(r["online_type_mismatch"]) for r in view_rows),
            "unseen category": sum(int(r["unseen_categories"]) for r in view_rows),
            "not checked": sum(1 for r in view_rows if r.get("not_checked")),
        }
        counts[name] = {c: n for c, n in tally.items() if n}
    status = worst([r["status"] for r in rows if isinstance(r, dict)])
    skipped = sum(1 for r in rows if isinstance(r, dict) and r.get("not_checked"))
    problems = sum(1 for r in rows if isinstance(r, dict) and r["status"] != "ok")
    # Each view's first row carries its key counts to here; they belong to the summary (the
    # feature's own count is online_sampled), not to a table column of their own.
    read = online_keys = 0
    for r in rows:
        if isinstance(r, dict):
            read += int(r.pop("keys_read", 0))
            online_keys += int(r.pop("keys_online", 0))
    headline = f"{problems} of {len(rows) - skipped} features with schema problems"
    headline += f"; {read:,} of {online_keys:,} online keys read"
    if skipped:
        headline += f"; {skipped} on-demand view(s) not checked"
    return AuditReport(
        kind="schema",
        status=status,
        summary={
            "headline": headline,
            "features": len(rows),
            "problems": problems,
            "keys_read": read,
            "keys_online": online_keys,
        },
        rows=rows,
        examples=examples,
        counts=counts,
        params={"sample": sample},
    )
