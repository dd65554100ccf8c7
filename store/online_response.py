"""What an online read returns: values with their status and event time, column by column.

Statuses (:class:`Status`): ``PRESENT`` the stored value of the view's current version within
its ttl; ``MISSING`` never written (or expired out of Redis); ``EXPIRED`` stored but
``now - event_ts > ttl`` (value withheld); ``VERSION_MISMATCH`` written by another version of
the view than the registry's current one (value withheld until the new version is
materialized).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.online.reader import ReadResult, Status
from store.registry import FeatureRef
from store.types import ValueType, to_pandas

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclass
class FeatureColumn:
    """One output feature across all requested entities."""

    name: str
    view: str
    feature: str
    version: str
    values: list[Any] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    event_timestamps: list[datetime | None] = field(default_factory=list)
    dtype: ValueType | None = None


@dataclass
class OnlineResponse:
    """The result of :meth:`store.FeatureStore.get_online_features`.

    Attributes:
        entity_rows: the requested entity keys, in request order.
        columns: one :class:`FeatureColumn` per requested feature, in request order.
        read_at: the time statuses were judged at (``now``).
    """

    entity_rows: list[dict[str, Any]]
    columns: list[FeatureColumn]
    read_at: datetime

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @classmethod
    def from_read(
        cls, result: ReadResult, refs: Sequence[FeatureRef], entity_rows: list[dict[str, Any]]
    ) -> OnlineResponse:
        """The online store's columns in request order, named by their output names."""
        columns = []
        for ref in refs:
            c = result.column(ref.view, ref.feature)
            columns.append(
                FeatureColumn(
                    ref.output,
                    c.view,
                    c.feature,
                    c.version,
                    c.values,
                    c.statuses,
                    c.event_ts,
                    c.dtype,
                )
            )
        return cls(entity_rows, columns, result.now)

    def to_dict(
        self, include_event_timestamps: bool = False, *, include_metadata: bool = False
    ) -> dict[str, list[Any]]:
        """Columns by name: join keys, then features.

        Args:
            include_event_timestamps: Feast's option: add ``name__ts``, each value's event
                time in epoch seconds (None where there is no value's event).
            include_metadata: add ``name__status`` and ``name__event_timestamp`` (datetimes).
        """
        out: dict[str, list[Any]] = {}
        for key in self.entity_rows[0] if self.entity_rows else {}:
            out[key] = [row[key] for row in self.entity_rows]
        for col in self.columns:
            out[col.name] = list(col.values)
            if include_event_timestamps:
                out[f"{col.name}__ts"] = [
                    None if t is None else int(t.timestamp()) for t in col.event_timestamps
                ]
            if include_metadata:
                out[f"{col.name}__status"] = [str(s) for s in col.statuses]
                out[f"{col.name}__event_timestamp"] = list(col.event_timestamps)
        return out

    def to_pandas(
        self, include_event_timestamps: bool = False, *, include_metadata: bool = False
    ) -> pd.DataFrame:
        """Columns as in :meth:`to_dict`; each feature keeps its declared type (an ``int64``
        feature with a missing value is ``Int64`` with ``<NA>``, as in a training frame)."""
        import pandas as pd
        import pyarrow as pa

        data = self.to_dict(include_event_timestamps, include_metadata=include_metadata)
        frame = pd.DataFrame(data)
        for col in self.columns:
            if col.dtype is not None:
                values = pa.array(col.values, col.dtype.arrow)
                frame[col.name] = to_pandas(values).array
        return frame

    def to_df(
        self, include_event_timestamps: bool = False, *, include_metadata: bool = False
    ) -> pd.DataFrame:
        """Feast's name for :meth:`to_pandas`."""
        return self.to_pandas(include_event_timestamps, include_metadata=include_metadata)

    def to_arrow(
        self, include_event_timestamps: bool = False, *, include_metadata: bool = False
    ) -> pa.Table:
        """The columns of :meth:`to_dict` as an Arrow table (one row per entity); each feature
        in its declared Arrow type."""
        import pyarrow as pa

        types = {c.name: c.dtype.arrow for c in self.columns if c.dtype is not None}
        data = self.to_dict(include_event_timestamps, include_metadata=include_metadata)
        return pa.table({name: pa.array(v, types.get(name)) for name, v in data.items()})

    def status_counts(self) -> dict[str, dict[str, int]]:
        """Per feature, how many values had each status."""
        counts: dict[str, dict[str, int]] = {}
        for col in self.columns:
            per = counts.setdefault(col.name, {})
            for status in col.statuses:
                per[str(status)] = per.get(str(status), 0) + 1
        return counts


__all__ = ["FeatureColumn", "OnlineResponse", "Status"]
