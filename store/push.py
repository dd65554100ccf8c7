"""Streaming push: rows land now, are appended to the view's offline side, and CAS-written online.

Pushed rows are kept as Parquet files under ``<data_dir>/push/<view>/``, which the offline
engine reads as part of the view's source, so training frames built afterwards see them by the
same rule. The online values are computed by the offline rule itself, evaluated over just the
pushed rows, so expressions, lateness and ttl apply exactly as they do in training.

Where the rows go is a :class:`PushMode` (Feast's names): ``online_and_offline`` (the default:
training and serving see the same rows), ``offline`` (appended only; a later incremental
materialization brings them online, it selects by created time) or ``online`` (written online
only: the rows are staged in ``<data_dir>/push-staging/`` while the rule runs over them, then
removed, so training frames never see them, as in Feast).

A row's created timestamp is when it landed: now, unless the rows carry one (the source's
created column, or Feast's ``created``), which is kept; a null one is now, a future one is
refused. Feast's writers always name the event time ``event_timestamp``: that name is read
as the source's event column when the source names it otherwise.
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from store.aggregation import AggregationView
from store.convert import BadValue, text_array, to_array
from store.definitions import FeatureView, ParquetSource
from store.errors import PushError
from store.offline.aggregate import tiles_at
from store.offline.engine import OfflineEngine
from store.offline.retrieval import snapshot
from store.online.store import OnlineStore

PUSH_DIR = "push"
STAGING_DIR = "push-staging"
FEAST_CREATED = "created"
FEAST_EVENT = "event_timestamp"
_US = timedelta(microseconds=1)
APPENDED = "appended"
DUPLICATE = "duplicate"
IDS_DIR = ".ids"
MAX_PUSH_ID = 256


class PushMode(StrEnum):
    """Where pushed rows go (Feast's ``PushMode``, by value or name)."""

    ONLINE = "online"
    OFFLINE = "offline"
    ONLINE_AND_OFFLINE = "online_and_offline"

    @classmethod
    def parse(cls, value: object) -> PushMode:
        """A PushMode from itself, its value or its name (Feast's enum passes by name)."""
        if isinstance(value, PushMode):
            return value
        name = getattr(value, "name", value)
        for mode in cls:
            if name in (mode.value, mode.name):
                return mode
        raise PushError(
            f"push: to={value!r} is not a push mode; use 'online', 'offline' or "
            "'online_and_offline'"
        )


@dataclass(frozen=True)
class PushResult:
    """What a push did.

    Attributes:
        view: the feature view (or, for a push source, the source's name).
        rows: rows pushed.
        written: online values written (0 when pushed ``offline`` only).
        skipped_older: online values kept because a newer one was stored.
        dropped_late: rows later than the view's ``allowed_lateness``.
        path: the Parquet file appended offline (None when pushed ``online`` only).
        to: where the rows went.
        views: for a push source, the result of each view it feeds.
        push_id: the push's idempotency id (given by the caller, or made up for it).
        status: ``appended`` (the rows landed now) or ``duplicate`` (a push with this id
            already landed: nothing was appended again; its online write was redone by
            compare-and-set, which completes it if it had failed and changes nothing if not).
    """

    view: str
    rows: int
    written: int
    skipped_older: int
    dropped_late: int
    path: Path | None
    to: PushMode = PushMode.ONLINE_AND_OFFLINE
    views: tuple[PushResult, ...] = ()
    push_id: str | None = None
    status: str = APPENDED

    @classmethod
    def combine(cls, name: str, results: Sequence[PushResult]) -> PushResult:
        """One result for a push source, from the results of the views it feeds."""
        return cls(
            name,
            results[0].rows if results else 0,
            sum(r.written for r in results),
            sum(r.skipped_older for r in results),
            sum(r.dropped_late for r in results),
            None,
            results[0].to if results else PushMode.ONLINE_AND_OFFLINE,
            tuple(results),
            results[0].push_id if results else None,
            DUPLICATE if results and all(r.status == DUPLICATE for r in results) else APPENDED,
        )


def push_dir(data_dir: Path, view: str) -> Path:
    """Where pushed rows of ``view`` are kept."""
    return data_dir / PUSH_DIR / view


Rows: TypeAlias = pd.DataFrame | pa.Table | str | Path | Sequence[Mapping[str, Any]]


def push_rows(
    offline: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    rows: Rows,
    *,
    now: datetime | None = None,
    to: PushMode | str = PushMode.ONLINE_AND_OFFLINE,
    push_id: str | None = None,
) -> PushResult:
    """Validate ``rows`` against ``view``'s source, stamp them landed, append and/or write.

    ``push_id`` makes the push idempotent: a retry with the same id appends nothing and
    redoes the online write of the rows that landed (see :func:`_commit`).

    Raises:
        PushError: the view cannot take pushes, or a column is missing, unknown or mistyped.
    """
    mode = PushMode.parse(to)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    push_id = _push_id(push_id)
    schema = offline.source_schema(view)  # once per push: it reads every source/push file
    given = _as_table(rows, view.name, [schema])
    table = _prepare(offline, view, schema, given, mode, now)
    return _commit(offline, online, view, version, table, mode, now, push_id)


def push_to_views(
    offline: OfflineEngine,
    online: OnlineStore,
    name: str,
    views: Sequence[tuple[FeatureView, str]],
    rows: Rows,
    *,
    now: datetime | None = None,
    to: PushMode | str = PushMode.ONLINE_AND_OFFLINE,
    push_id: str | None = None,
) -> PushResult:
    """Push the rows of push source ``name`` to each of its ``(view, version)``: each view
    takes the columns its source has. Every view's rows are checked before any is written.

    Raises:
        PushError: a column no view has, or rows that do not fit a view (nothing written).
    """
    mode = PushMode.parse(to)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    push_id = _push_id(push_id)
    # Once per view and push: each reads the schemas of every source and push file.
    schemas = [offline.source_schema(view) for view, _ in views]
    table = _as_table(rows, f"push source {name!r}", schemas)
    known = {FEAST_CREATED, FEAST_EVENT}
    prepared = []
    for (view, version), schema in zip(views, schemas, strict=True):
        known |= set(schema.names)
        keep = [c for c in table.column_names if c in {*schema.names, FEAST_CREATED, FEAST_EVENT}]
        prepared.append(
            (view, version, _prepare(offline, view, schema, table.select(keep), mode, now))
        )
    unknown = [c for c in table.column_names if c not in known]
    if unknown:
        raise PushError(
            f"push to push source {name!r}: column(s) {unknown} belong to none of its views "
            f"({', '.join(v.name for v, _ in views)})"
        )
    results = [_commit(offline, online, v, ver, t, mode, now, push_id) for v, ver, t in prepared]
    return PushResult.combine(name, results)


def _prepare(
    offline: OfflineEngine,
    view: FeatureView,
    schema: pa.Schema,
    table: Columns,
    mode: PushMode,
    now: datetime,
) -> pa.Table:
    """The rows as the view's source types, with their created timestamps; or PushError."""
    source = view.source
    if not isinstance(source, ParquetSource):
        raise PushError(
            f"feature view {view.name!r}: push needs a ParquetSource (pushed rows are kept as "
            "Parquet next to it); this view reads a DuckDB table"
        )
    if source.created_timestamp is None and mode is not PushMode.ONLINE:
        raise PushError(
            f"feature view {view.name!r}: a push that lands offline needs a created_timestamp "
            "column (to record when pushed rows landed); add created_timestamp= to its source, "
            "or push with to='online'"
        )
    if mode is PushMode.ONLINE and isinstance(view, AggregationView):
        raise PushError(
            f"push to {view.name!r}: an aggregation view's online tiles are computed from its "
            "offline rows, so it cannot be pushed online only; push with to='online_and_offline'"
        )
    return _conform(table, schema, view, _partition_columns(offline, view), now)


def _push_id(push_id: str | None) -> str:
    if push_id is None:
        return uuid.uuid4().hex
    if not isinstance(push_id, str) or not 0 < len(push_id) <= MAX_PUSH_ID:
        raise PushError(f"push_id must be a non-empty string of at most {MAX_PUSH_ID} characters")
    return push_id


def _digest(table: pa.Table, created: str | None) -> str:
    """What the rows say, apart from when they landed: a retry must carry the same rows."""
    kept = table.drop_columns([created]) if created in table.column_names else table
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, kept.schema) as writer:
        writer.write_table(kept)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


