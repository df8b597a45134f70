"""The event catalogue: what ``kratos_event`` observers are told, as typed payloads.

Each event is a frozen msgspec Struct whose tag is its dotted name (``identity.created``); an
observer receives it as ``payload`` (and, for observers written before payloads were typed, the
name as ``event`` and the fields as the ``data`` dict). Payloads carry ids, method names and
outcomes, never a secret: no password, code, token or link, and no traits (the identity may be
read through its id). ``docs/plugins/events.md`` is the table of this module, and a meta-test
(``tests/meta/test_event_catalogue.py``) proves each event fires in a real scenario.

Events are emitted after what they report is committed, so an observer never sees an event
that was rolled back.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

import msgspec

__all__ = [
    "Event",
    "CATALOGUE",
    "IdentityCreated",
    "IdentityUpdated",
    "IdentityDeleted",
    "SessionIssued",
    "SessionRefreshed",
    "SessionRevoked",
    "LoginSucceeded",
    "LoginFailed",
    "RegistrationSucceeded",
    "SettingsChanged",
    "VerificationSucceeded",
    "RecoverySucceeded",
    "CourierMessageSent",
    "CourierMessageAbandoned",
    "event_name",
    "failure_reason",
]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    """The base of every event payload; ``type(payload).name`` is the event's dotted name."""

    name: ClassVar[str]
    #: When it happened: what it is (one line, for the docs table).
    when: ClassVar[str]


def event_name(payload: Event) -> str:
    """The dotted name of ``payload`` (its msgspec tag)."""
    return payload.name


def failure_reason(exc: BaseException) -> str:
    """A refusal as an event may carry it: message ids (``4000006``), else the error id or type.

    Never the error's text, which may quote what the user typed.
    """
    ids = [str(m.id) for m in getattr(exc, "messages", ())]
    ids += [str(getattr(getattr(i, "message", None), "id", "")) for i in getattr(exc, "issues", ())]
    ids = [i for i in ids if i]
    if ids:
        return ",".join(dict.fromkeys(ids))
    return str(getattr(exc, "id", None) or type(exc).__name__)


# -- identities ---------------------------------------------------------------------------------


class IdentityCreated(Event, frozen=True, tag="identity.created"):
    """An identity was created.

    Attributes:
        identity_id: The new identity.
        source: Who wrote it: ``admin`` (admin API, imports) or ``registration``.
    """

    when: ClassVar[str] = "An identity was stored: registration, the admin API or an import."
    identity_id: uuid.UUID
    source: str


class IdentityUpdated(Event, frozen=True, tag="identity.updated"):
    """An identity was changed: traits, metadata, state, credentials or an address.

    Attributes:
        identity_id: The identity.
        source: Who changed it: ``admin``, ``settings``, ``login`` (a re-hashed password),
            ``recovery``, ``verification``, ``code`` (an address proven by a login code) ...
        change: What changed: ``identity`` (a full write) or ``address_verified``.
    """

    when: ClassVar[str] = "A stored identity changed (admin update or patch, settings, a password re-hash, a verified address)."
    identity_id: uuid.UUID
    source: str
    change: str = "identity"


class IdentityDeleted(Event, frozen=True, tag="identity.deleted"):
    """An identity was deleted.

    Attributes:
        identity_id: The deleted identity.
        source: Who deleted it (``admin``).
    """

    when: ClassVar[str] = "An identity was deleted through the admin API."
    identity_id: uuid.UUID
    source: str


# -- sessions -----------------------------------------------------------------------------------


class SessionIssued(Event, frozen=True, tag="session.issued"):
    """A new session was stored.

    Attributes:
        session_id: The session (never its token).
        identity_id: Whose session it is.
        aal: Its authenticator assurance level.
        method: The method that authenticated (``password``, ``code_recovery`` ...).
        flow: The flow kind that issued it: ``login``, ``registration`` or ``recovery``.
    """

    when: ClassVar[str] = "A login, registration or recovery stored a new session."
    session_id: uuid.UUID
    identity_id: uuid.UUID
    aal: str
    method: str
    flow: str


class SessionRefreshed(Event, frozen=True, tag="session.refreshed"):
    """An existing session was re-authenticated, stepped up or extended.

    Attributes:
        session_id: The session.
        identity_id: Whose session it is.
        aal: Its AAL after the change.
        reason: ``reauthenticated`` (login refresh or step-up) or ``extended`` (admin extend).
    """

    when: ClassVar[str] = "A login refreshed or stepped up a session, or the admin API extended one."
    session_id: uuid.UUID
    identity_id: uuid.UUID
    aal: str
    reason: str


