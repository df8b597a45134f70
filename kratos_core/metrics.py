"""Prometheus metrics (issue 15, item 6): what the server counts, and the small API plugins use.

Served on the admin port at ``/admin/metrics/prometheus`` (Kratos's path) and
``/metrics/prometheus``, in Prometheus's text format, by ``prometheus-client``.

Plugins report through the functions here (exported by :mod:`kratos_core.api`), never through
``prometheus_client`` directly, so the names and labels stay ours:

* :func:`hashing_queued` / :func:`hashing_started` / :func:`hashing_finished`: a password hash
  waiting for and running on a hashing thread (queue depth and wait);
* :func:`courier_failure`: a delivery attempt that failed.

Several server processes (``kratos serve --workers N``): ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers fork, and every scrape
(answered by any worker) sums the workers' values (prometheus-client's multiprocess mode).
Without it (one process, or an app embedded in another server) each process reports its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "exposition",
    "hashing_queued",
    "courier_failure",
    "multiprocess",
]

#: The exposition's content type (text format 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Our metrics' registry (not prometheus-client's global one, which other libraries share).
REGISTRY = CollectorRegistry(auto_describe=True)


def multiprocess() -> bool:
    """Whether values are shared between server processes (``PROMETHEUS_MULTIPROC_DIR``)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "kratos_http_requests_total",
    "HTTP requests answered, by port, method, route template and status code.",
    ("api", "method", "route", "status"),
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "kratos_http_request_duration_seconds",
    "Time to answer an HTTP request, by port, method and route template.",
    ("api", "method", "route"),
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
FLOW_OUTCOMES = Counter(
    "kratos_flow_outcomes_total",
    "Self-service flow submits that completed or were refused, by flow kind, method and outcome.",
    ("flow", "method", "outcome"),
    registry=REGISTRY,
)
HASHING_QUEUE = Gauge(
    "kratos_hashing_queue_depth",
    "Password hashes waiting for a hashing thread.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
HASHING_WAIT = Histogram(
    "kratos_hashing_wait_seconds",
    "Time a password hash waited for a hashing thread.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
COURIER_QUEUE = Gauge(
    "kratos_courier_queue_depth",
    "Courier messages queued or being delivered (read from the database at scrape time).",
    registry=REGISTRY,
    multiprocess_mode="max",
)
COURIER_SENT = Counter(
    "kratos_courier_messages_sent_total", "Courier messages delivered, by channel.", ("channel",), registry=REGISTRY
)
COURIER_FAILURES = Counter(
    "kratos_courier_failures_total",
    "Courier delivery failures, by channel and kind (attempt: will be retried; abandoned: given up).",
    ("channel", "kind"),
    registry=REGISTRY,
)
SESSION_CACHE = Counter(
    "kratos_session_cache_total",
    "Session cache lookups and changes, by result (hit, miss, invalidation).",
    ("result",),
    registry=REGISTRY,
)
RATE_LIMIT_REFUSALS = Counter(
    "kratos_rate_limit_refusals_total",
    "Attempts refused by throttling (429), by kind.",
    ("kind",),
    registry=REGISTRY,
)
AUDIT_DROPPED = Counter(
    "kratos_audit_dropped_total",
    "Audit events dropped because the writer's queue was full or the database refused them.",
    registry=REGISTRY,
)
EVENTS = Counter("kratos_events_total", "Events of the catalogue emitted, by name.", ("event",), registry=REGISTRY)


# -- the API plugins use ---------------------------------------------------------------------


def hashing_queued() -> Callable[[], None]:
    """A password hash was handed to the hashing threads; call what this returns when a thread
    starts on it (records the wait and lowers the queue depth).

    Example::

        started = metrics.hashing_queued()
        def work():
            started()
            return hasher.hash(password)
        await loop.run_in_executor(pool, work)
    """
    HASHING_QUEUE.inc()
    queued_at = time.perf_counter()
    done = False

    def started() -> None:
        nonlocal done
        if not done:
            done = True
            HASHING_QUEUE.dec()
            HASHING_WAIT.observe(time.perf_counter() - queued_at)

    return started


def courier_failure(channel: str, *, abandoned: bool = False) -> None:
    """A delivery attempt on ``channel`` failed (``abandoned``: it will not be retried)."""
    COURIER_FAILURES.labels(channel, "abandoned" if abandoned else "attempt").inc()


# -- exposition ------------------------------------------------------------------------------


def exposition() -> bytes:
    """The text exposition of every metric (summed over the workers in multiprocess mode)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