class _IdRecord:
    """The record of one push id: which data file holds its rows, when they landed, and a
    digest of the rows. A JSON file under ``<push dir>/.ids/``, locked while held."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        raw = os.read(fd, 1 << 16)
        self.content: dict[str, Any] = json.loads(raw) if raw.strip() else {}

    def save(self) -> None:
        data = json.dumps(self.content).encode()
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, data)
        os.fsync(self._fd)


@contextmanager
def _id_record(folder: Path, push_id: str) -> Iterator[_IdRecord]:
    """The record of ``push_id`` in ``folder``, held under an exclusive ``flock``.

    The caller saves (fsync) the record naming the data file *before* putting the data file in
    place, which is atomic (``os.replace``): a crash between the two leaves a record naming a
    file that does not exist, and a retry writes it. So a data file never lands without its
    record, and a retry never appends the rows twice. The lock serializes pushes of one id
    across threads and processes.
    """
    ids = folder / IDS_DIR
    ids.mkdir(parents=True, exist_ok=True)
    path = ids / hashlib.sha256(push_id.encode()).hexdigest()[:32]
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if created:
        sync_dir(ids)  # the record's name survives a power loss, not only its content
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield _IdRecord(fd)
    finally:
        os.close(fd)  # releases the lock


def _commit(
    offline: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    table: pa.Table,
    mode: PushMode,
    now: datetime,
    push_id: str,
) -> PushResult:
    """Append the prepared rows offline and/or write them online, by ``mode``, once per id.

    Offline pushes record their id next to the data file (:func:`_id_record`): a retry of an
    id whose rows landed appends nothing and redoes the online write from the rows that
    landed, with their original created time, so it completes a write that failed (Redis was
    down) and changes nothing otherwise. An online-only push records its id in Redis after the
    write.
    """
    assert isinstance(view.source, ParquetSource)
    source = view.source
    dropped = offline.late_rows(view, table, source.event_timestamp, source.created_timestamp)
    digest = _digest(table, view.source.created_timestamp)
    result = functools.partial(
        PushResult, view.name, table.num_rows, dropped_late=dropped, to=mode, push_id=push_id
    )
    if mode is PushMode.ONLINE:
        seen = online.push_record(view.name, push_id)
        if seen is not None and seen != digest:
            raise PushError(
                f"push to {view.name!r}: push_id {push_id!r} was already used for other rows; "
                "a retry must send the same rows (or use a new id for new rows)"
            )
        if seen is not None:
            return result(written=0, skipped_older=0, path=None, status=DUPLICATE)
        staged = _append(table, offline.data_dir / STAGING_DIR / view.name, now)
        try:
            written, skipped = _write_online(offline, online, view, version, staged, now)
        finally:
            staged.unlink(missing_ok=True)
        online.record_push(view.name, push_id, digest)
        return result(written=written, skipped_older=skipped, path=None)
    folder = push_dir(offline.data_dir, view.name)
    with _id_record(folder, push_id) as record:
        landed = record.content
        if landed and landed.get("digest") != digest:
            raise PushError(
                f"push to {view.name!r}: push_id {push_id!r} was already used for other rows; "
                "a retry must send the same rows (or use a new id for new rows)"
            )
        path = folder / landed.get("file", _file_name(now))
        if landed and path.exists():
            status, now = DUPLICATE, datetime.fromisoformat(landed["now"])
        else:
            status = APPENDED
            record.content = {"file": path.name, "now": now.isoformat(), "digest": digest}
            record.save()  # before the data file: see _id_record
            _append(table, folder, now, name=path.name)
    if mode is PushMode.OFFLINE:
        return result(written=0, skipped_older=0, path=path, status=status)
    if isinstance(view, AggregationView):
        # The pushed keys' tiles are recomputed from the source (absolute values, never
        # increments) as the offline rule gives them at the push's as_of, whatever the rows'
        # created times: a retried or reordered push cannot count anything twice.
        as_of = online_as_of(now)
        tiles = tiles_at(offline, view, as_of, keys=table)
        keys, stale = online.write_tiles(view, version, as_of, tiles)
        return result(written=keys, skipped_older=stale, path=path, status=status)
    written, skipped = _write_online(offline, online, view, version, path, now)
    return result(written=written, skipped_older=skipped, path=path, status=status)


def online_as_of(now: datetime) -> datetime:
    """The one time at which a push evaluates the offline rule for its online values (plain
    and aggregation views alike): just after it landed, ``now + 1 µs``, so a value is online
    only when the offline rule at a read at or after the push would give it. A row not yet
    visible then (``availability_delay``, an event time after now) is not written by the push;
    a later materialization brings it online."""
    return now + _US


def _write_online(
    offline: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    version: str,
    path: Path,
    now: datetime,
) -> tuple[int, int]:
    """The offline rule over just the pushed rows in ``path`` at :func:`online_as_of`,
    compare-and-set online; returns (written, skipped as older)."""
    source = view.source
    assert isinstance(source, ParquetSource)
    pushed = dataclasses.replace(
        view, name=f"{view.name}__pushed", source=dataclasses.replace(source, path=str(path))
    )
    values = snapshot(offline, pushed, online_as_of(now))
    written = skipped = 0
    for batch in values:
        if batch.num_rows:
            stats = online.write(view, version, pa.Table.from_batches([batch]))
            written, skipped = written + stats.written, skipped + stats.skipped_older
    return written, skipped


class Columns:
    """Pushed columns as given: Arrow columns, or Python values from a list of dicts.

    Values from dicts stay Python values until the one conversion (:mod:`store.convert`)
    reads them as their source column's type: an inferred Arrow type would already have
    decided (``true`` as 1, ``"7"`` as text, ``2**63`` as an overflow) what the policy decides.
    """

    def __init__(self, columns: Mapping[str, pa.ChunkedArray | pa.Array | list[Any]]) -> None:
        self._columns = dict(columns)

    @property
    def column_names(self) -> list[str]:
        return list(self._columns)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def column(self, name: str) -> pa.ChunkedArray | pa.Array | list[Any]:
        return self._columns[name]

    def select(self, names: Sequence[str]) -> Columns:
        return Columns({n: self._columns[n] for n in names})

    def drop_columns(self, names: Sequence[str]) -> Columns:
        return Columns({n: c for n, c in self._columns.items() if n not in names})

    def rename_columns(self, names: Sequence[str]) -> Columns:
        return Columns(dict(zip(names, self._columns.values(), strict=True)))


def _as_table(rows: object, target: str, schemas: Sequence[pa.Schema]) -> Columns:
    if isinstance(rows, pd.DataFrame):
        rows = pa.Table.from_pandas(rows, preserve_index=False)
    if isinstance(rows, str | Path):
        rows = _read_file(Path(rows), target, schemas)
    if isinstance(rows, pa.Table):
        return Columns({name: rows.column(name) for name in rows.column_names})
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        if not all(isinstance(r, Mapping) for r in rows):
            raise PushError(f"push to {target!r}: every row must be a mapping of column to value")
        names = list(dict.fromkeys(name for r in rows for name in r))
        return Columns({name: [r.get(name) for r in rows] for name in names})
    raise PushError(
        f"push to {target!r}: rows must be a DataFrame, an Arrow table, a Parquet/CSV path "
        "or a list of dicts"
    )


def _read_file(path: Path, target: str, schemas: Sequence[pa.Schema]) -> pa.Table:
    if not path.is_file():
        raise PushError(f"push to {target!r}: file {path} not found")
    try:
        if path.suffix != ".csv":
            return pq.read_table(path)
        # CSV is text: every cell is read as text (an empty cell is null, a quoted "" is
        # the empty string) and then as its
        # source column's type by the one reading of text cells, convert.from_text.
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        as_text = pcsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,  # "" (quoted) is the empty string
        )
        text = pcsv.read_csv(path, convert_options=as_text)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise PushError(f"push to {target!r}: cannot read {path}: {exc}") from exc
    types = {f.name: f.type for schema in reversed(schemas) for f in schema}
    columns = {}
    for name in text.column_names:
        column = text.column(name)
        try:
            columns[name] = text_array(column, types[name]) if name in types else column
        except BadValue as exc:
            raise PushError(
                f"push to {target!r}: {path}: data row {exc.row + 1}: column {name!r} {exc.detail}"
            ) from None
    return pa.table(columns)


def _conform(
    table: Columns,
    schema: pa.Schema,
    view: FeatureView,
    partitions: set[str],
    now: datetime,
) -> pa.Table:
    source = view.source
    assert isinstance(source, ParquetSource)
    where = f"push to {view.name!r}"
    if table.num_rows == 0:
        raise PushError(f"{where}: no rows")
    created = source.created_timestamp
    if (
        created is None
        and FEAST_CREATED in table.column_names
        and FEAST_CREATED not in schema.names
    ):
        # online only (the caller checked): the source has no created column, so created =
        # event, as offline; Feast's writers send `created` all the same
        table = table.drop_columns([FEAST_CREATED])
    table = _feast_names(table, source.event_timestamp, created, schema)
    unknown = [c for c in table.column_names if c not in schema.names and c != created]
    if unknown:
        raise PushError(f"{where}: unknown column(s) {unknown}; the source has {schema.names}")
    columns: dict[str, pa.Array] = {}
    for field in schema:
        if created is not None and field.name == created:
            columns[created] = _created(table, created, field.type, now, where)
            continue
        if field.name not in table.column_names:
            if field.name in partitions:
                continue
            raise PushError(f"{where}: missing column {field.name!r} (a {field.type} column)")
        columns[field.name] = _cast(table.column(field.name), field, where)
    required = [*view.join_keys, source.event_timestamp]
    for name in required:
        nulls = columns[name].null_count
        if nulls:
            first = pc.index(pc.is_null(columns[name]), True).as_py()
            raise PushError(f"{where}: column {name!r} has {nulls} null(s), first at row {first}")
    return pa.table(columns)


def _feast_names(table: Columns, event: str, created: str | None, schema: pa.Schema) -> Columns:
    """Feast's writers name the event time ``event_timestamp`` and the created time
    ``created`` whatever the source calls them: read them as the source's columns."""
    names = list(table.column_names)
    for feast_name, ours in ((FEAST_EVENT, event), (FEAST_CREATED, created)):
        if ours is None:
            continue
        if feast_name in names and ours not in names and feast_name not in schema.names:
            names[names.index(feast_name)] = ours
    return table.rename_columns(names)


