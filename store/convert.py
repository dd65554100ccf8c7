"""The one conversion of user values to declared types, for every entry point.

Join keys and request data of reads (SDK, CLI, HTTP), pushed rows (SDK, HTTP, Parquet/CSV
files) and training-frame request columns all reach a typed column through
:func:`to_array` (many values) or :func:`to_value` (one), with one policy:

* ``int32`` / ``int64`` (and any narrower Arrow integer of a source): integers; a float only
  when it is exactly an integer (``7.0`` → ``7``; ``7.5`` is refused, never truncated); never a
  boolean, never a string (``"7"`` is refused); out of the type's range (``2**63`` for int64)
  is refused, not wrapped;
* ``float32`` / ``float64``: numbers; an integer only when the float holds it exactly (``2**53
  + 1`` is refused for float64); the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (how
  protobuf's JSON, and so Feast, writes non-finite floats); a float32 out of range is refused,
  not made infinite; never a boolean;
* ``string``: strings only; ``bool``: booleans only;
* ``timestamp``: datetimes (naive = UTC, aware converted), dates (midnight UTC), or ISO 8601
  strings such as ``"2026-11-21T10:00:00Z"``; a bare number is refused, since epoch seconds and
  microseconds cannot be told apart;
* ``list<T>``: lists (or tuples, arrays) of the above, items may be null;
* null (``None``, pandas' ``NA``/``NaT``) for any type; a float NaN only where the type is a
  float (NaN in an int column is refused, not taken for null).

An Arrow column (a DataFrame, a Parquet file) whose type converts without loss is cast in one
go, checked (Arrow's safe cast refuses ``7.5`` → int and overflow); a column of another kind
(bool for an int, string for a number, a number for a timestamp) or a value the safe cast
refuses goes value by value, so the error names the row.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from store.types import ValueType

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_FRACTION = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}[.,]([0-9]+)")
_SUB_MICRO = (
    "finer than a microsecond: timestamps are stored to the microsecond; round the value "
    "(e.g. pandas' .dt.floor('us')) before handing it in"
)
_BOOL_TEXT = {"true": True, "false": False}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_repr = reprlib.Repr()  # a bad value is quoted in the error, cut short
_repr.maxstring, _repr.maxother, _repr.maxlist = 60, 60, 6

Target: TypeAlias = ValueType | pa.DataType


class BadValue(ValueError):
    """A value that does not fit its column's type.

    Attributes:
        row: the 0-based row of the value.
        detail: ``must be <type> [<accepted>], got <value> (<py type>)[: why]``;
            callers prefix it with what the column is (join key, request data, pushed column).
    """

    def __init__(self, row: int, detail: str) -> None:
        super().__init__(f"row {row}: {detail}")
        self.row = row
        self.detail = detail


class _Mismatch(ValueError):
    """One value does not fit (the message says why, or is empty)."""


def to_array(values: Sequence[Any] | pa.Array | pa.ChunkedArray, target: Target) -> pa.Array:
    """``values`` as an Arrow array of ``target`` (a declared type or a source's Arrow type).

    Raises:
        BadValue: naming the first row whose value does not fit.
    """
    arrow = target.arrow if isinstance(target, ValueType) else target
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        cast = _cast_whole(values, arrow)
        if cast is not None:
            return cast
        values = values.to_pylist()
    out: list[Any] = []
    for row, value in enumerate(values):
        try:
            out.append(_convert(value, arrow))
        except _Mismatch as exc:
            raise BadValue(row, _detail(value, arrow, exc)) from None
    try:
        return pa.array(out, arrow)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as exc:
        raise BadValue(0, f"cannot be stored as {arrow}: {exc}") from None


def to_value(value: Any, target: Target, *, row: int = 0) -> Any:
    """One value converted to what ``pa.array`` takes for ``target`` (None for null).

    Integers come back as ``int``, floats as ``float``, timestamps as UTC ``datetime``.

    Raises:
        BadValue: naming ``row``, when the value does not fit.
    """
    arrow = target.arrow if isinstance(target, ValueType) else target
    try:
        return _convert(value, arrow)
    except _Mismatch as exc:
        raise BadValue(row, _detail(value, arrow, exc)) from None


def from_text(text: str | None, target: Target, *, row: int = 0) -> Any:
    """One text cell (a CSV cell, a ``parity get -e key=value`` value) read as ``target``.

    Text has no types, so this is the one reading of text as a declared type; what it reads
    then goes through the same conversion as any other value (:func:`to_value`):

    * ``None`` is null (the caller decides which text means null: an empty CSV cell, ``null``
      on the command line);
    * integers: decimal digits (``7``, ``-3``) or a decimal number that is exactly a whole
      number (``7.0``, ``1e3``); ``7.5``, ``NaN``, ``N/A`` are refused, never taken for null;
    * floats: a decimal number (``20.5``, ``1e-3``), or ``NaN``, ``Infinity``, ``-Infinity``;
      a number beyond float64's range is refused, not made infinite;
    * ``bool``: ``true`` or ``false`` (any case); ``1``/``0`` are refused;
    * ``timestamp``: ISO 8601 (``2026-01-01 00:00:00`` or ``2026-01-01T00:00:00Z``;
      naive = UTC);
    * ``string``: the text as it is; ``list<T>``: a JSON array.

    Raises:
        BadValue: naming ``row``, when the text does not read as ``target``.
    """
    arrow = target.arrow if isinstance(target, ValueType) else target
    try:
        return _convert(_read_text(text, arrow), arrow)
    except _Mismatch as exc:
        raise BadValue(row, _detail(text, arrow, exc)) from None


def text_array(
    texts: Sequence[str | None] | pa.Array | pa.ChunkedArray, target: Target
) -> pa.Array:
    """A column of text cells (:func:`from_text` each) as an Arrow array of ``target``.

    Raises:
        BadValue: naming the first row whose text does not read as ``target``.
    """
    arrow = target.arrow if isinstance(target, ValueType) else target
    if isinstance(texts, pa.ChunkedArray | pa.Array):
        texts = texts.to_pylist()
    values = [from_text(text, arrow, row=row) for row, text in enumerate(texts)]
    return to_array(values, arrow)


def _read_text(text: str | None, arrow: pa.DataType) -> Any:
    """Text as the Python value :func:`_convert` takes for ``arrow`` (see :func:`from_text`)."""
    if text is None:
        return None
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        try:
            return json.loads(text, parse_constant=_NONFINITE.__getitem__)
        except ValueError:
            raise _Mismatch("not a JSON array") from None
    if pa.types.is_integer(arrow):
        return _integer_text(text)
    if pa.types.is_floating(arrow):
        return _float_text(text, arrow)
    if pa.types.is_boolean(arrow):
        if text.lower() not in _BOOL_TEXT:
            raise _Mismatch("use true or false")
        return _BOOL_TEXT[text.lower()]
    return text  # strings, ISO 8601 timestamps: the conversion reads them


def _integer_text(text: str) -> int:
    if _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if not _NUMBER_TEXT.fullmatch(text):
        raise _Mismatch("not a number")
    number = Decimal(text)
    if number != number.to_integral_value():
        raise _Mismatch("not a whole number (never truncated)")
    return int(number)


def _float_text(text: str, arrow: pa.DataType) -> float:
    if text in _NONFINITE:
        return _NONFINITE[text]
    if not _NUMBER_TEXT.fullmatch(text):
        raise _Mismatch("not a number")
    number = float(text)
    if math.isinf(number):
        raise _Mismatch(f"out of the {type_name(arrow)} range")
    return number


def convert_rows(
    rows: Sequence[Mapping[str, Any]], types: Mapping[str, Target]
) -> tuple[list[dict[str, Any]], int, str]:
    """Rows (e.g. logged requests) with the ``types`` columns converted; rows with a value that
    does not fit are left out.

    Returns:
        The converted rows, how many were left out, and the first problem in words.
    """
    out: list[dict[str, Any]] = []
    bad, first = 0, ""
    for i, row in enumerate(rows):
        try:
            out.append({**row, **{c: to_value(row[c], t, row=i) for c, t in types.items()}})
        except BadValue as exc:
            bad += 1
            if not first:
                column = next(c for c, t in types.items() if not _fits(row[c], t))
                first = f"{column!r} {exc.detail}"
    return out, bad, first


def _fits(value: Any, target: Target) -> bool:
    try:
        to_value(value, target)
    except BadValue:
        return False
    return True


def expected(target: Target) -> str:
    """What values ``target`` accepts, in words (for error messages and docs)."""
    arrow = target.arrow if isinstance(target, ValueType) else target
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return f"a list of items each null or {expected(arrow.value_type)}"
    if pa.types.is_integer(arrow):
        return "an integer (or a float that is exactly one)"
    if pa.types.is_floating(arrow):
        return "a number, 'NaN', 'Infinity' or '-Infinity'"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return "a string"
    if pa.types.is_boolean(arrow):
        return "a boolean"
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return "a datetime or an ISO 8601 string such as '2026-11-21T10:00:00Z' (naive = UTC)"
    return f"a {arrow} value"


def type_name(arrow: pa.DataType) -> str:
    """The declared-type name of an Arrow type where there is one (``int64``, ``list<T>``)."""
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return f"list<{type_name(arrow.value_type)}>"
    names = {
        pa.int32(): "int32",
        pa.int64(): "int64",
        pa.float32(): "float32",
        pa.float64(): "float64",
        pa.string(): "string",
        pa.bool_(): "bool",
    }
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    return names.get(arrow, str(arrow))


def _detail(value: Any, arrow: pa.DataType, exc: _Mismatch) -> str:
    why = f": {exc}" if str(exc) else ""
    return (
        f"must be {type_name(arrow)} [{expected(arrow)}], "
        f"got {_repr.repr(value)} ({type(value).__name__}){why}"
    )


def _cast_whole(values: pa.Array, arrow: pa.DataType) -> pa.Array | None:
    """The column cast in one go when its kind converts without loss, else None."""
    if not _castable(arrow, values.type):
        return None
    try:
        cast = values.cast(arrow)  # safe: refuses truncation and overflow
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    source, result = values, cast
    while pa.types.is_list(result.type) or pa.types.is_large_list(result.type):
        source, result = source.flatten(), result.flatten()  # list items, checked the same
    if pa.types.is_float32(result.type) and not pa.types.is_float32(source.type):
        # Arrow rounds a float64 beyond float32's range to infinity: check value by value.
        finite_in = np.isfinite(source.to_numpy(zero_copy_only=False).astype(np.float64))
        finite_out = np.isfinite(result.to_numpy(zero_copy_only=False).astype(np.float64))
        if bool(np.any(finite_in & ~finite_out)):
            return None
    return cast


def _castable(arrow: pa.DataType, actual: pa.DataType) -> bool:
    """Whether an Arrow column of type ``actual`` is of a kind ``arrow`` may take."""
    if pa.types.is_null(actual):
        return True
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
            return False
        return _castable(arrow.value_type, actual.value_type)
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_integer(arrow) or pa.types.is_floating(arrow):
        return bool(pa.types.is_integer(actual) or pa.types.is_floating(actual))
    if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
        return bool(pa.types.is_timestamp(actual) or pa.types.is_date(actual))
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return bool(pa.types.is_string(actual) or pa.types.is_large_string(actual))
    if pa.types.is_boolean(arrow):
        return bool(pa.types.is_boolean(actual))
    return bool(actual == arrow)


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT


def _convert(value: Any, arrow: pa.DataType) -> Any:
    if _is_null(value):
        return None
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return _list(value, arrow.value_type)
    if pa.types.is_integer(arrow):
        return _integer(value, arrow)
    if pa.types.is_floating(arrow):
        return _float(value, arrow)
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        if not isinstance(value, str):
            raise _Mismatch("")
        return str(value)
    if pa.types.is_boolean(arrow):
        if not isinstance(value, bool | np.bool_):
            raise _Mismatch("")
        return bool(value)
    if pa.types.is_timestamp(arrow):
        return _timestamp(value)
    if pa.types.is_date(arrow):
        stamp = _timestamp(value)
        return None if stamp is None else stamp.date()
    return value  # another Arrow type of a source (decimal, struct...): Arrow decides


def _list(value: Any, item: pa.DataType) -> list[Any]:
    if not isinstance(value, list | tuple | np.ndarray):
        raise _Mismatch("")
    out = []
    for i, element in enumerate(value):
        try:
            out.append(_convert(element, item))
        except _Mismatch as exc:
            why = f": {exc}" if str(exc) else ""
            raise _Mismatch(
                f"item {i} is {_repr.repr(element)} ({type(element).__name__}){why}"
            ) from None
    return out


def _integer(value: Any, arrow: pa.DataType) -> int:
    if isinstance(value, bool | np.bool_):
        raise _Mismatch("a boolean is not an integer")
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise _Mismatch(f"{value} is not an integer")
        if not float(value).is_integer():
            raise _Mismatch("not a whole number (never truncated)")
        value = int(value)
    if not isinstance(value, int | np.integer):
        raise _Mismatch("")
    info = np.iinfo(arrow.to_pandas_dtype())
    if not int(info.min) <= int(value) <= int(info.max):
        raise _Mismatch(f"out of the {type_name(arrow)} range [{info.min}, {info.max}]")
    return int(value)


def _float(value: Any, arrow: pa.DataType) -> float:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, bool | np.bool_):
        raise _Mismatch("a boolean is not a number")
    if not isinstance(value, int | float | np.integer | np.floating):
        raise _Mismatch("")
    try:
        number = float(value)
    except OverflowError:
        raise _Mismatch(f"out of the {type_name(arrow)} range") from None
    single = pa.types.is_float32(arrow) or pa.types.is_float16(arrow)
    if isinstance(value, int | np.integer):
        held = float(np.float32(number)) if single else number
        if int(held) != int(value):
            raise _Mismatch(f"not exactly representable as {type_name(arrow)}")
    if single and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise _Mismatch("out of the float32 range")
    return number


def _to_python_time(value: Any) -> Any:
    """An ISO string, a NumPy or pandas time as a Python datetime (None for NaT); else as is.

    Timestamps are microseconds everywhere: a finer value is refused, never truncated."""
    if isinstance(value, str):
        fraction = _FRACTION.search(value)
        if fraction and fraction.group(1)[6:].strip("0"):
            raise _Mismatch(_SUB_MICRO)  # Python would drop the digits silently
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise _Mismatch("not an ISO 8601 timestamp") from None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        micro = value.astype("datetime64[us]")
        if micro != value:
            raise _Mismatch(_SUB_MICRO)
        return micro.item()  # a datetime when in its range
    if isinstance(value, pd.Timestamp):
        if value.nanosecond:
            raise _Mismatch(_SUB_MICRO)
        return value.to_pydatetime()
    return value


def _timestamp(value: Any) -> datetime | None:
    value = _to_python_time(value)
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise _Mismatch("out of the timestamp range") from None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float | np.integer | np.floating):
        raise _Mismatch("a number is refused: epoch seconds or microseconds cannot be told apart")
    raise _Mismatch("")


__all__ = [
    "BadValue",
    "convert_rows",
    "expected",
    "from_text",
    "text_array",
    "to_array",
    "to_value",
    "type_name",
]
