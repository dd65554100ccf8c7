"""Redis key layout: one hash per (project, entity key, feature view).

A key is ``p:{<project>|<entity key>}:<view>``. The ``{...}`` hash tag holds the project and
the entity key, so every view of one entity lives on the same Redis Cluster slot. The entity
key joins the view's join-key values, in the view's join-key order, with ``|``; each value is
written canonically so that distinct keys never share an encoding:

* int32 / int64 / timestamp (microseconds since the epoch): decimal, e.g. ``-42``;
* bool: ``1`` or ``0``;
* string: ``<utf-8 byte length>:<utf-8 bytes>``, so a ``|`` inside a value cannot be taken for
  a separator.

Project and view names are validated identifiers, so they cannot contain ``{``, ``}``, ``:``,
``|`` or glob characters. Per-project metadata (watermarks) lives under ``pm:{<project>}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.convert import BadValue, to_array, to_value
from store.errors import EntityFrameError
from store.online.codec import to_micros
from store.types import ValueType, check_name


def key_prefix(project: str) -> bytes:
    """The bytes every entity key of ``project`` starts with."""
    return b"p:{" + check_name(project, what="project").encode() + b"|"


def key_suffix(view: str) -> bytes:
    """The bytes every entity key of feature view ``view`` ends with."""
    return b"}:" + check_name(view, what="feature view").encode()


def view_pattern(project: str, view: str) -> str:
    """A SCAN MATCH pattern for every key of one view (names are validated identifiers)."""
    return f"p:{{{project}|*}}:{view}"


def meta_key(project: str) -> str:
    """The hash holding the project's per-view watermarks."""
    return f"pm:{{{check_name(project, what='project')}}}:watermarks"


def push_key(project: str, view: str, push_id: str) -> str:
    """The key recording an online-only push's idempotency id (hashed: ids are free text)."""
    digest = hashlib.sha256(push_id.encode()).hexdigest()[:32]
    project = check_name(project, what="project")
    return f"pm:{{{project}}}:push:{check_name(view, what='feature view')}:{digest}"


def encode_key_value(value: Any, vtype: ValueType, *, column: str, row: int) -> bytes:
    """Canonical bytes of one join-key value from an entity row.

    The value is converted by :func:`store.convert.to_value`, the one conversion of user values.

    Raises:
        EntityFrameError: naming the column and row when the value does not fit the type.
    """
    try:
        value = to_value(value, vtype, row=row)
    except BadValue as exc:
        raise EntityFrameError(f"entity row {row}: join key {column!r} {exc.detail}") from None
    if value is None:
        raise EntityFrameError(f"entity row {row}: join key {column!r} is null")
    scalar = vtype.scalar
    if scalar == "string":
        raw: bytes = value.encode()
        return str(len(raw)).encode() + b":" + raw
    if scalar == "bool":
        return b"1" if value else b"0"
    if scalar == "timestamp":
        return str(to_micros(value)).encode()
    return str(value).encode()


def entity_keys_from_rows(
    rows: Sequence[Mapping[str, Any]], join_keys: Mapping[str, ValueType]
) -> list[bytes]:
    """The encoded entity key of every row, for a view with ``join_keys``.

    Raises:
        EntityFrameError: a row is not a mapping, lacks a join-key column, or has a wrong type.
    """
    out: list[bytes] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EntityFrameError(f"entity row {i} must be a mapping of join key to value")
        parts = []
        for column, vtype in join_keys.items():
            if column not in row:
                raise EntityFrameError(
                    f"entity row {i}: missing join key {column!r} "
                    f"(the view needs {', '.join(join_keys)})"
                )
            parts.append(encode_key_value(row[column], vtype, column=column, row=i))
        out.append(b"|".join(parts))
    return out


def entity_keys_from_table(table: pa.Table, join_keys: Mapping[str, ValueType]) -> pa.Array:
    """The encoded entity key of every row of an Arrow table, as a binary array.

    Raises:
        EntityFrameError: a join-key column is missing, null somewhere, or of the wrong type.
    """
    parts: list[pa.Array] = []
    for column, vtype in join_keys.items():
        if column not in table.column_names:
            raise EntityFrameError(f"rows lack join key column {column!r}")
        col = table.column(column).combine_chunks()
        if col.null_count:
            row = int(np.flatnonzero(~col.is_valid().to_numpy(zero_copy_only=False))[0])
            raise EntityFrameError(f"row {row}: join key {column!r} is null")
        try:
            typed = to_array(col, vtype)
        except BadValue as exc:
            raise EntityFrameError(f"row {exc.row}: join key {column!r} {exc.detail}") from None
        parts.append(_encode_key_column(typed, vtype))
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar(b"|"))


def _encode_key_column(col: pa.Array, vtype: ValueType) -> pa.Array:
    if vtype.scalar == "string":
        raw = col.cast(pa.binary())
        lengths = pc.binary_length(raw).cast(pa.string()).cast(pa.binary())
        return pc.binary_join_element_wise(lengths, raw, pa.scalar(b":"))
    if vtype.scalar == "bool":
        return pc.if_else(col, pa.scalar(b"1"), pa.scalar(b"0"))
    if vtype.scalar == "timestamp":
        col = col.cast(pa.int64())
    return col.cast(pa.string()).cast(pa.binary())


def full_keys(prefix: bytes, entity_keys: pa.Array, suffix: bytes) -> list[bytes]:
    """``prefix + entity key + suffix`` for every entity key, as Python bytes."""
    joined = pc.binary_join_element_wise(
        pa.scalar(prefix), entity_keys, pa.scalar(suffix), pa.scalar(b"")
    )
    return joined.to_pylist()  # type: ignore[no-any-return]
