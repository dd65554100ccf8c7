"""``parity get --entity``: command-line text to typed values.

The command line only has text, so each ``name=value`` is first read as the column's declared
type (the join key's, or the on-demand request field's): ``42`` for an int, ``20.5`` or
``NaN`` for a float, ``true``/``false`` for a bool, JSON for a list; strings and ISO 8601
timestamps stay text. The result then goes through the same conversion as SDK entity rows
and HTTP requests (join keys: ``store.online.keys``; request data:
``store.ondemand.request_array``), which decides what is accepted. Nothing here widens it:
text that is not a number stays text, and that conversion refuses it with the column and row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from typing import Any

import typer

from store.types import ValueType

_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def parse_value(text: str, vtype: ValueType) -> Any:
    """One command-line value read as ``vtype`` (see the module docstring); ``null`` is null.
    Text that does not read as the type is returned unchanged, for the shared conversion to
    refuse with its message."""
    if text == "null":
        return None
    if vtype.is_list:
        try:
            return json.loads(text)
        except ValueError:
            return text
    scalar = vtype.scalar
    try:
        if scalar in ("int32", "int64"):
            return int(text)
        if scalar in ("float32", "float64"):
            return float(text)
    except ValueError:
        return text
    if scalar == "bool":
        return _BOOLS.get(text.lower(), text)
    return text


def parse_entity(item: str, types: Mapping[str, ValueType]) -> dict[str, Any]:
    """One ``--entity`` option: ``key=value[,key=value...]`` (a value with a comma in double
    quotes) -> an entity row of typed values.

    Raises:
        typer.BadParameter: not ``key=value`` pairs, or a column no requested view takes.
    """
    row: dict[str, Any] = {}
    for part in next(csv.reader([item], skipinitialspace=True), []):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(
                f"--entity {item!r}: use key=value[,key=value], e.g. "
                "user_id=1,merchant_id=3,amount=20.5"
            )
        if key not in types:
            raise typer.BadParameter(
                f"--entity {item!r}: {key!r} is no join key or request field of the requested "
                f"features; they take: {', '.join(types) or 'nothing'}"
            )
        row[key] = parse_value(value, types[key])
    return row
