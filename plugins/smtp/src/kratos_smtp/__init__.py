"""kratos-smtp: the ``email`` courier channel over SMTP (aiosmtplib)."""

from __future__ import annotations

from .channel import SmtpChannel
from .settings import SmtpSettings, parse_connection_uri

__all__ = ["SmtpChannel", "SmtpSettings", "parse_connection_uri"]
