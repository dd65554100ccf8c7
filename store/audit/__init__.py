"""Audits of training–serving consistency and their reports.

``drift_audit`` compares feature distributions (baseline vs current); every audit returns an
``AuditReport`` that renders as JSON, self-contained HTML and a rich table, with an exit code.
"""

from __future__ import annotations

from store.audit.drift import drift_audit
from store.audit.report import AuditReport, DriftReport, FeatureResult, Histogram, Status
from store.audit.served import served_columns
from store.audit.thresholds import Thresholds
from store.audit.webhook import post_webhook

__all__ = [
    "AuditReport",
    "DriftReport",
    "FeatureResult",
    "Histogram",
    "Status",
    "Thresholds",
    "drift_audit",
    "post_webhook",
    "served_columns",
]
