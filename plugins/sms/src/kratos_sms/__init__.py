"""kratos-sms: HTTP courier channels (``sms`` through a gateway, and ``http`` for email)."""

from __future__ import annotations

from .channel import HttpChannel
from .request import RequestConfig, build_context, default_body, render_body

__all__ = ["HttpChannel", "RequestConfig", "build_context", "default_body", "render_body"]
