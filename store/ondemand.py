"""Request-time (on-demand) features: a Python function of retrieved features and request data.

An :class:`OnDemandFeatureView` is declared once and applied by the same code
(:func:`transform`) to training frames (the whole frame at once, vectorised) and to online
responses (the requested entity rows at once), so both paths compute identical values::

    def amount_ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"amount_vs_24h_mean": df["amount"] / df["usd_mean_24h"]})

    ratio = OnDemandFeatureView(
        name="txn_ratio",
        sources=["user_txn_agg:usd_mean_24h"],
        request_fields=[Field("amount", "float64")],
        fields=[Field("amount_vs_24h_mean", "float64")],
        udf=amount_ratio,
    )

The function gets a pandas DataFrame with one column per source feature (its short name) and
per request field, and returns a DataFrame with (at least) the declared output columns, same
length and order. Request data are extra columns of the entity frame offline and extra keys of
the entity rows online. The version hashes the sources, fields and the function's source code.

Request data are converted to their declared types by :func:`request_array`, which is
:func:`store.convert.to_array`: the one conversion of user values every entry point uses (the
accepted values are listed there), whatever path the data came by (a training frame, SDK entity
rows, the feature server's JSON).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pandas as pd
import pyarrow as pa

from store.convert import BadValue, to_array
from store.definitions import Field
from store.errors import DefinitionError, RequestDataError
from store.types import check_name

Udf = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed at request time from other features and request data.

    Args:
        name: the view's name.
        sources: the input features, ``"view:feature"`` (or ``"view"``: all of it).
        fields: the output features (typed).
        udf: ``DataFrame -> DataFrame``, vectorised (see the module docstring).
        request_fields: request data the function needs (typed).
        description: free text.
    """

    name: str
    sources: Sequence[str]
    fields: Sequence[Field]
    udf: Udf
    request_fields: Sequence[Field] = ()
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, what="on-demand feature view")
        where = f"on-demand feature view {self.name!r}"
        if isinstance(self.sources, str) or not all(isinstance(s, str) for s in self.sources):
            raise DefinitionError(f"{where}: sources must be a list of 'view:feature' strings")
        if not self.sources:
            raise DefinitionError(f"{where}: needs at least one source feature")
        for what, group in (("fields", self.fields), ("request_fields", self.request_fields)):
            if not all(isinstance(f, Field) for f in group) or (what == "fields" and not group):
                raise DefinitionError(f"{where}: {what} must be a list of Field")
        if not callable(self.udf):
            raise DefinitionError(f"{where}: udf must be a function DataFrame -> DataFrame")
        names = [f.name for f in [*self.fields, *self.request_fields]]
        if len(set(names)) != len(names):
            raise DefinitionError(f"{where}: field and request field names must be distinct")
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "request_fields", tuple(self.request_fields))

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def spec(self) -> dict[str, Any]:
        """Everything that can change a value, including the function's source code."""
        try:
            code = inspect.getsource(self.udf)
        except (OSError, TypeError):
            code = getattr(getattr(self.udf, "__code__", None), "co_code", b"").hex()
        return {
            "name": self.name,
            "sources": list(self.sources),
            "fields": [{"name": f.name, "dtype": str(f.type)} for f in self.fields],
            "request_fields": [{"name": f.name, "dtype": str(f.type)} for f in self.request_fields],
            "udf_sha256": hashlib.sha256(code.encode()).hexdigest(),
        }

    @cached_property  # reads the function's source file: once per definition
    def version(self) -> str:
        """Content hash of :meth:`spec`."""
        blob = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def transform(
    view: OnDemandFeatureView,
    inputs: dict[str, pa.Array | pa.ChunkedArray],
    request: dict[str, Sequence[Any] | pa.Array | pa.ChunkedArray],
    n_rows: int,
) -> dict[str, pa.Array]:
    """Run the view's function over ``n_rows`` rows; the outputs cast to their types.

    Args:
        inputs: source feature (short name) -> values, typed as declared (so both paths
            hand the function identical pandas dtypes).
        request: request field -> values, converted by :func:`request_array`.

    Raises:
        RequestDataError: a request field is missing or a value does not fit its type.
        DefinitionError: the function failed or returned the wrong shape (names the view).
    """
    where = f"on-demand feature view {view.name!r}"
    data: dict[str, Any] = {}
    for name, values in inputs.items():
        data[name] = values.to_pandas()
    for f in view.request_fields:
        if f.name not in request:
            raise RequestDataError(
                f"{where} needs request data {f.name!r} ({f.type}): add it to the entity "
                "frame (offline) or to every entity row (online)",
                f.name,
            )
        data[f.name] = request_array(f, request[f.name], where=where).to_pandas()
    frame = pd.DataFrame(data, index=pd.RangeIndex(n_rows))
    try:
        out = view.udf(frame)
    except Exception as exc:
        raise DefinitionError(f"{where}: udf failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, pd.DataFrame) or len(out) != n_rows:
        raise DefinitionError(f"{where}: udf must return a DataFrame of {n_rows} rows")
    result: dict[str, pa.Array] = {}
    for f in view.fields:
        if f.name not in out.columns:
            raise DefinitionError(f"{where}: udf returned no column {f.name!r}")
        col = out[f.name]
        try:
            result[f.name] = pa.Array.from_pandas(col.to_numpy(), type=f.type.arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DefinitionError(f"{where}: udf column {f.name!r} is not {f.type}: {exc}") from exc
    return result


def request_array(
    field: Field, values: Sequence[Any] | pa.Array | pa.ChunkedArray, *, where: str = ""
) -> pa.Array:
    """Request data for ``field`` as an Arrow array of its declared type.

    The conversion is :func:`store.convert.to_array`, the one every entry point uses (for
    training frames, SDK entity rows and the feature server alike).

    Args:
        field: the request field (name and type).
        values: one value per entity row: an Arrow column, or Python / JSON values.
        where: what needs the data (the on-demand view), for error messages.

    Raises:
        RequestDataError: a value does not fit; names the field, the type, the row and value.
    """
    try:
        return to_array(values, field.type)
    except BadValue as exc:
        of = f" of {where}" if where else ""
        raise RequestDataError(
            f"entity row {exc.row}: request data {field.name!r}{of} {exc.detail}",
            field.name,
            exc.row,
        ) from None


__all__ = ["OnDemandFeatureView", "Udf", "request_array", "transform"]
