"""Compact, exact binary encoding of one feature value, as stored in a Redis hash field.

Every payload starts with a one-byte tag, so a value decodes without knowing its declared
type (an audit can read payloads written by any version)::

    n                      null
    i <int64 LE>           int32 / int64
    d <float64 LE>         float64, bit for bit (NaN payloads, ±inf, -0.0)
    f <float32 LE>         float32, bit for bit
    s <utf-8 bytes>        string
    T | F                  bool
    t <int64 LE>           timestamp: microseconds since the epoch, UTC
    l <tag> <u32 count> <u8 has_nulls> [validity bitmap, LSB first] <items>
                           list; fixed-width items packed, strings as u32 lengths then bytes

:func:`encode_column` encodes a whole Arrow column at once (materialization writes millions of
values; the per-value path would dominate its time).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.types import ValueType

NULL = b"n"
TRUE = b"T"
FALSE = b"F"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# scalar type -> (tag, struct format of one item, or "" when variable width / bool)
_SCALAR: dict[str, tuple[bytes, str]] = {
    "int32": (b"i", "q"),
    "int64": (b"i", "q"),
    "float64": (b"d", "d"),
    "float32": (b"f", "f"),
    "timestamp": (b"t", "q"),
    "string": (b"s", ""),
    "bool": (b"b", ""),
}
_ITEM_FORMAT = {b"i": "q", b"d": "d", b"f": "f", b"t": "q"}
_U32 = struct.Struct("<I")
_NUMPY = {b"i": "<i8", b"d": "<f8", b"f": "<f4", b"t": "<i8"}


class CodecError(ValueError):
    """A value does not match its declared type, or a payload is corrupt."""


def to_micros(value: Any) -> int:
    """Microseconds since the epoch of a datetime (naive = UTC) or pandas Timestamp."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - EPOCH) // _US)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[us]").astype(np.int64))
    raise CodecError(f"expected a datetime, got {value!r}")


