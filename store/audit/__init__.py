"""Audits of training–serving consistency and their reports.

``parity_audit`` diffs online values against the offline rule at the materialization time,
``replay_audit`` recomputes served values offline, ``drift_audit`` compares feature
distributions (baseline vs current), ``leakage_audit`` counts what the point-in-time guards
changed against a naive join, and ``schema_audit`` checks types and categories. Every audit
returns an ``AuditReport`` that renders as JSON, self-contained HTML and a rich table, with an
exit code.
"""

from __future__ import annotations

from store.audit.drift import drift_audit
from store.audit.leakage import leakage_audit
from store.audit.parity import parity_audit
from store.audit.replay import replay_audit
from store.audit.report import AuditReport, DriftReport, FeatureResult, Histogram, Status
from store.audit.schema import schema_audit
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
    "leakage_audit",
    "parity_audit",
    "post_webhook",
    "replay_audit",
    "schema_audit",
    "served_columns",
]
