"""The plugin contract: everything a plugin may import from kratos-core, in one namespace.

A plugin package imports ``kratos_core.api`` (and ``kratos_core.testing`` in its tests) and
nothing else of kratos-core; every other module is internal and may change without notice.
``tests/meta/test_public_api.py`` keeps the first-party plugins and the plugin template to it.

The names, by what they are for:

* hooks: :data:`hookimpl`, :data:`hookspec` (the hooks themselves are documented in the hook
  reference, from :mod:`kratos_core.hookspecs`);
* methods: the per-flow protocols, the contexts they are handed and the results they return;
* flow actions: :class:`FlowAction`, :class:`ActionContext` and the stage names;
* courier channels: :class:`Message` and :class:`DeliveryError`;
* observers: :class:`Event` and the typed payloads of the event catalogue (``kratos_event``);
* services: :class:`Services` (identities, sessions, one-time secrets, the outbox, flows,
  the throttle and transactions), reached as ``ctx.services`` or injected into plugin routes as ``services``;
* the UI: nodes, the container, message builders (:mod:`messages`) and :class:`TextMessage`;
* metrics: :func:`hashing_queued` (a password hash waiting for a hashing thread: queue depth
  and wait) and :func:`courier_failure` (a failed delivery attempt), the Prometheus metrics a
  plugin reports (docs/security.md, "Metrics");
* errors: the Kratos error family and the flow-error family that steer a flow;
* models: identities, addresses, flows, sessions; configuration types.
"""

from __future__ import annotations

from . import __version__, hookimpl, hookspec
from .actions.runner import (
    ALL_STAGES,
    LOGIN_AFTER,
    LOGIN_BEFORE,
    RECOVERY_AFTER,
    RECOVERY_BEFORE,
    REGISTRATION_AFTER,
    REGISTRATION_BEFORE,
    REGISTRATION_PRE_PERSIST,
    SETTINGS_AFTER,
    SETTINGS_BEFORE,
    SETTINGS_PRE_PERSIST,
    VERIFICATION_AFTER,
    VERIFICATION_BEFORE,
    ActionContext,
    FlowAction,
)
from .bounds import check_bounds, decode_json_bounded
from .config import Config, ConfigError
from .config.frozen import thaw
from .courier.model import DeliveryError, Dispatch, Message
from .errors import (
    BadGateway,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    InternalServerError,
    KratosError,
    NotFound,
    Unauthorized,
)
from .events import (
    CATALOGUE,
    CourierMessageAbandoned,
    CourierMessageSent,
    Event,
    IdentityCreated,
    IdentityDeleted,
    IdentityUpdated,
    LoginFailed,
    LoginSucceeded,
    RecoverySucceeded,
    RegistrationSucceeded,
    SessionIssued,
    SessionRefreshed,
    SessionRevoked,
    SettingsChanged,
    VerificationSucceeded,
    event_name,
)
from .persistence.codes import CODE_LENGTH, CodeAlreadyUsed, CodeNotFound, OneTimeSecret, TooManySubmissions
from .flows.continuation import Flows
from .flows.errors import FlowAlreadyCompleted, FlowRedirect, FlowValidationError
from .flows.exchange import with_query
from .flows.messages import channel_for, expires_in_minutes
from .flows.model import Flow, StateKey
from .flows.verification import find_verifiable
from .identity.manager import IdentityManager, Operation
from .identity.model import Credential, Identity, RecoveryAddress, VerifiableAddress, identity_public_dict, utcnow
from .identity.normalize import normalize_identifier
from .methods import REDACTED, CredentialImporter, CredentialTraits, Method, MethodBase
from .methods.protocols import (
    SHOW_FLOW,
    AddressProof,
    AdminRecovery,
    LoginContext,
    LoginMethod,
    LoginResult,
    RecoveryContext,
    RecoveryMethod,
    RecoveryProof,
    RegistrationContext,
    RegistrationMethod,
    RegistrationResult,
    RegistrationStep,
    RestartFlow,
    SettingsContext,
    SettingsMethod,
    SettingsResult,
    ShowFlow,
    VerificationContext,
    VerificationMethod,
)
from .plugins.hooks import PluginHook
from .plugins.manager import PluginError
from .plugins.registry import (
    ChannelRegistrar,
    ConfigRegistrar,
    DuplicateRegistration,
    FlowActionRegistrar,
    MethodRegistrar,
    RouteRegistrar,
)
from .metrics import courier_failure, hashing_queued
from .security import KINDS as THROTTLE_KINDS
from .security import Throttle, ThrottleKeys, TooManyAttempts
from .services import InjectedServices, OneTimeSecrets, Outbox, Services, Transaction
from .session.model import Session
from .ui import messages
from .ui.container import Container
from .ui.nodes import Node, img_node, input_node, submit_node, text_node
from .ui.text import TextMessage
from .ui.traits import identifier_label, trait_nodes