class SessionRevoked(Event, frozen=True, tag="session.revoked"):
    """Sessions were revoked (deactivated or deleted).

    Attributes:
        identity_id: Whose sessions, when known (a logout by token may not say).
        session_id: The one session revoked, or None when several were (``count``).
        count: How many sessions were revoked.
        reason: ``logout``, ``self_service`` (a user revoked own sessions), ``admin``,
            ``revoke_active_sessions`` (the flow action) or ``admin_delete``.
    """

    when: ClassVar[str] = "A logout, a user or administrator revoking sessions, or the revoke_active_sessions action."
    identity_id: uuid.UUID | None
    session_id: uuid.UUID | None
    count: int
    reason: str


# -- self-service flows -------------------------------------------------------------------------


class LoginSucceeded(Event, frozen=True, tag="login.succeeded"):
    """A login flow completed.

    Attributes:
        flow_id: The login flow.
        identity_id: Who signed in.
        session_id: The new or refreshed session.
        method: The method used.
        aal: The session's AAL afterwards.
    """

    when: ClassVar[str] = "A login submit was accepted and its session stored."
    flow_id: uuid.UUID
    identity_id: uuid.UUID
    session_id: uuid.UUID
    method: str
    aal: str


class LoginFailed(Event, frozen=True, tag="login.failed"):
    """A login submit was refused (wrong credentials, unknown account, a veto ...).

    Attributes:
        flow_id: The login flow.
        method: The method submitted.
        reason: The error: Kratos's message ids (``4000006``) or error id, never the input.
    """

    when: ClassVar[str] = "A login submit was refused by its method or a hook."
    flow_id: uuid.UUID
    method: str
    reason: str


class RegistrationSucceeded(Event, frozen=True, tag="registration.succeeded"):
    """A registration flow created an identity.

    Attributes:
        flow_id: The registration flow.
        identity_id: The new identity.
        method: The method used.
    """

    when: ClassVar[str] = "A registration stored its identity (and session)."
    flow_id: uuid.UUID
    identity_id: uuid.UUID
    method: str


class SettingsChanged(Event, frozen=True, tag="settings.changed"):
    """A settings flow stored a change.

    Attributes:
        flow_id: The settings flow.
        identity_id: Whose settings.
        method: The method that made the change (``profile``, ``password`` ...).
    """

    when: ClassVar[str] = "A settings submit stored a change."
    flow_id: uuid.UUID
    identity_id: uuid.UUID
    method: str


class VerificationSucceeded(Event, frozen=True, tag="verification.succeeded"):
    """An address was verified through a verification flow.

    Attributes:
        flow_id: The verification flow.
        identity_id: The address's identity.
        address_id: The verified address.
        via: Its channel (``email``, ``sms``).
    """

    when: ClassVar[str] = "A verification code or link was accepted and the address stored verified."
    flow_id: uuid.UUID
    identity_id: uuid.UUID
    address_id: uuid.UUID
    via: str


class RecoverySucceeded(Event, frozen=True, tag="recovery.succeeded"):
    """A recovery flow signed its user in.

    Attributes:
        flow_id: The recovery flow.
        identity_id: The recovered identity.
        session_id: The session recovery issued.
        method: ``code`` or ``link``.
    """

    when: ClassVar[str] = "A recovery code or link was accepted and the recovery session stored."
    flow_id: uuid.UUID
    identity_id: uuid.UUID
    session_id: uuid.UUID
    method: str


# -- courier ------------------------------------------------------------------------------------


class CourierMessageSent(Event, frozen=True, tag="courier.message.sent"):
    """A courier message was delivered to its channel.

    Attributes:
        message_id: The message (its body holds codes: it is not part of the event).
        channel: The channel (``email``, ``sms``).
        template_type: Kratos's template type (``recovery_code_valid`` ...).
        attempts: Delivery attempts including this one.
    """

    when: ClassVar[str] = "A delivery attempt succeeded."
    message_id: uuid.UUID
    channel: str
    template_type: str
    attempts: int


class CourierMessageAbandoned(Event, frozen=True, tag="courier.message.abandoned"):
    """A courier message was given up on.

    Attributes:
        message_id: The message.
        channel: The channel.
        template_type: Kratos's template type.
        attempts: Delivery attempts made.
        reason: Why, from the last attempt's error (no message content).
    """

    when: ClassVar[str] = "A message failed permanently or ran out of retries."
    message_id: uuid.UUID
    channel: str
    template_type: str
    attempts: int
    reason: str


for _cls in Event.__subclasses__():
    _cls.name = str(_cls.__struct_config__.tag)

#: Every event, by name, in the order of the docs table.
CATALOGUE: dict[str, type[Event]] = {cls.name: cls for cls in Event.__subclasses__()}
