"""The courier: messages queued by flows, rendered from templates, delivered by channel plugins.

Use :func:`courier_for` to get an app's :class:`Courier`; ``await courier.queue(conn, ...)``
stores a message in the caller's transaction. Channel plugins implement
:class:`~kratos_core.courier.channels.CourierChannel` and raise
:class:`~kratos_core.courier.model.DeliveryError` when an attempt fails.
"""

from __future__ import annotations

from .channels import EMAIL_HTTP_CHANNEL, ConfigurableChannel, CourierChannel
from .courier import Courier, CourierOptions, courier_for
from .model import STATUSES, TEMPLATE_TYPES, DeliveryError, Dispatch, Message
from .templates import Rendered, TemplateRenderError, Templates

__all__ = [
    "Courier",
    "CourierOptions",
    "courier_for",
    "CourierChannel",
    "ConfigurableChannel",
    "EMAIL_HTTP_CHANNEL",
    "DeliveryError",
    "Dispatch",
    "Message",
    "STATUSES",
    "TEMPLATE_TYPES",
    "Rendered",
    "TemplateRenderError",
    "Templates",
]