def from_micros(micros: int) -> datetime:
    """The tz-aware UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def _scalar_item(value: Any, scalar: str) -> Any:
    """Check and normalise one non-null scalar to what ``struct`` packs."""
    if scalar in ("int32", "int64"):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise CodecError(f"expected an integer for {scalar}, got {value!r}")
        if scalar == "int32" and not -(2**31) <= int(value) < 2**31:
            raise CodecError(f"{value!r} does not fit int32")
        return int(value)
    if scalar in ("float64", "float32"):
        if isinstance(value, bool) or not isinstance(value, float | int | np.floating | np.integer):
            raise CodecError(f"expected a number for {scalar}, got {value!r}")
        return float(value)
    if scalar == "timestamp":
        return to_micros(value)
    if scalar == "string":
        if not isinstance(value, str):
            raise CodecError(f"expected a string, got {value!r}")
        return value.encode()
    if not isinstance(value, bool | np.bool_):
        raise CodecError(f"expected a bool, got {value!r}")
    return bool(value)


def encode(value: Any, vtype: ValueType) -> bytes:
    """Encode one value of type ``vtype`` (``None`` is null).

    Raises:
        CodecError: the value does not fit the type.
    """
    if value is None:
        return NULL
    if vtype.is_list:
        return _encode_list(value, vtype.scalar)
    tag, fmt = _SCALAR[vtype.scalar]
    item = _scalar_item(value, vtype.scalar)
    if fmt:
        try:
            return tag + struct.pack("<" + fmt, item)
        except struct.error as exc:
            raise CodecError(f"{value!r} does not fit {vtype}: {exc}") from None
    if tag == b"s":
        return tag + item  # type: ignore[no-any-return]
    return TRUE if item else FALSE


def _encode_list(values: Any, scalar: str) -> bytes:
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise CodecError(f"expected a list of {scalar}, got {values!r}")
    items = list(values)
    tag, fmt = _SCALAR[scalar]
    valid = [v is not None for v in items]
    head = b"l" + tag + _U32.pack(len(items))
    if all(valid):
        head += b"\x00"
    else:
        head += b"\x01" + np.packbits(np.array(valid, dtype=bool), bitorder="little").tobytes()
    normal = [_scalar_item(v, scalar) if v is not None else None for v in items]
    if fmt:
        zero = 0.0 if fmt in "df" else 0
        filled = [zero if v is None else v for v in normal]
        try:
            return head + struct.pack(f"<{len(filled)}{fmt}", *filled)
        except struct.error as exc:
            raise CodecError(f"list item does not fit {scalar}: {exc}") from None
    if tag == b"b":
        return head + bytes(1 if v else 0 for v in normal)
    raws: list[bytes] = [b"" if v is None else v for v in normal]
    lengths = struct.pack(f"<{len(raws)}I", *(len(r) for r in raws))
    return head + lengths + b"".join(raws)


def decode(payload: bytes) -> Any:
    """Decode a payload written by :func:`encode` back to its Python value.

    Raises:
        CodecError: the payload is empty or corrupt.
    """
    try:
        return _decode(payload)
    except (struct.error, IndexError, KeyError, UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"corrupt online payload {payload[:32]!r}: {exc}") from None


def _decode(payload: bytes) -> Any:
    return _DECODERS[payload[0]](payload)


def decode_many(payloads: list[bytes | None]) -> list[Any]:
    """Decode many payloads at once (None stays None): the read path's hot loop.

    Raises:
        CodecError: a payload is empty or corrupt.
    """
    decoders = _DECODERS
    try:
        return [None if p is None else decoders[p[0]](p) for p in payloads]
    except (struct.error, IndexError, KeyError, UnicodeDecodeError, ValueError):
        return [None if p is None else decode(p) for p in payloads]  # names the bad payload


_INT64 = struct.Struct("<q")
_FLOAT64 = struct.Struct("<d")
_FLOAT32 = struct.Struct("<f")


def _decode_list(payload: bytes) -> list[Any]:
    tag = payload[1:2]
    (count,) = _U32.unpack_from(payload, 2)
    pos = 7
    valid: list[bool] | None = None
    if payload[6]:
        nbytes = (count + 7) // 8
        bits = np.frombuffer(payload, dtype=np.uint8, count=nbytes, offset=pos)
        valid = np.unpackbits(bits, count=count, bitorder="little").astype(bool).tolist()
        pos += nbytes
    items: list[Any]
    if tag in _ITEM_FORMAT:
        items = list(struct.unpack_from(f"<{count}{_ITEM_FORMAT[tag]}", payload, pos))
        if tag == b"t":
            items = [from_micros(v) for v in items]
    elif tag == b"b":
        items = [b != 0 for b in payload[pos : pos + count]]
    elif tag == b"s":
        lengths = struct.unpack_from(f"<{count}I", payload, pos)
        pos += 4 * count
        items = []
        for n in lengths:
            items.append(payload[pos : pos + n].decode())
            pos += n
    else:
        raise ValueError(f"unknown list item tag {tag!r}")
    if valid is not None:
        items = [v if ok else None for v, ok in zip(items, valid, strict=True)]
    return items


_DECODERS: dict[int, Callable[[bytes], Any]] = {
    ord("n"): lambda p: None,
    ord("i"): lambda p: _INT64.unpack_from(p, 1)[0],
    ord("d"): lambda p: _FLOAT64.unpack_from(p, 1)[0],
    ord("f"): lambda p: _FLOAT32.unpack_from(p, 1)[0],
    ord("s"): lambda p: p[1:].decode(),
    ord("T"): lambda p: True,
    ord("F"): lambda p: False,
    ord("t"): lambda p: from_micros(_INT64.unpack_from(p, 1)[0]),
    ord("l"): _decode_list,
}


def encode_column(column: pa.Array | pa.ChunkedArray, vtype: ValueType) -> list[bytes]:
    """Encode every value of an Arrow column; same bytes as :func:`encode` per value.

    Raises:
        CodecError: the column's Arrow type cannot hold ``vtype`` values.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    try:
        column = column.cast(vtype.arrow)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise CodecError(f"column of type {column.type} cannot be read as {vtype}: {exc}") from None
    if vtype.is_list:
        return [encode(v, vtype) for v in column.to_pylist()]
    tag, _ = _SCALAR[vtype.scalar]
    if tag == b"b":
        out = [TRUE if v else FALSE for v in column.fill_null(False).to_numpy(zero_copy_only=False)]
    elif tag == b"s":
        joined = pc.binary_join_element_wise(
            pa.scalar(b"s"), column.cast(pa.binary()), pa.scalar(b"")
        )
        out = joined.to_pylist()
    elif vtype.scalar == "int32":
        out = _fixed_width(column.cast(pa.int64()), tag)
    else:
        out = _fixed_width(column, tag)
    if column.null_count:
        for i in np.flatnonzero(~column.is_valid().to_numpy(zero_copy_only=False)).tolist():
            out[i] = NULL
    return out


def _fixed_width(column: pa.Array, tag: bytes) -> list[bytes]:
    dtype = np.dtype(_NUMPY[tag])
    # Read the data buffer itself: any conversion (to_numpy with nulls, fill_null) may
    # canonicalise NaN payloads, and float64 must round-trip bit for bit.
    raw = np.frombuffer(column.buffers()[1], dtype=dtype, count=column.offset + len(column))[
        column.offset :
    ]
    packed = np.empty(len(raw), dtype=[("tag", "u1"), ("value", dtype)])
    packed["tag"] = tag[0]
    packed["value"] = raw
    encoded: list[bytes] = packed.view(f"V{1 + dtype.itemsize}").tolist()
    return encoded
