"""Prometheus metrics: the one place their names, labels and buckets are defined.

With several server processes (`serve --workers N`) each writes its samples to files in
PROMETHEUS_MULTIPROC_DIR and `/metrics` merges them (prometheus_client's multiprocess
mode); `serve` sets that directory, per run, before any worker starts. Whether a value is
shared is decided when prometheus_client is first imported, so nothing here decides it.

The hot path looks up an already-labelled child in a dict (`_child`) instead of calling
`.labels()` (which validates and joins the label values every time): one dict lookup and
one mmap write per sample. Job counts are not counted as they change but read from the
store when Prometheus scrapes (`JobSnapshot`), so they are right across every process and
instance and cost nothing per request.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

# No `_created` series: they double the scrape's size and no query here needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Request latency: a direct retrieve is ~1 ms, a create tens of ms, an inline poll up to the
# provider's timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)

HTTP_REQUESTS = Counter(
    "videogate_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ("method", "route", "status"),
)
HTTP_LATENCY = Histogram(
    "videogate_http_request_duration_seconds",
    "Time from request to the end of the response, by method, route template and status.",
    ("method", "route", "status"),
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_REQUESTS = Counter(
    "videogate_upstream_requests_total",
    "Calls to providers' APIs, by provider, model and outcome (HTTP status or error kind).",
    ("provider", "model", "outcome"),
)
UPSTREAM_LATENCY = Histogram(
    "videogate_upstream_request_duration_seconds",
    "Duration of calls to providers' APIs, by provider and model.",
    ("provider", "model"),
    buckets=UPSTREAM_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "videogate_upstream_errors_total",
    "Provider calls that failed (non-2xx, timeout, unreachable, bad body), by error code.",
    ("provider", "model", "code"),
)
POLL_LAG = Histogram(
    "videogate_worker_poll_lag_seconds",
    "How late the worker picked up a due job (now minus its next_poll_at).",
    ("kind",),
    buckets=LAG_BUCKETS,
)
WORKER_STEPS = Counter(
    "videogate_worker_steps_total",
    "Jobs the worker handled, by kind (poll, mirror) and outcome (ok, crashed, timeout).",
    ("kind", "outcome"),
)
MIRROR_BYTES = Counter(
    "videogate_mirror_bytes_total", "Bytes copied into the asset store, by provider.", ("provider",)
)
MIRROR_FAILURES = Counter(
    "videogate_mirror_failures_total", "Failed mirror attempts, by provider.", ("provider",)
)
WEBHOOK_DELIVERIES = Counter(
    "videogate_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, retrying, failed).",
    ("outcome",),
)
SPEND = Counter(
    "videogate_spend_dollars_total",
    "Dollars charged for settled jobs, by provider and model.",
    ("provider", "model"),
)
CACHE_HITS = Counter(
    "videogate_cache_hits_total", "Creates answered from the cache, by kind.", ("kind",)
)
LIMIT_REFUSALS = Counter(
    "videogate_limit_refusals_total",
    "Requests refused by a governance limit, by type (budget, rpm, active, vsec).",
    ("type",),
)
HEARTBEAT_AGE = "videogate_worker_heartbeat_age_seconds"

_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, made once per label set (the hot path's dict lookup)."""
    key = (id(metric), *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def request_done(method: str, route: str, status: int, seconds: float) -> None:
    code = str(status)
    _child(HTTP_REQUESTS, method, route, code).inc()
    _child(HTTP_LATENCY, method, route, code).observe(seconds)


def upstream_done(provider: str, model: str, outcome: str, seconds: float) -> None:
    _child(UPSTREAM_REQUESTS, provider, model, outcome).inc()
    _child(UPSTREAM_LATENCY, provider, model).observe(seconds)


def upstream_failed(provider: str, model: str, code: str) -> None:
    _child(UPSTREAM_ERRORS, provider, model, code).inc()


def poll_lag(kind: str, seconds: float) -> None:
    _child(POLL_LAG, kind).observe(max(0.0, seconds))


def worker_step(kind: str, outcome: str) -> None:
    _child(WORKER_STEPS, kind, outcome).inc()


def mirrored(provider: str, nbytes: int) -> None:
    _child(MIRROR_BYTES, provider).inc(nbytes)


def mirror_failed(provider: str) -> None:
    _child(MIRROR_FAILURES, provider).inc()


def webhook_attempt(outcome: str) -> None:
    _child(WEBHOOK_DELIVERIES, outcome).inc()


def spent(provider: str, model: str, dollars: float) -> None:
    if dollars > 0:
        _child(SPEND, provider, model).inc(dollars)


def cache_hit(kind: str) -> None:
    _child(CACHE_HITS, kind).inc()


def limit_refused(kind: str) -> None:
    _child(LIMIT_REFUSALS, kind).inc()


class JobSnapshot(Collector):
    """Job counts by status and the newest worker heartbeat, as last read from the store
    (the scrape handler refreshes it at most every `max_age` seconds before rendering)."""

    def __init__(self, active: Iterable[str], max_age: float) -> None:
        self.active = frozenset(active)
        self.max_age = max_age
        self.counts: Mapping[str, int] = {}
        self.heartbeat: float | None = None
        self.read_at = 0.0

    def stale(self) -> bool:
        return time.monotonic() - self.read_at >= self.max_age

    def update(self, counts: Mapping[str, int], heartbeat: float | None) -> None:
        self.counts, self.heartbeat, self.read_at = counts, heartbeat, time.monotonic()

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "videogate_jobs", "Jobs in the store, by status.", labels=("status",)
        )
        for status, n in sorted(self.counts.items()):
            jobs.add_metric((status,), n)
        yield jobs
        yield GaugeMetricFamily(
            "videogate_jobs_active",
            "Jobs not yet finished (queued or in progress).",
            value=sum(n for s, n in self.counts.items() if s in self.active),
        )
        if self.heartbeat is not None:
            yield GaugeMetricFamily(
                HEARTBEAT_AGE,
                "Seconds since the newest background-worker heartbeat in the store.",
                value=max(0.0, time.time() - self.heartbeat),
            )


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render(snapshot: Collector | None = None) -> bytes:
    """The exposition text: this process's metrics, or every process's in multiprocess
    mode, plus the store snapshot."""
    registry = _registry()
    if snapshot is not None:
        registry.register(snapshot)
    return generate_latest(registry)


