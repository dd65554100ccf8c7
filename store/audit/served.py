"""The served-feature log, as columns the drift audit can compare with a training frame.

The log (``store.served_log.read_served_log``) is long: one row per request, entity row and
feature, with ``name``, ``status``, ``value_number`` (numbers and bools as float64) and
``value_string``. Drift needs one column per feature, typed as declared. A value the server
answered as null (``MISSING``, ``EXPIRED``, ``VERSION_MISMATCH``) stays null: the model saw a
null there, so it belongs in the null rate.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from store.errors import AuditError
from store.types import ValueType

REQUIRED = ("name", "value_number", "value_string")


def served_columns(
    log: pa.Table,
    features: Mapping[str, ValueType | str] | None = None,
    *,
    by: str = "name",
) -> dict[str, pa.ChunkedArray]:
    """Pivot the served log to ``feature -> column`` of that feature's served values.

    Args:
        log: the table ``read_served_log`` returns.
        features: which features and their types; default every name in the log, typed
            ``float64`` when only numbers were served, else ``string``.
        by: the log column that names a feature: ``name`` (the output column name, as in the
            training frame) or ``feature``.

    Returns:
        One column per feature (lengths differ: each holds the values served for it).

    Raises:
        AuditError: the table is not a served log, or a served value does not read as the
            declared type (the message names the feature).
    """
    missing = [c for c in (*REQUIRED, by) if c not in log.column_names]
    if missing:
        raise AuditError(f"served log is missing column(s) {missing}; pass read_served_log()")
    names = pc.unique(log.column(by)).to_pylist()
    wanted = features if features is not None else dict.fromkeys(n for n in names if n)
    out: dict[str, pa.ChunkedArray] = {}
    for name, declared in wanted.items():
        rows = log.filter(pc.equal(log.column(by), name))
        vtype = _type(declared, rows)
        try:
            out[name] = _typed(rows, vtype)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise AuditError(
                f"served log: feature {name!r} does not read as {vtype}: {exc}"
            ) from exc
    return out


def _type(declared: ValueType | str | None, rows: pa.Table) -> ValueType:
    if declared is not None:
        return ValueType.parse(declared, what="served feature")
    only_numbers = rows.column("value_string").null_count == rows.num_rows
    return ValueType("float64" if only_numbers else "string")


def _typed(rows: pa.Table, vtype: ValueType) -> pa.ChunkedArray:
    if vtype.is_list:
        return rows.column("value")
    if vtype.scalar == "string":
        return rows.column("value_string")
    if vtype.scalar == "timestamp":
        return rows.column("value_string").cast(vtype.arrow)
    return rows.column("value_number").cast(vtype.arrow)
