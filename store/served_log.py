"""Served-feature log: what the feature server actually returned, recorded off the request path.

The server hands each response to :class:`ServedLogWriter`, which appends it to a bounded
in-memory queue (a deque append: no lock, no wake-up, never blocking the request); a
background thread drains the queue every ``interval`` seconds and appends JSON lines under
``<data_dir>/served/``. A sample of entity keys may be chosen by a stable hash of the key, so a
sampled key is logged on every request. Files rotate at ``max_bytes`` or when older than
``rotate_seconds``; at most ``max_files`` are kept and none older than ``retention_seconds``
(oldest deleted first), so the log never fills the disk.

One line per request (only its sampled entity rows)::

    {"v": 1, "request_time": "...Z", "request_id": "...", "read_at": "...Z",
     "rows": [0, 2], "entities": {"user_id": [7, 9]},
     "features": [{"name": "...", "view": "...", "feature": "...", "version": "...",
                   "values": [...], "statuses": [...], "event_timestamps": [...]}]}

Statuses are Parity's own (``PRESENT``, ``MISSING``, ``EXPIRED``, ``VERSION_MISMATCH``); a
non-finite float is written as ``{"$float": "NaN" | "Infinity" | "-Infinity"}`` so it
round-trips. :func:`read_served_log` flattens the files into an Arrow table for the audits.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa

from store.errors import EntityFrameError
from store.online.keys import encode_key_value
from store.online_response import OnlineResponse
from store.pids import pid_alive
from store.types import ValueType

SERVED_DIR = "served"
_NAME = re.compile(r"served-(\d{8}-\d{6})-(\d+)-(\d+)\.jsonl")
_Item = tuple[datetime, str, OnlineResponse, list[int] | None]
_DUMP = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def key_sampled(
    row: Mapping[str, Any], rate: float, types: Mapping[str, ValueType] | None = None
) -> bool:
    """Whether entity ``row`` is in the sample: a stable hash of its sorted key columns.

    A column with a declared type in ``types`` is hashed as its encoded entity-key bytes
    (``store.online.keys``), so ``7`` and ``7.0`` for an int64 key — the same key — sample
    alike. The same key gives the same answer in every process and on every request.
    """
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    parts = []
    for column in sorted(row):
        value = row[column]
        vtype = None if types is None else types.get(column)
        try:
            if vtype is None:
                raise EntityFrameError("no declared type")
            encoded = encode_key_value(value, vtype, column=column, row=0)
        except EntityFrameError:  # no declared type, null or not its type: hash it as given
            encoded = orjson.dumps(value, option=_DUMP)
        parts.append(orjson.dumps(column) + b"=" + encoded)
    digest = hashlib.blake2b(b"|".join(parts), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2.0**64


def nonfinite_name(value: float) -> str:
    """``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (protobuf's JSON spelling)."""
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def replace_nonfinite(values: list[Any], replace: Callable[[float], Any]) -> list[Any]:
    """``values`` with every NaN/±inf (also inside lists) replaced by ``replace(value)``.

    JSON cannot carry them. Returns ``values`` itself, uncopied, when there are none: one
    C-level sum tells that for a float column, and other scalar columns need no look.
    """
    kind = next((v.__class__ for v in values if v is not None), None)
    if kind is float:
        try:
            if math.isfinite(math.fsum([v for v in values if v is not None])):
                return values
        except (ValueError, OverflowError, TypeError):
            pass
    elif kind is not list:
        return values
    return [_replace(v, replace) for v in values]


def _replace(value: Any, replace: Callable[[float], Any]) -> Any:
    if value.__class__ is float and not math.isfinite(value):
        return replace(value)
    if value.__class__ is list:
        return [_replace(v, replace) for v in value]
    return value


def _tag(value: float) -> dict[str, str]:
    return {"$float": nonfinite_name(value)}


def _untag_floats(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$float"}:
        return _FLOATS[value["$float"]]
    if isinstance(value, list):
        return [_untag_floats(v) for v in value]
    return value


class StampEncoder:
    """Event-time lists as pre-encoded JSON, each distinct list encoded once.

    Every feature of a view carries the same event time per entity row, and orjson encodes an
    aware datetime through a Python call, so consecutive equal lists share one encoding.
    """

    def __init__(self, option: int) -> None:
        self.option = option
        self.last: list[Any] | None = None
        self.encoded = orjson.Fragment(b"[]")

    def __call__(self, stamps: list[Any]) -> orjson.Fragment:
        if self.last is None or stamps != self.last:  # identical objects compare fast
            self.last = stamps
            self.encoded = orjson.Fragment(orjson.dumps(stamps, option=self.option))
        return self.encoded


class ServedLogWriter:
    """Append served responses to rotating JSON-lines files from a background thread.

    Args:
        directory: where the ``served-*.jsonl`` files go (created when first needed).
        sample_rate: fraction of entity keys logged, chosen by a stable hash of the key.
        max_bytes: start a new file when the current one would grow past this.
        max_files: keep at most this many files in ``directory`` (oldest deleted first).
        rotate_seconds: start a new file when the current one is older than this (None: size
            only).
        retention_seconds: delete files last written longer ago than this (None: count only);
            checked at each rotation and at least every minute.
        queue_size: responses waiting to be written; beyond it new ones are dropped and
            counted in :attr:`dropped` (the request is never slowed down).
        interval: seconds between two drains of the queue (each drain is flushed to the file).
    """

    def __init__(
        self,
        directory: Path,
        *,
        sample_rate: float = 1.0,
        max_bytes: int = 64 * 1024 * 1024,
        max_files: int = 8,
        rotate_seconds: float | None = None,
        retention_seconds: float | None = None,
        queue_size: int = 10_000,
        interval: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.sample_rate = sample_rate
        self.max_bytes = max(1, max_bytes)
        self.max_files = max(1, max_files)
        self.rotate_seconds = rotate_seconds
        self.retention_seconds = retention_seconds
        self._clock = clock  # wall-clock seconds (tests pass their own)
        self._opened_at = 0.0
        self._pruned_at = 0.0
        self.dropped = 0
        self.written = 0
        self.errors = 0
        self.queue_size = queue_size
        self.interval = interval
        self._pending: deque[_Item] = deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._size = 0
        self._seq = 0

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None and self.sample_rate > 0:
            self._thread = threading.Thread(target=self._run, name="served-log", daemon=True)
            self._thread.start()

    def record(
        self,
        response: OnlineResponse,
        *,
        request_id: str,
        request_time: datetime,
        key_types: Mapping[str, ValueType] | None = None,
    ) -> None:
        """Queue the sampled rows of ``response`` for writing; never blocks.

        ``key_types``: the declared types of the entity rows' columns
        (``FeatureStore.entity_columns``), so a key samples alike however it was written.
        """
        if self._thread is None:
            return
        rows: list[int] | None = None  # None: every row
        if self.sample_rate < 1.0:
            rows = [
                i
                for i, row in enumerate(response.entity_rows)
                if key_sampled(row, self.sample_rate, key_types)
            ]
        if not response.entity_rows or rows == []:
            return
        if len(self._pending) >= self.queue_size:
            self.dropped += 1
            return
        self._pending.append((request_time, request_id, response, rows))  # atomic

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, flush and fsync the file, stop the thread."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    # -- writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            stopping = self._stopping.wait(self.interval)
            while self._pending:
                lines: list[bytes] = []
                while self._pending and len(lines) < 1000:
                    item = self._pending.popleft()
                    try:
                        lines.append(self._line(item))
                    except (TypeError, ValueError):
                        self.errors += 1
                    # Hand the GIL back after each response, so encoding a batch never
                    # stalls the event loop for more than one response's worth.
                    time.sleep(0)
                try:
                    self._write(lines)
                    self.written += len(lines)
                except OSError:
                    self.errors += len(lines)
            if self.retention_seconds is not None and self._clock() - self._pruned_at >= 60:
                self._prune()
            if stopping:
                break
        self._close_file()

    @staticmethod
    def _line(item: _Item) -> bytes:
        request_time, request_id, resp, rows = item
        keys = list(resp.entity_rows[0])
        pick: Callable[[list[Any]], list[Any]]
        if rows is None:
            rows = list(range(len(resp.entity_rows)))
            pick = list
        else:
            pick = partial(_pick, rows)
        stamps = StampEncoder(_DUMP)
        record = {
            "v": 1,
            "request_time": request_time,
            "request_id": request_id,
            "read_at": resp.read_at,
            "rows": rows,
            "entities": {k: pick([row.get(k) for row in resp.entity_rows]) for k in keys},
            "features": [
                {
                    "name": col.name,
                    "view": col.view,
                    "feature": col.feature,
                    "version": col.version,
                    "values": replace_nonfinite(pick(col.values), _tag),
                    "statuses": pick(col.statuses),  # orjson writes enums by value
                    "event_timestamps": stamps(pick(col.event_timestamps)),
                }
                for col in resp.columns
            ],
        }
        return orjson.dumps(record, option=_DUMP, default=str) + b"\n"

    def _write(self, lines: list[bytes]) -> None:
        chunk: list[bytes] = []
        size = self._size
        for line in lines:
            if self._file is None or (size and size + len(line) > self.max_bytes) or self._old():
                self._flush(chunk)
                self._rotate()
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._flush(chunk)

    def _old(self) -> bool:
        """Whether the open file has been written longer than ``rotate_seconds``."""
        if self.rotate_seconds is None or self._file is None:
            return False
        return self._clock() - self._opened_at >= self.rotate_seconds

    def _flush(self, chunk: list[bytes]) -> None:
        if chunk and self._file is not None:
            data = b"".join(chunk)
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def _rotate(self) -> None:
        self._close_file()
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self._seq += 1
        self._path = self.directory / f"served-{stamp}-{os.getpid()}-{self._seq:06d}.jsonl"
        self._file = open(self._path, "ab")  # noqa: SIM115 - kept open across batches
        self._size = 0
        self._opened_at = self._clock()
        self._prune()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def _prune(self) -> None:
        files = log_files(self.directory)
        # Another live worker's newest file is still being written: never delete it.
        current: dict[str, Path] = {}
        for path in files:
            match = _NAME.fullmatch(path.name)
            if match:
                current[match.group(2)] = path
        protected = {p for pid, p in current.items() if pid_alive(int(pid))} | {self._path}
        self._pruned_at = now = self._clock()
        excess = len(files) - self.max_files
        for path in files:
            if path in protected:
                continue
            expired = self.retention_seconds is not None and _age(path, now) > (
                self.retention_seconds
            )
            if excess > 0 or expired:
                path.unlink(missing_ok=True)
                excess -= 1


def _age(path: Path, now: float) -> float:
    """Seconds since ``path`` was last written (0 if it is gone)."""
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _pick(rows: list[int], values: list[Any]) -> list[Any]:
    return [values[i] for i in rows]


def log_files(directory: Path) -> list[Path]:
    """The served-log files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.fullmatch(p.name)]

    def order(path: Path) -> tuple[str, int, int]:
        match = _NAME.fullmatch(path.name)
        assert match is not None
        return match.group(1), int(match.group(3)), int(match.group(2))

    return sorted(found, key=order)


def _records(directory: Path) -> Iterator[dict[str, Any]]:
    for path in log_files(directory):
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by a crash


def _ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


_SCHEMA = pa.schema(
    [
        ("request_time", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
        ("read_at", pa.timestamp("us", tz="UTC")),
        ("row", pa.int32()),
        ("entity_key", pa.string()),
        ("view", pa.string()),
        ("feature", pa.string()),
        ("name", pa.string()),
        ("version", pa.string()),
        ("status", pa.string()),
        ("event_timestamp", pa.timestamp("us", tz="UTC")),
        ("value", pa.string()),
        ("value_number", pa.float64()),
        ("value_string", pa.string()),
    ]
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def read_served_log(data_dir: str | Path) -> pa.Table:
    """Every logged value as one row per (request, entity row, feature).

    Args:
        data_dir: the repo's data folder (the log lives in ``<data_dir>/served``).

    Returns:
        Columns ``request_time, request_id, read_at, row, entity_key`` (canonical JSON of the
        key columns, sorted by name), ``view, feature, name, version, status,
        event_timestamp``, ``value`` (exact JSON text), ``value_number`` (float64 for numbers
        and bools, NaN/±inf restored) and ``value_string`` (for strings).
    """
    cols: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    malformed = 0
    for rec in _records(Path(data_dir) / SERVED_DIR):
        try:
            rows = _record_rows(rec)
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
            orjson.JSONEncodeError,
        ):
            malformed += 1  # reported by the audits, never fatal
            continue
        for row in rows:
            for name, value in row.items():
                cols[name].append(value)
    try:
        table = pa.table(cols, schema=_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        table, malformed = _keep_convertible(cols, malformed)
    return table.replace_schema_metadata({MALFORMED: str(malformed)})


MALFORMED = "malformed_records"
"""Schema metadata key of :func:`read_served_log`'s table: log records that could not be read."""


def malformed_records(log: pa.Table) -> int:
    """How many served-log records :func:`read_served_log` left out as malformed."""
    meta = log.schema.metadata or {}
    return int(meta.get(MALFORMED.encode(), b"0"))


def _record_rows(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One record's rows (one per entity row and feature); raises on a malformed record."""
    keys = _entity_keys(rec["entities"], len(rec["rows"]))
    request_time, read_at = _ts(rec["request_time"]), _ts(rec["read_at"])
    out = []
    for feat in rec["features"]:
        for j, row in enumerate(rec["rows"]):
            value = _untag_floats(feat["values"][j])
            out.append(
                {
                    "request_time": request_time,
                    "request_id": str(rec["request_id"]),
                    "read_at": read_at,
                    "row": int(row),
                    "entity_key": keys[j],
                    **{name: str(feat[name]) for name in ("view", "feature", "name", "version")},
                    "status": str(feat["statuses"][j]),
                    "event_timestamp": _ts(feat["event_timestamps"][j]),
                    "value": orjson.dumps(feat["values"][j]).decode(),
                    "value_number": _number(value),
                    "value_string": value if isinstance(value, str) else None,
                }
            )
    return out


def _keep_convertible(cols: dict[str, list[Any]], malformed: int) -> tuple[pa.Table, int]:
    """Row by row, the rows Arrow takes (a timestamp out of range...); the rest counted."""
    kept: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    for i in range(len(cols["view"])):
        row = {name: [cols[name][i]] for name in _SCHEMA.names}
        try:
            pa.table(row, schema=_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            malformed += 1
            continue
        for name in _SCHEMA.names:
            kept[name].append(cols[name][i])
    return pa.table(kept, schema=_SCHEMA), malformed


def _entity_keys(entities: Mapping[str, Sequence[Any]], n: int) -> list[str]:
    names = sorted(entities)
    return [
        orjson.dumps({k: entities[k][j] for k in names}, option=orjson.OPT_SORT_KEYS).decode()
        for j in range(n)
    ]
