"""The metrics observer: flow outcomes per method and courier results, from the event catalogue.

A built-in ``kratos_event`` observer (blocking ``kratos_core.builtin.metrics`` stops it); the
counters are :mod:`kratos_core.metrics`'s.
"""

from __future__ import annotations

from typing import Any

from .. import hookimpl, metrics
from ..events import Event

__all__ = ["kratos_event"]

#: Event name -> (flow kind, outcome, the payload field naming the method).
_FLOW_EVENTS = {
    "login.succeeded": ("login", "success", "method"),
    "login.failed": ("login", "failure", "method"),
    "registration.succeeded": ("registration", "success", "method"),
    "settings.changed": ("settings", "success", "method"),
    "recovery.succeeded": ("recovery", "success", "method"),
    "verification.succeeded": ("verification", "success", "via"),
}


@hookimpl
def kratos_event(event: str, data: dict[str, Any], payload: Event) -> None:
    """Count the event (synchronous: a few counter increments)."""
    del data
    metrics.EVENTS.labels(event).inc()
    flow = _FLOW_EVENTS.get(event)
    if flow is not None:
        kind, outcome, field = flow
        metrics.FLOW_OUTCOMES.labels(kind, str(getattr(payload, field, "")), outcome).inc()
    elif event == "courier.message.sent":
        metrics.COURIER_SENT.labels(str(getattr(payload, "channel", ""))).inc()
    elif event == "courier.message.abandoned":
        metrics.courier_failure(str(getattr(payload, "channel", "")), abandoned=True)
