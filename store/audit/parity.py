"""Parity audit: online values against the offline rule at each view's materialization time.

For a view committed at ``T`` (its online watermark), every key the offline rule gives at
``T`` (or a sample chosen by a stable hash of the encoded key) is read raw from Redis and
compared bit for bit: the offline value is encoded with the online codec and the payloads
compared, so floats compare by their bytes (NaN equals NaN). Keys online that the rule does
not give are found by SCAN. Rows pushed after ``T`` that are newer online than the snapshot
are expected (the stream is ahead of the batch) and reported without alerting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from store.aggregation import AggregationView
from store.audit.report import AuditReport, Row, Status
from store.definitions import FeatureView
from store.offline.engine import OfflineEngine
from store.offline.retrieval import snapshot
from store.offline.sql import CREATED_TS, EVENT_TS
from store.online.codec import decode, encode_column, from_micros, to_micros
from store.online.keys import entity_keys_from_table, key_prefix, key_suffix
from store.online.raw import META_FIELDS
from store.online.store import OnlineStore

if TYPE_CHECKING:
    from store.audit.ondemand import OnDemandResult

MISSING = "missing online"
EXTRA = "extra online"
STALE = "stale"
VERSION = "version mismatch"
VALUE = "value differs"
TYPE = "type differs"
UNEXPECTED = "unexpected row online"
NEWER = "newer online (pushed after materialization)"
EXPIRED = "expired online (not yet evicted)"
NOT_MATERIALIZED = "not materialized"
SOURCE_DIFFERS = "source differs"
NULLED = "source not present online (passed as null)"
#: classes that are not skew: the stream ahead of the batch, Redis not yet evicting a key
EXPECTED = frozenset({NEWER, EXPIRED})
#: not counted as an alert: an on-demand input that differs is reported by its source view
NOT_COUNTED = EXPECTED | {SOURCE_DIFFERS}
KEY_LEVEL = "*"
MAX_EXAMPLES = 5


@dataclass
class _Tally:
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    _shown: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(
        self, feature: str, cls: str, example: dict[str, Any] | Callable[[], dict[str, Any]]
    ) -> None:
        """Count one difference; keep its example (built only then) for the first few."""
        key = (feature, cls)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self._shown.get(key, 0) < MAX_EXAMPLES:
            self._shown[key] = self._shown.get(key, 0) + 1
            shown = example() if callable(example) else example
            self.examples.append({"feature": feature, "class": cls, **shown})


def key_hash(entity_key: bytes) -> int:
    """A stable 64-bit hash of an encoded entity key (the same keys are always sampled)."""
    return int.from_bytes(hashlib.blake2b(entity_key, digest_size=8).digest(), "big")


def sample_limit(entity_keys: Sequence[bytes], sample: int | None) -> int | None:
    """The stable sample of ``sample`` entity keys: every key whose :func:`key_hash` is at most
    the returned limit (the same keys every run, whatever order SCAN returns them in); None
    when every key is read."""
    if sample is None or sample >= len(entity_keys):
        return None
    return sorted(key_hash(k) for k in entity_keys)[sample - 1]


def materialized_at(online: OnlineStore, view: FeatureView, tally: _Tally) -> datetime | None:
    """The view's materialization watermark ``T``, or None (tallied as not materialized)."""
    mark = online.get_watermark(view)
    if mark is None:
        tally.add(KEY_LEVEL, NOT_MATERIALIZED, {"view": view.name})
        return None
    return mark[0]


def audit_view(
    offline: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    *,
    sample: int | None = None,
) -> tuple[_Tally, int, datetime | None]:
    """Compare one view; returns the tally, the number of keys compared and ``T``."""
    tally = _Tally()
    as_of = materialized_at(online, view, tally)
    if as_of is None:
        return tally, 0, None
    snap = snapshot(offline, view, as_of).read_all()
    ekeys = entity_keys_from_table(snap, view.join_keys).to_pylist() if snap.num_rows else []
    prefix, suffix = key_prefix(online.project), key_suffix(view.name)
    known = {prefix + k + suffix for k in ekeys}
    limit = sample_limit(ekeys, sample)
    if limit is not None:
        chosen = [i for i, k in enumerate(ekeys) if key_hash(k) <= limit]
        snap = snap.take(pa.array(chosen, pa.int64()))
        ekeys = [ekeys[i] for i in chosen]
    full = [prefix + k + suffix for k in ekeys]
    fields = [*META_FIELDS, *(f.encode() for f in view.feature_names)]
    replies = online.read_raw(full, fields)
    _compare(tally, view, version, as_of, snap, ekeys, replies)
    _extras(tally, online, view, version, as_of, known, len(prefix), len(suffix), limit)
    return tally, len(ekeys), as_of