__all__ = [
    "StateKey",
    "REDACTED",
    "CredentialTraits",
    "MethodBase",
    "PluginError",
    "courier_failure",
    "hashing_queued",
    "THROTTLE_KINDS",
    "Throttle",
    "ThrottleKeys",
    "TooManyAttempts",
    "check_bounds",
    "decode_json_bounded",
    "FlowAlreadyCompleted",
    "CATALOGUE",
    "CourierMessageAbandoned",
    "CourierMessageSent",
    "Event",
    "IdentityCreated",
    "IdentityDeleted",
    "IdentityUpdated",
    "LoginFailed",
    "LoginSucceeded",
    "RecoverySucceeded",
    "RegistrationSucceeded",
    "SessionIssued",
    "SessionRefreshed",
    "SessionRevoked",
    "SettingsChanged",
    "VerificationSucceeded",
    "event_name",
    "IdentityManager",
    "Operation",
    "PluginHook",
    "ALL_STAGES",
    "LOGIN_BEFORE",
    "RECOVERY_BEFORE",
    "REGISTRATION_BEFORE",
    "REGISTRATION_PRE_PERSIST",
    "SETTINGS_BEFORE",
    "SETTINGS_PRE_PERSIST",
    "VERIFICATION_AFTER",
    "VERIFICATION_BEFORE",
    "ConfigRegistrar",
    "CODE_LENGTH",
    "LOGIN_AFTER",
    "RECOVERY_AFTER",
    "REGISTRATION_AFTER",
    "SETTINGS_AFTER",
    "SHOW_FLOW",
    "ActionContext",
    "AddressProof",
    "AdminRecovery",
    "BadGateway",
    "BadRequest",
    "ChannelRegistrar",
    "CodeAlreadyUsed",
    "CodeNotFound",
    "Config",
    "ConfigError",
    "Conflict",
    "Container",
    "Credential",
    "CredentialImporter",
    "DeliveryError",
    "Dispatch",
    "DuplicateRegistration",
    "Flow",
    "FlowAction",
    "FlowActionRegistrar",
    "FlowRedirect",
    "Flows",
    "FlowValidationError",
    "Forbidden",
    "Gone",
    "Identity",
    "InjectedServices",
    "InternalServerError",
    "KratosError",
    "LoginContext",
    "LoginMethod",
    "LoginResult",
    "Message",
    "Method",
    "MethodRegistrar",
    "Node",
    "NotFound",
    "OneTimeSecret",
    "OneTimeSecrets",
    "Outbox",
    "RecoveryAddress",
    "RecoveryContext",
    "RecoveryMethod",
    "RecoveryProof",
    "RegistrationContext",
    "RegistrationMethod",
    "RegistrationResult",
    "RegistrationStep",
    "RestartFlow",
    "RouteRegistrar",
    "Services",
    "Session",
    "SettingsContext",
    "SettingsMethod",
    "SettingsResult",
    "ShowFlow",
    "TextMessage",
    "TooManySubmissions",
    "Transaction",
    "Unauthorized",
    "VerifiableAddress",
    "VerificationContext",
    "VerificationMethod",
    "__version__",
    "channel_for",
    "expires_in_minutes",
    "find_verifiable",
    "hookimpl",
    "hookspec",
    "identifier_label",
    "identity_public_dict",
    "img_node",
    "input_node",
    "messages",
    "normalize_identifier",
    "submit_node",
    "text_node",
    "thaw",
    "trait_nodes",
    "utcnow",
    "with_query",
]