def _cast(col: pa.ChunkedArray | pa.Array | list[Any], field: pa.Field, where: str) -> pa.Array:
    """A pushed column as its source type, by the one conversion of user values."""
    try:
        return to_array(col, field.type)
    except BadValue as exc:
        raise PushError(f"{where}: row {exc.row}: column {field.name!r} {exc.detail}") from None


def _created(
    table: Columns, name: str, arrow_type: pa.DataType, now: datetime, where: str
) -> pa.Array:
    """The rows' created timestamps: theirs when given (null = now), else now."""
    if name not in table.column_names:
        return pa.array([now] * table.num_rows, arrow_type)
    given = _cast(table.column(name), pa.field(name, arrow_type), where)
    stamped = pc.fill_null(given, pa.scalar(now, arrow_type))
    latest = pc.max(stamped).as_py()
    if latest is not None and latest > now:
        first = pc.index(pc.greater(stamped, pa.scalar(now, arrow_type)), True).as_py()
        raise PushError(
            f"{where}: column {name!r} row {first} is {latest.isoformat()}, later than now "
            f"({now.isoformat()}): a row cannot have landed in the future"
        )
    return stamped.combine_chunks() if isinstance(stamped, pa.ChunkedArray) else stamped


def _partition_columns(offline: OfflineEngine, view: FeatureView) -> set[str]:
    """Hive partition columns come from folder names (``day=2026-11-01``), not from rows."""
    where = offline.source_files(view)
    if not where.hive:
        return set()
    root = Path(view.source.path)  # type: ignore[union-attr]
    root = root if root.is_absolute() else offline.repo / root
    return {
        part.split("=", 1)[0]
        for f in where.files
        if f.is_relative_to(root)
        for part in f.relative_to(root).parts[:-1]
        if "=" in part
    }


def _file_name(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}.parquet"


def _append(table: pa.Table, folder: Path, now: datetime, *, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or _file_name(now))
    tmp = folder / f".{path.name}.tmp"
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)  # readers see the whole file or none of it
    sync_dir(folder)  # and the rename survives a power loss
    return path


def sync_dir(folder: Path) -> None:
    """``fsync`` a directory, so the names created or renamed in it are durable (a file's own
    fsync covers its content, not its directory entry)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
