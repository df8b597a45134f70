"""Courier messages, their delivery attempts, and the names Kratos gives their states and kinds.

A :class:`Message` is what a flow asks to send (already rendered from its template); a
:class:`Dispatch` is one attempt to deliver it (kratos-behaviour.md section 8.1). Channel plugins
receive a :class:`Message` and raise :class:`DeliveryError` when an attempt fails.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec

__all__ = [
    "MessageStatus",
    "DispatchStatus",
    "STATUSES",
    "TEMPLATE_TYPES",
    "SMS_TEMPLATE_TYPES",
    "SDK_TEMPLATE_TYPES",
    "Message",
    "Dispatch",
    "DeliveryError",
    "utcnow",
]

MessageStatus = Literal["queued", "processing", "sent", "abandoned"]
DispatchStatus = Literal["success", "failed"]

#: Every message status, in lifecycle order.
STATUSES: tuple[str, ...] = ("queued", "processing", "sent", "abandoned")

#: Template types the courier can render (section 8.2), plus Kratos's test ``stub``.
TEMPLATE_TYPES: tuple[str, ...] = (
    "recovery_valid",
    "recovery_invalid",
    "recovery_code_valid",
    "recovery_code_invalid",
    "verification_valid",
    "verification_invalid",
    "verification_code_valid",
    "verification_code_invalid",
    "login_code_valid",
    "registration_code_valid",
    "stub",
)

#: Template types that also have an SMS variant (Kratos sends only codes by SMS).
SMS_TEMPLATE_TYPES: frozenset[str] = frozenset(
    {"recovery_code_valid", "verification_code_valid", "login_code_valid", "registration_code_valid", "stub"}
)

#: Template types the official SDK (25.4.0) accepts in courier responses; messages of any
#: other type (``verifiable_address_changed``, ``authenticator_key_added``) are never listed.
SDK_TEMPLATE_TYPES: frozenset[str] = frozenset(TEMPLATE_TYPES)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC (what the database layer stores)."""
    return dt.datetime.now(dt.UTC)


class Message(msgspec.Struct, kw_only=True):
    """A courier message as stored.

    Attributes:
        id: The message id.
        type: ``email`` or ``sms`` (the API shows ``sms`` as ``phone``, as the SDK expects).
        channel: The channel the message names: ``email``, ``sms`` or a custom channel id.
        status: ``queued``, ``processing``, ``sent`` or ``abandoned``.
        recipient: An email address or a phone number.
        subject: The rendered subject (empty for SMS).
        body: The rendered plaintext body (the SMS text for SMS).
        html_body: The rendered HTML body (email only).
        template_type: Which template rendered it (``login_code_valid`` ...).
        template_data: The data the template was rendered with (stored, never exposed).
        send_count: Attempts made so far.
        created_at: When it was queued.
        updated_at: When its status last changed.
        next_attempt_at: Not before this time is it attempted again (None: at once).
    """

    id: uuid.UUID
    type: str
    channel: str
    status: str
    recipient: str
    subject: str
    body: str
    html_body: str | None
    template_type: str
    template_data: dict[str, Any]
    send_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    next_attempt_at: dt.datetime | None = None


class Dispatch(msgspec.Struct, kw_only=True):
    """One delivery attempt of a message.

    Attributes:
        id: The attempt id.
        message_id: The message it tried to deliver.
        status: ``success`` or ``failed``.
        error: JSON describing the failure (None on success).
        created_at: When the attempt ended.
        updated_at: Same as ``created_at`` (attempts are never changed).
    """

    id: uuid.UUID
    message_id: uuid.UUID
    status: str
    error: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DeliveryError(Exception):
    """An attempt to deliver a message failed; raised by channels.

    Args:
        reason: What went wrong, for the dispatch record and the logs (never secrets).
        permanent: Retrying cannot help (the message itself is unsendable, e.g. a header
            value with a line break): the message is abandoned after this attempt.
        details: Extra JSON facts for the dispatch record (status code, SMTP reply ...).
    """

    def __init__(self, reason: str, *, permanent: bool = False, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        """The dispatch's ``error`` object."""
        return {"message": self.reason, **self.details}
