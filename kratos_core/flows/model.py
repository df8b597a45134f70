"""The self-service flow as the engine holds it, its state machines and its wire JSON.

A flow is one row of ``selfservice_flows``: the columns every kind shares, ``data`` for the
public fields only some kinds have (login's ``refresh`` and ``requested_aal`` ...), and
``internal_context`` for what methods and the engine remember between requests but never show
(kratos-behaviour.md section 1.2). :meth:`Flow.to_dict` renders the JSON of section 1.2 exactly:
``return_to``, ``active`` and ``ui.messages`` are omitted when empty, login adds
``created_at``/``updated_at``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import msgspec

from ..identity.model import utcnow
from ..ui.container import Container

__all__ = [
    "FlowKind",
    "FlowType",
    "STATE_TABLES",
    "INITIAL_STATES",
    "IllegalTransition",
    "Flow",
    "StateKey",
    "new_flow",
    "timestamp",
]

FlowKind = Literal["login", "registration"]
FlowType = Literal["browser", "api"]

# One table per flow kind: state -> the states a flow in it may move to (section 1.3). Only the
# code method moves login and registration along; password, OIDC and the two-step registration
# complete or re-render without changing the state.
_LOGIN_STATES: dict[str, frozenset[str]] = {
    "choose_method": frozenset({"choose_method", "sent_email"}),
    "sent_email": frozenset({"choose_method", "sent_email", "passed_challenge"}),
    "passed_challenge": frozenset({"passed_challenge"}),
}
_REGISTRATION_STATES: dict[str, frozenset[str]] = {
    "choose_method": frozenset({"choose_method", "sent_email"}),
    "sent_email": frozenset({"choose_method", "sent_email", "passed_challenge"}),
    "passed_challenge": frozenset({"passed_challenge"}),
}

#: The state machine of each flow kind.
STATE_TABLES: dict[str, dict[str, frozenset[str]]] = {
    "login": _LOGIN_STATES,
    "registration": _REGISTRATION_STATES,
}

#: The state a new flow starts in.
INITIAL_STATES: dict[str, str] = {"login": "choose_method", "registration": "choose_method"}

# Public per-kind fields kept in the ``data`` column, with the value a new flow gets.
_DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "login": {"refresh": False, "requested_aal": "aal1", "organization_id": None},
    "registration": {"organization_id": None},
}
# ``data`` keys that are omitted from the JSON when empty (Go's omitempty).
_OMIT_EMPTY = ("identity_schema", "oauth2_login_challenge", "session_token_exchange_code")


class IllegalTransition(RuntimeError):
    """A method asked for a state change the flow kind's table does not allow (a bug)."""


