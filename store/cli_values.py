"""``parity get --entity``: command-line text to typed values.

The command line only has text, so each ``name=value`` is read as the column's declared
type (the join key's, or the on-demand request field's) by the same reading as CSV cells,
:func:`store.convert.from_text`: ``42`` (or ``42.0``) for an int, ``20.5`` or ``NaN`` for a
float, ``true``/``false`` for a bool, JSON for a list, ISO 8601 for a timestamp (naive =
UTC); ``null`` is null. Text that does not read as the type is refused here, naming the key.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any

import typer

from store.convert import BadValue, from_text
from store.types import ValueType


def parse_value(text: str, vtype: ValueType, *, key: str = "value") -> Any:
    """One command-line value read as ``vtype`` by the one reading of text cells
    (:func:`store.convert.from_text`); ``null`` is null.

    Raises:
        typer.BadParameter: the text does not read as ``vtype``.
    """
    if text == "null":
        return None
    try:
        return from_text(text, vtype)
    except BadValue as exc:
        raise typer.BadParameter(f"{key!r}: {exc.detail}") from None


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
        row[key] = parse_value(value, types[key], key=key)
    return row