def _micros(col: pa.ChunkedArray) -> list[int]:
    return pc.cast(col, pa.int64()).to_pylist()  # type: ignore[no-any-return]


def _compare(
    tally: _Tally,
    view: FeatureView,
    version: str,
    as_of: datetime,
    snap: pa.Table,
    ekeys: list[bytes],
    replies: list[list[bytes | None]],
) -> None:
    # One tight pass over the metadata, then one comprehension per feature over the keys whose
    # row matches: a million keys x a few features stays a few seconds of Python.
    events, createds = _micros(snap.column(EVENT_TS)), _micros(snap.column(CREATED_TS))
    t_us, ver = to_micros(as_of), version.encode()

    def base(
        i: int, reply: list[bytes | None], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"view": view.name, "key": _show(ekeys[i])}
        out["offline_event_ts"] = from_micros(events[i])
        out["offline_created_ts"] = from_micros(createds[i])
        if reply[0] is not None:
            out["online_event_ts"] = from_micros(int(reply[0]))
            out["online_created_ts"] = from_micros(int(reply[1] or 0))
        return out | (extra or {})

    same: list[int] = []
    for i, reply in enumerate(replies):
        raw_e = reply[0]
        if raw_e is None:
            tally.add(KEY_LEVEL, MISSING, partial(base, i, reply))
        elif reply[2] != ver:
            extra = {"online_version": _text(reply[2])}
            tally.add(KEY_LEVEL, VERSION, partial(base, i, reply, extra))
        elif int(raw_e) != events[i] or int(reply[1] or 0) != createds[i]:
            online, offline = (int(raw_e), int(reply[1] or 0)), (events[i], createds[i])
            cls = STALE if online < offline else (NEWER if online[1] >= t_us else UNEXPECTED)
            tally.add(KEY_LEVEL, cls, partial(base, i, reply))
        else:
            same.append(i)
    for j, f in enumerate(view.fields, start=3):
        want = encode_column(snap.column(f.name), f.type)
        for i in [i for i in same if want[i] != replies[i][j]]:
            got = replies[i][j]
            found = _classify(want[i], got)
            if found is not None:
                values = {"offline": _value(want[i]), "online": _value(got)}
                tally.add(f.name, found, partial(base, i, replies[i], values))


def _classify(want: bytes, got: bytes | None) -> str | None:
    if got is None:
        return MISSING
    if want[:1] != got[:1]:
        return TYPE
    a, b = _value(want), _value(got)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return None  # NaN == NaN (payload bits may differ)
    return VALUE


def _extras(
    tally: _Tally,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    as_of: datetime,
    known: set[bytes],
    head: int,
    tail: int,
    limit: int | None,
) -> None:
    extra = [k for k in online.scan_view(view) if k not in known]
    if limit is not None:
        extra = [k for k in extra if key_hash(k[head:-tail]) <= limit]
    if not extra:
        return
    ttl_us = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
    t_us = to_micros(as_of)
    for key, reply in zip(extra, online.read_raw(extra, META_FIELDS), strict=True):
        example: dict[str, Any] = {"view": view.name, "key": _show(key[head:-tail])}
        if reply[0] is None:
            continue  # expired or deleted between SCAN and HMGET
        on_e, on_c = int(reply[0]), int(reply[1] or 0)
        example |= {"online_event_ts": from_micros(on_e), "online_created_ts": from_micros(on_c)}
        if on_c >= t_us:
            tally.add(KEY_LEVEL, NEWER, example)
        elif ttl_us is not None and t_us - on_e > ttl_us:
            tally.add(KEY_LEVEL, EXPIRED, example)
        else:
            tally.add(KEY_LEVEL, EXTRA, example)


def _show(entity_key: bytes) -> str:
    return entity_key.decode("utf-8", "backslashreplace")


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "backslashreplace")


def _value(payload: bytes | None) -> Any:
    if payload is None:
        return None
    try:
        return decode(payload)
    except ValueError:
        return repr(payload[:32])


def _malformed_row(view: str, n: int, example: str) -> Row:
    note = f"{n} logged request(s) not compared: a value does not fit its type (first: {example})"
    return {"view": view, "feature": "*", "status": "warn", "count": 0, "note": note, "keys": 0}


def _skipped_row(od: OnDemandResult) -> Row:
    """The row of an on-demand view that was not compared. Nothing is wrong only when it needs
    request data and none is logged (its inputs are compared in their own views' rows); any
    other reason, or logged requests that fit no type, means the audit could not look: warn."""
    quiet = od.no_request_data and not od.malformed
    note = f"not compared: {od.skipped}"
    if od.malformed:
        note += (
            f"; {od.malformed} logged request(s) not compared: a value does not fit its type "
            f"(first: {od.malformed_example})"
        )
    status: Status = "ok" if quiet else "warn"
    count = 0 if quiet else max(od.malformed, 1)
    return {"view": od.view.name, "feature": "*", "status": status, "count": count} | {
        "note": note,
        "keys": 0,
    }


