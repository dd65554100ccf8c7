"""The manifest of a training frame: what produced it, and whether it can still be rebuilt.

It records the views (name, version, rule parameters), the features, every source file with
its size and modification time, the entity frame's size, the leakage counts and the build
time. :func:`manifest_still_valid` compares it with the repo as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from store.definitions import FeatureView
from store.errors import SourceError
from store.offline.engine import OfflineEngine
from store.registry import Definitions, FeatureRef

if TYPE_CHECKING:
    from store.offline.entity import EntityFrame


@dataclass(frozen=True)
class ViewStats:
    """Per-view counts over the entity rows of one request."""

    changed_vs_naive: int | None
    naive_too_late: int | None
    naive_not_landed: int | None
    unexplained: int | None
    too_late_and_not_landed: int | None
    beyond_watermark: int
    watermark: datetime | None


def parity_version() -> str:
    """The installed version of parity-store."""
    try:
        return metadata.version("parity-store")
    except metadata.PackageNotFoundError:
        return "unknown"


def _micros(value: object) -> int | None:
    from datetime import timedelta

    return None if value is None else int(value // timedelta(microseconds=1))  # type: ignore[operator]


def source_files(engine: OfflineEngine, view: FeatureView) -> list[dict[str, Any]]:
    """Each file a view reads, with size and modification time (ns)."""
    rows = []
    for path in engine.source_files(view).files:
        stat = path.stat()
        rows.append({"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return rows


def build_manifest(
    engine: OfflineEngine,
    views: list[FeatureView],
    refs: list[FeatureRef],
    frame: EntityFrame,
    stats: dict[str, ViewStats],
    full_feature_names: bool,
) -> dict[str, Any]:
    """The manifest of a training frame (JSON-able)."""
    entry: dict[str, Any] = {}
    for view in views:
        s = stats[view.name]
        entry[view.name] = {
            "version": view.version,
            "features": [r.feature for r in refs if r.view == view.name],
            "source": {"description": view.source.describe(), "spec": view.source.spec()},
            "files": source_files(engine, view),
            "rule": {
                "ttl_us": _micros(view.ttl),
                "allowed_lateness_us": _micros(view.allowed_lateness),
                "availability_delay_us": _micros(view.availability_delay),
            },
            # store.offline.plan.leakage_cause: the causes are exclusive (first that applies)
            # and add up to changed_vs_naive_join; the leakage audit counts the same way.
            "leakage": {
                "changed_vs_naive_join": s.changed_vs_naive,
                "naive_value_beyond_allowed_lateness": s.naive_too_late,
                "naive_value_not_yet_landed": s.naive_not_landed,
                "unexplained": s.unexplained,
                "beyond_allowed_lateness_and_not_yet_landed": s.too_late_and_not_landed,
            },
            "beyond_watermark": s.beyond_watermark,
            "watermark": None if s.watermark is None else s.watermark.isoformat(),
        }
    return {
        "parity_version": parity_version(),
        "built_at": datetime.now(UTC).isoformat(),
        "entity_frame": {
            "rows": frame.rows,
            "path": None if frame.path is None else str(frame.path),
            "columns": frame.columns,
        },
        "features": [{"view": r.view, "feature": r.feature, "output": r.output} for r in refs],
        "full_feature_names": full_feature_names,
        "rows": frame.rows,
        "views": entry,
    }


def manifest_still_valid(
    manifest: dict[str, Any], engine: OfflineEngine, defs: Definitions | None = None
) -> list[str]:
    """Reasons the frame can no longer be rebuilt bit for bit (empty list: it still can).

    Checks every source file (missing, new, size or mtime changed) and, given ``defs``, that
    each view still exists with the same version.
    """
    reasons: list[str] = []
    for name, entry in manifest.get("views", {}).items():
        if defs is not None:
            view = defs.views.get(name)
            if view is None:
                reasons.append(f"feature view {name!r} no longer exists")
                continue
            if view.version != entry["version"]:
                reasons.append(
                    f"feature view {name!r} changed: version {entry['version']} -> {view.version}"
                )
        else:
            view = None
        reasons += _file_reasons(name, entry["files"], engine, view)
    return reasons


def _file_reasons(
    name: str, files: list[dict[str, Any]], engine: OfflineEngine, view: FeatureView | None
) -> list[str]:
    reasons: list[str] = []
    for item in files:
        path = item["path"]
        try:
            from pathlib import Path

            stat = Path(path).stat()
        except OSError:
            reasons.append(f"feature view {name!r}: source file {path} is gone")
            continue
        if stat.st_size != item["size"] or stat.st_mtime_ns != item["mtime_ns"]:
            reasons.append(f"feature view {name!r}: source file {path} was modified")
    if view is not None:
        try:
            now = {str(p) for p in engine.source_files(view).files}
        except SourceError:
            now = set()
        new = sorted(now - {item["path"] for item in files})
        if new:
            reasons.append(f"feature view {name!r}: new source file(s) {', '.join(new)}")
    return reasons
