"""Prometheus metrics of one server process, kept in plain dicts and written as text by hand.

Everything is updated from the event loop thread, so no locks are needed. With several
workers each process keeps its own counters (Prometheus sums them across scrape targets).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable

from store.online_response import OnlineResponse, Status

BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Metrics:
    """Request counts and latencies by route, value statuses by view, store errors."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.statuses: Counter[tuple[str, str]] = Counter()
        self.entities = 0
        self.online_errors = 0

    def observe_request(self, method: str, route: str, code: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        self.requests[(method, route, str(code))] += 1
        buckets = self.latency.get(route)
        if buckets is None:
            buckets = self.latency[route] = [0] * (len(BUCKETS) + 1)
        buckets[bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds

    def observe_response(self, response: OnlineResponse) -> None:
        """Count the status of every value served, by feature view."""
        self.entities += len(response.entity_rows)
        for col in response.columns:
            present = col.statuses.count(Status.PRESENT)  # compares in C; hashing a member does not
            if present:
                self.statuses[(col.view, "PRESENT")] += present
            if present < len(col.statuses):
                for status, n in Counter(col.statuses).items():
                    if status != "PRESENT":
                        self.statuses[(col.view, str(status))] += n

    def render(self, extra: Iterable[tuple[str, str, str, float]] = ()) -> str:
        """The Prometheus text exposition (format 0.0.4).

        Args:
            extra: more ``(name, type, help, value)`` samples without labels.
        """
        out: list[str] = []
        out += _family("parity_requests_total", "counter", "HTTP requests by route and code.")
        for (method, route, code), n in sorted(self.requests.items()):
            out.append(f"parity_requests_total{_labels(method=method, route=route, code=code)} {n}")
        name = "parity_request_duration_seconds"
        out += _family(name, "histogram", "Request latency by route, in seconds.")
        for route, buckets in sorted(self.latency.items()):
            cumulative = 0
            for le, n in zip((*map(_num, BUCKETS), "+Inf"), buckets, strict=True):
                cumulative += n
                out.append(f"{name}_bucket{_labels(route=route, le=le)} {cumulative}")
            out.append(f"{name}_sum{_labels(route=route)} {_num(self.latency_sum[route])}")
            out.append(f"{name}_count{_labels(route=route)} {cumulative}")
        name = "parity_feature_values_total"
        out += _family(name, "counter", "Feature values served, by view and status.")
        for (view, status), n in sorted(self.statuses.items()):
            out.append(f"{name}{_labels(view=view, status=status)} {n}")
        samples = [
            ("parity_entities_total", "counter", "Entity rows served.", self.entities),
            (
                "parity_online_store_errors_total",
                "counter",
                "Requests that failed because the online store (Redis) was unreachable.",
                self.online_errors,
            ),
            *extra,
        ]
        for metric, kind, help_text, value in samples:
            out += _family(metric, kind, help_text)
            out.append(f"{metric} {_num(value)}")
        return "\n".join(out) + "\n"


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