def timestamp(value: dt.datetime) -> str:
    """RFC 3339 with microseconds in UTC, as every flow timestamp is printed."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


T = TypeVar("T")


class StateKey(Generic[T]):
    """A typed slot of a flow's private state (``internal_context``), as pytest's stash keys.

    A plugin makes one key per thing it remembers between requests of a flow, and reads and
    writes it with :meth:`Flow.get_state` / :meth:`Flow.set_state`; the value is stored as JSON
    and decoded back into ``type`` (a msgspec Struct, a dataclass, ``str``, ``list[str]`` ...),
    so a key's readers always get the type its writers stored, and two plugins' keys never
    collide (the name is prefixed with the owner).

    Args:
        owner: Who owns the slot (the plugin's or method's id), e.g. ``"totp"``.
        name: The slot's name within the owner, e.g. ``"pending_key"``.
        type: What the slot holds.
    """

    __slots__ = ("key", "type")

    def __init__(self, owner: str, name: str, type: type[T]) -> None:
        self.key = f"{owner}:{name}"
        self.type = type

    def __repr__(self) -> str:
        return f"StateKey({self.key!r})"


@dataclass(kw_only=True)
class Flow:
    """One self-service flow.

    Attributes:
        id: The flow id (the ``flow`` query parameter everywhere).
        kind: ``login`` or ``registration``.
        type: ``browser`` or ``api``.
        state: The current state (see :data:`STATE_TABLES`).
        ui: The form the client renders.
        request_url: The init request's full URL.
        return_to: The validated ``return_to`` of the init request, or None.
        issued_at: When the flow was created.
        expires_at: ``issued_at`` plus the kind's lifespan.
        csrf_token: The masked anti-CSRF token of a browser flow (``""`` for API flows).
        identity_id: The identity the flow belongs to, when it has one.
        session_id: The session the flow started from (refresh, step-up).
        active: The method last used, or None.
        data: Public fields of this kind (``refresh``, ``requested_aal``, ``identity_schema`` ...).
        internal_context: Private state of the engine and the methods; never serialised.
        submit_count: How many submits the flow has seen.
        transient_payload: The last submit's ``transient_payload``; shown once, never stored.
    """

    id: uuid.UUID
    kind: str
    type: str
    state: str
    ui: Container
    request_url: str
    return_to: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    csrf_token: str = ""
    identity_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    active: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    internal_context: dict[str, Any] = field(default_factory=dict)
    submit_count: int = 0
    transient_payload: dict[str, Any] | None = None

    # -- state -------------------------------------------------------------------------------

    def move_to(self, state: str) -> None:
        """Change the state along the kind's table.

        Raises:
            IllegalTransition: The table does not allow it.
        """
        allowed = STATE_TABLES[self.kind].get(self.state, frozenset())
        if state not in allowed:
            raise IllegalTransition(f"{self.kind} flow cannot move from {self.state!r} to {state!r}")
        self.state = state

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at < (now or utcnow())

    @property
    def is_browser(self) -> bool:
        return self.type == "browser"

    @property
    def completed(self) -> bool:
        """Whether a submit already succeeded (a replay is refused: 4010007 / 4040002)."""
        return bool(self.internal_context.get("completed_at"))

    def mark_completed(self) -> None:
        self.internal_context["completed_at"] = timestamp(utcnow())

    # -- typed private state -----------------------------------------------------------------

    def get_state(self, key: StateKey[T]) -> T | None:
        """The value stored under ``key``, decoded into its type; None when nothing is stored."""
        raw = self.internal_context.get(key.key)
        return None if raw is None else msgspec.convert(raw, key.type)

    def set_state(self, key: StateKey[T], value: T) -> None:
        """Store ``value`` under ``key`` (saved with the flow; never shown to clients)."""
        self.internal_context[key.key] = msgspec.to_builtins(value)

    def pop_state(self, key: StateKey[T]) -> T | None:
        """Remove and return the value stored under ``key``."""
        value = self.get_state(key)
        self.internal_context.pop(key.key, None)
        return value

    @property
    def identity_schema(self) -> str | None:
        return self.data.get("identity_schema") or None

    # -- wire JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The flow's public JSON (kratos-behaviour.md section 1.2)."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "expires_at": timestamp(self.expires_at),
            "issued_at": timestamp(self.issued_at),
            "request_url": self.request_url,
        }
        if self.return_to:
            out["return_to"] = self.return_to
        if self.active:
            out["active"] = self.active
        out["ui"] = self.ui.to_dict()
        if self.kind == "login":
            # Only login exposes its row timestamps (section 1.2).
            out["created_at"] = timestamp(self.created_at)
            out["updated_at"] = timestamp(self.updated_at)
        out["state"] = self.state
        out.update(_public_data(self.data))
        if self.transient_payload:
            out["transient_payload"] = self.transient_payload
        return out


def _public_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (k in _OMIT_EMPTY and not v)}


def new_flow(
    *,
    kind: str,
    type: str,
    request_url: str,
    return_to: str | None,
    lifespan: dt.timedelta,
    action: str,
    data: Mapping[str, Any] | None = None,
) -> Flow:
    """A fresh flow in its kind's initial state, with an empty form.

    Args:
        kind: ``login`` or ``registration``.
        type: ``browser`` or ``api``.
        request_url: The init request's full URL.
        return_to: The validated ``return_to``, or None.
        lifespan: ``selfservice.flows.<kind>.lifespan``.
        action: The submit URL without the flow id (``{public}/self-service/login``).
        data: Public per-kind fields overriding the defaults.
    """
    now = utcnow()
    flow_id = uuid.uuid4()
    return Flow(
        id=flow_id,
        kind=kind,
        type=type,
        state=INITIAL_STATES[kind],
        ui=Container(action=f"{action}?flow={flow_id}"),
        request_url=request_url,
        return_to=return_to,
        issued_at=now,
        expires_at=now + lifespan,
        created_at=now,
        updated_at=now,
        data={**_DATA_DEFAULTS[kind], **(data or {})},
    )
