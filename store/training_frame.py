"""TrainingFrame: the result of a point-in-time join, with the manifest that explains it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.types import to_pandas

MANIFEST_KEY = b"parity.manifest"


@dataclass
class TrainingFrame:
    """Entity rows (in their original order) joined with features.

    Either held in memory (``table``) or streamed to a Parquet file (``path``) whose key-value
    metadata holds the manifest under ``parity.manifest``.

    Attributes:
        manifest: views and versions, features, source files, rule parameters, row counts,
            leakage counts, build time and parity version.
        beyond_watermark: per view, how many entity rows ask about a time later than anything
            the source has ingested (greatest created_ts).
    """

    table: pa.Table | None
    path: Path | None
    manifest: dict[str, Any]
    beyond_watermark: dict[str, int] = field(default_factory=dict)

    def to_arrow(self) -> pa.Table:
        """The frame as an Arrow table (read from ``path`` when it was streamed to disk)."""
        if self.table is not None:
            return self.table
        assert self.path is not None
        table: pa.Table = pq.read_table(self.path)
        return table.replace_schema_metadata(None)

    def to_pandas(self) -> pd.DataFrame:
        """The frame as a pandas DataFrame; every feature keeps its declared type.

        An ``int64`` feature is ``Int64`` (``<NA>`` where there is no value, never float64),
        ``bool`` is ``boolean``, a list keeps its element type; the entity frame's own columns
        come back as they were given (see :func:`store.types.to_pandas`).
        """
        df: pd.DataFrame = to_pandas(self.to_arrow())
        return df

    def to_df(self) -> pd.DataFrame:
        """Feast's name for :meth:`to_pandas` (a retrieval job's ``to_df``)."""
        return self.to_pandas()

    def to_parquet(self, path: str | Path) -> Path:
        """Write the frame to ``path`` with the manifest in the file's metadata."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        table = self.to_arrow()
        meta = dict(table.schema.metadata or {})
        meta[MANIFEST_KEY] = json.dumps(self.manifest, sort_keys=True, default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), target)
        return target

    @property
    def num_rows(self) -> int:
        if self.table is not None:
            return int(self.table.num_rows)
        assert self.path is not None
        return int(pq.ParquetFile(self.path).metadata.num_rows)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest stored in a training frame's Parquet file."""
    meta = pq.read_schema(path).metadata or {}
    if MANIFEST_KEY not in meta:
        raise ValueError(f"{path} has no parity manifest in its metadata")
    data: dict[str, Any] = json.loads(meta[MANIFEST_KEY])
    return data
