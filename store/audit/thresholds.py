"""Per-feature drift thresholds: the levels at which a metric warns or alerts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from store.errors import AuditError


@dataclass(frozen=True)
class Thresholds:
    """Per-feature drift thresholds (defaults follow the spec: PSI 0.1 warn, 0.25 alert)."""

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    js_warn: float = 0.05
    js_alert: float = 0.15
    null_warn: float = 0.05
    null_alert: float = 0.2
    unseen_warn: float = 0.01
    unseen_alert: float = 0.05
    effect_warn: float = 0.1
    alpha: float = 0.01
    min_samples: int = 100
    n_bins: int = 10
    max_categories: int = 50
    int_category_max: int = 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or math.isnan(value) or value < 0:
                raise AuditError(f"Thresholds.{f.name} must be a number >= 0, got {value!r}")
        for metric in ("psi", "js", "null", "unseen"):
            warn, alert = getattr(self, f"{metric}_warn"), getattr(self, f"{metric}_alert")
            if warn > alert:
                raise AuditError(
                    f"Thresholds: {metric}_warn ({warn}) is above {metric}_alert ({alert}); "
                    "set warn <= alert"
                )

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, object], *, base: Thresholds | None = None, what: str = "drift"
    ) -> Thresholds:
        """Thresholds from a mapping such as a YAML block or view tags (``"0.2"`` is parsed).

        Keys not given keep their value from ``base`` (default: the defaults). An unknown key
        or a non-number is an :class:`AuditError` naming ``what``, the key and the fix.
        """
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise AuditError(f"{what}: unknown threshold(s) {unknown}; use any of {names}")
        parsed: dict[str, Any] = {}
        for key, raw in values.items():
            try:
                number = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise AuditError(f"{what}: threshold {key} must be a number, got {raw!r}") from exc
            if key in _COUNTS and not number.is_integer():
                raise AuditError(f"{what}: threshold {key} must be a whole number, got {raw!r}")
            parsed[key] = int(number) if key in _COUNTS else number
        return replace(base or cls(), **parsed)


_COUNTS = frozenset({"min_samples", "n_bins", "max_categories", "int_category_max"})