def parity_audit(
    offline: OfflineEngine,
    online: OnlineStore,
    views: Sequence[tuple[FeatureView, str]],
    *,
    sample: int | None = None,
    on_demand: Sequence[OnDemandResult] = (),
) -> AuditReport:
    """Diff online values against the offline rule at each view's materialization time.

    Args:
        offline: the offline engine.
        online: the online store.
        views: ``(view, applied version)`` pairs to audit.
        sample: compare only this many keys per view, chosen by a stable hash of the encoded
            entity key (the same keys every run); default all keys.
        on_demand: the on-demand views' results (:func:`store.audit.ondemand.audit_on_demand`).

    Returns:
        An :class:`AuditReport` of kind ``parity``: ``counts`` per view by class, one row per
        view and feature (``*`` for whole-row classes), examples with key, values and times.
        Alert on any difference except rows pushed after ``T`` and expired keys not yet evicted.
        Aggregation views are read online at ``T`` and compared with the training frame at
        ``T`` (:mod:`store.audit.agg_parity`). An on-demand view that cannot be compared
        gets a row saying why: ``ok`` only when it needs request data and the served log
        holds none; ``warn`` (with the count) for logged requests that fit no type or any
        other reason.
    """
    from store.audit.agg_parity import audit_aggregation

    rows: list[Row] = []
    examples: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    total_keys = differences = 0
    results: list[tuple[str, _Tally, int, datetime | None, list[str], str]] = []
    for view, version in views:
        if isinstance(view, AggregationView):
            found = audit_aggregation(offline, online, view, version, sample=sample)
            check = "online read at T vs training frame at T"
        else:
            found = audit_view(offline, online, view, version, sample=sample)
            check = "online row vs offline snapshot at T"
        results.append((view.name, *found, [KEY_LEVEL, *view.feature_names], check))
    skipped: list[str] = []
    malformed: list[Row] = []
    for od in on_demand:
        if od.skipped is not None:
            skipped.append(f"{od.view.name}: {od.skipped}")
            row = _skipped_row(od)
            rows.append(row)
            counts[od.view.name] = {"not compared": 1}
            continue
        if od.malformed:
            malformed.append(_malformed_row(od.view.name, od.malformed, od.malformed_example))
        check = f"function over online vs offline inputs ({', '.join(od.sources)}) at T"
        results.append((od.view.name, od.tally, od.keys, od.read_at, od.view.feature_names, check))
    for name, tally, n_keys, as_of, features, check in results:
        total_keys += n_keys
        examples += tally.examples
        by_class: dict[str, int] = {}
        by_feature: dict[str, dict[str, int]] = {}
        for (feature, cls), n in tally.counts.items():
            by_class[cls] = by_class.get(cls, 0) + n
            by_feature.setdefault(feature, {})[cls] = n
        counts[name] = by_class
        for feature in features:
            classes = by_feature.get(feature, {})
            bad = sum(n for c, n in classes.items() if c not in NOT_COUNTED)
            differences += bad
            status: Status = "alert" if bad else "ok"
            rows.append(
                {
                    "view": name,
                    "feature": feature,
                    "status": status,
                    "count": bad,
                    "keys": n_keys,
                    **classes,
                    **({"as_of": as_of, "check": check} if feature == features[0] else {}),
                }
            )
    rows += malformed
    # A skip for a reason worth a look, or logged values that fit no type: a warning.
    flagged = [r for r in rows if isinstance(r, dict) and r["status"] == "warn"]
    warned = list(dict.fromkeys(str(r["view"]) for r in flagged))
    # Logged values that fit no type are a data problem worth a look, not a difference.
    status = "alert" if differences else ("warn" if warned else "ok")
    headline = f"{differences:,} differences in {total_keys:,} keys"
    if warned:
        headline += (
            f"; {len(warned)} on-demand view(s) with malformed served-log values or not "
            f"compared for a reason worth a look ({', '.join(warned)}; see notes)"
        )
    if skipped:
        headline += f"; {len(skipped)} on-demand view(s) not compared (see their notes)"
    summary: dict[str, Any] = {"headline": headline, "keys": total_keys}
    summary["differences"] = differences
    if skipped:
        summary["not_compared"] = skipped
    names = [v.name for v, _ in views] + [od.view.name for od in on_demand]
    return AuditReport(
        kind="parity",
        status=status,
        summary=summary,
        rows=rows,
        examples=examples,
        counts=counts,
        params={"sample": sample, "views": names},
    )