class _Default(Collector):
    """The process-global registry, borrowed (a collector cannot sit in two registries)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def use_multiprocess_dir(path: str) -> None:
    """Start a run's shared metric files afresh in `path` (files of an earlier run would
    be summed into this one's) and tell every process started from here to write there.
    Must run before the worker processes import prometheus_client."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.environ[MULTIPROC_ENV] = path


def adopt_multiprocess() -> None:
    """In a server's worker process: write samples to the shared files from now on. A
    process forked after prometheus_client was imported (granian forks) still holds the
    in-memory value class, which is chosen at import; children made from here use the
    file-backed one (labelled children are made on first use, in the worker)."""
    if not multiprocess():
        return
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _children.clear()
    for metric in ALL:
        with metric._lock:
            metric._metrics.clear()


ALL = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    UPSTREAM_REQUESTS,
    UPSTREAM_LATENCY,
    UPSTREAM_ERRORS,
    POLL_LAG,
    WORKER_STEPS,
    MIRROR_BYTES,
    MIRROR_FAILURES,
    WEBHOOK_DELIVERIES,
    SPEND,
    CACHE_HITS,
    LIMIT_REFUSALS,
)


def serve_standalone(host: str, port: int) -> None:
    """/metrics of a process without the gateway's HTTP server (`videogate worker`): its
    worker metrics (poll lag, steps, mirror, webhooks, spend, upstream calls), served by
    prometheus_client's own thread."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=_registry())


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Default())
    return registry
