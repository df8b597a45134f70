"""The typed shape of ``kratos.yml``: frozen msgspec Structs named exactly like Kratos's keys.

Every section mirrors Kratos's config schema (kratos-behaviour.md section 9). Sections the schema
closes (``additionalProperties: false``) derive from :class:`Section` and refuse unknown keys;
the few it leaves open derive from :class:`OpenSection`. Durations are ``timedelta``, byte sizes
``int`` bytes, lists tuples and opaque objects read-only dicts, so the whole tree is immutable.

The loader (:mod:`kratos_core.config.loader`) fills derived defaults (base URLs, cookie flags,
``session.earliest_possible_extend`` ...) before handing a :class:`Config` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec
from msgspec import Meta, field

from kratos_core.config.durations import format_duration

__all__ = [
    "BYTES",
    "SENSITIVE",
    "ByteSize",
    "Section",
    "OpenSection",
    "FALLBACK_UI_URLS",
    "METHOD_DEFAULT_ENABLED",
    "RUNTIME_FIELDS",
    "Config",
    "HookConfig",
    "BeforeHooks",
    "MethodHooks",
    "LoginAfter",
    "RegistrationAfter",
    "SettingsAfter",
    "RecoveryAfter",
    "VerificationAfter",
    "LoginFlow",
    "RegistrationFlow",
    "SettingsFlow",
    "RecoveryFlow",
    "VerificationFlow",
    "LogoutAfter",
    "LogoutFlow",
    "ErrorFlow",
    "Flows",
    "MethodConfig",
    "Selfservice",
    "Cors",
    "Socket",
    "TlsSource",
    "Tls",
    "RequestLog",
    "PublicServe",
    "AdminServe",
    "Serve",
    "SessionCookie",
    "TokenizerTemplate",
    "Tokenizer",
    "Whoami",
    "Session",
    "Cookies",
    "Secrets",
    "Ciphers",
    "Argon2",
    "Bcrypt",
    "Hashers",
    "SchemaRef",
    "Identity",
    "Smtp",
    "CourierHttp",
    "Channel",
    "CourierWorker",
    "Courier",
    "ThrottleRule",
    "THROTTLE_DEFAULTS",
    "RateLimits",
    "AccountEnumeration",
    "Security",
    "ClientsHttp",
    "ClientsSmtp",
    "ClientsWebHook",
    "Clients",
    "Log",
    "CleanupSleep",
    "Cleanup",
    "Database",
    "FeatureFlags",
    "Plugins",
    "OAuth2Provider",
    "Preview",
    "Enterprise",
]


class _Marker:
    """An ``Annotated`` tag the loader understands (msgspec ignores non-``Meta`` metadata)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<config marker {self.name}>"


#: Tag for integer byte sizes written as ``"128MB"`` in the file.
BYTES = _Marker("bytes")
#: Tag for values that must never be echoed in errors or diagnostics (secrets, DSNs).
SENSITIVE = _Marker("sensitive")

#: An ``int`` number of bytes that the file may write as ``"128MB"``; usable in plugin fragments.
ByteSize = Annotated[int, BYTES]

_Secret16 = Annotated[str, Meta(min_length=16), SENSITIVE]
_Secret32 = Annotated[str, Meta(min_length=32, max_length=32), SENSITIVE]
_SensitiveStr = Annotated[str, SENSITIVE]
_Port = Annotated[int, Meta(ge=1, le=65535)]
_RequiredAal = Literal["aal1", "highest_available"]
_SameSite = Literal["Strict", "Lax", "None"]

#: Kratos's hosted fallback pages, used when a flow's ``ui_url`` is not configured.
FALLBACK_UI_URLS: Mapping[str, str] = {
    name: f"https://www.ory.com/kratos/docs/fallback/{name}"
    for name in ("login", "registration", "settings", "recovery", "verification", "error")
}

#: Kratos's default ``enabled`` for each built-in self-service method.
METHOD_DEFAULT_ENABLED: Mapping[str, bool] = {
    "password": True,
    "code": True,
    "profile": True,
    "link": False,
    "totp": False,
    "lookup_secret": False,
    "webauthn": False,
    "passkey": False,
    "oidc": False,
}

#: Fields of :class:`Config` that record where the config came from; they are not config keys.
RUNTIME_FIELDS = frozenset({"files", "source_dir", "fragments", "explicit_methods"})


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A config section whose unknown keys are errors (Kratos's ``additionalProperties: false``)."""


class OpenSection(msgspec.Struct, frozen=True, kw_only=True):
    """A config section where Kratos's schema tolerates unknown keys (they are ignored)."""


# --------------------------------------------------------------------------------------- hooks


class HookConfig(Section):
    """One hook in a hook list, e.g. ``{hook: web_hook, config: {url: ...}}``."""

    hook: str
    config: Mapping[str, Any] | None = None


class BeforeHooks(Section):
    """``<flow>.before``: hooks run when a flow is created."""

    hooks: tuple[HookConfig, ...] = ()


class MethodHooks(Section):
    """``<flow>.after.<method>``: a method's own return URL and hooks."""

    default_browser_return_url: str | None = None
    hooks: tuple[HookConfig, ...] = ()


class _After(Section):
    """Shared shape and lookups of ``<flow>.after``."""

    default_browser_return_url: str | None = None
    hooks: tuple[HookConfig, ...] = ()

    def for_method(self, method: str) -> MethodHooks:
        """Return the ``after.<method>`` section, or an empty one if the flow has none for it.

        Args:
            method: A method name such as ``password``.

        Returns:
            The method's section.
        """
        value = (
            getattr(self, method, None)
            if method not in ("hooks", "default_browser_return_url")
            else None
        )
        return value if isinstance(value, MethodHooks) else MethodHooks()

    def hooks_for(self, method: str) -> tuple[HookConfig, ...]:
        """Return the method's own hooks, falling back to the global list when it has none.

        Kratos uses the method-less ``after.hooks`` only when the method's list is empty
        (kratos-behaviour.md section 7.1).

        Args:
            method: A method name such as ``password``.

        Returns:
            The hooks to run.
        """
        return self.for_method(method).hooks or self.hooks

    def return_url_for(self, method: str) -> str | None:
        """Return the method's ``default_browser_return_url``, else the flow's own (may be None).

        Args:
            method: A method name such as ``password``.

        Returns:
            The URL or None.
        """
        return self.for_method(method).default_browser_return_url or self.default_browser_return_url


def _method_hooks() -> Any:
    return field(default_factory=MethodHooks)


class LoginAfter(_After):
    """``selfservice.flows.login.after``."""

    password: MethodHooks = _method_hooks()
    webauthn: MethodHooks = _method_hooks()
    passkey: MethodHooks = _method_hooks()
    oidc: MethodHooks = _method_hooks()
    code: MethodHooks = _method_hooks()
    totp: MethodHooks = _method_hooks()
    lookup_secret: MethodHooks = _method_hooks()


class RegistrationAfter(_After):
    """``selfservice.flows.registration.after``."""

    password: MethodHooks = _method_hooks()
    webauthn: MethodHooks = _method_hooks()
    passkey: MethodHooks = _method_hooks()
    oidc: MethodHooks = _method_hooks()
    code: MethodHooks = _method_hooks()


class SettingsAfter(_After):
    """``selfservice.flows.settings.after``."""

    password: MethodHooks = _method_hooks()
    totp: MethodHooks = _method_hooks()
    oidc: MethodHooks = _method_hooks()
    webauthn: MethodHooks = _method_hooks()
    passkey: MethodHooks = _method_hooks()
    lookup_secret: MethodHooks = _method_hooks()
    profile: MethodHooks = _method_hooks()


class RecoveryAfter(_After):
    """``selfservice.flows.recovery.after`` (global hooks only)."""


class VerificationAfter(_After):
    """``selfservice.flows.verification.after`` (global hooks only)."""


# --------------------------------------------------------------------------------------- flows

_HOUR = timedelta(hours=1)


class LoginFlow(Section):
    """``selfservice.flows.login``."""

    ui_url: str = FALLBACK_UI_URLS["login"]
    lifespan: timedelta = _HOUR
    style: Literal["unified", "identifier_first"] = "unified"
    before: BeforeHooks = field(default_factory=BeforeHooks)
    after: LoginAfter = field(default_factory=LoginAfter)


class RegistrationFlow(Section):
    """``selfservice.flows.registration``."""

    enabled: bool = True
    login_hints: bool = False
    ui_url: str = FALLBACK_UI_URLS["registration"]
    lifespan: timedelta = _HOUR
    style: Literal["unified", "profile_first"] = "profile_first"
    enable_legacy_one_step: bool = False
    before: BeforeHooks = field(default_factory=BeforeHooks)
    after: RegistrationAfter = field(default_factory=RegistrationAfter)


class SettingsFlow(Section):
    """``selfservice.flows.settings``."""

    ui_url: str = FALLBACK_UI_URLS["settings"]
    lifespan: timedelta = _HOUR
    privileged_session_max_age: timedelta = _HOUR
    required_aal: _RequiredAal = "highest_available"
    before: BeforeHooks = field(default_factory=BeforeHooks)
    after: SettingsAfter = field(default_factory=SettingsAfter)


class RecoveryFlow(Section):
    """``selfservice.flows.recovery``."""

    enabled: bool = False
    ui_url: str = FALLBACK_UI_URLS["recovery"]
    lifespan: timedelta = _HOUR
    use: Literal["code", "link"] = "code"
    notify_unknown_recipients: bool = False
    before: BeforeHooks = field(default_factory=BeforeHooks)
    after: RecoveryAfter = field(default_factory=RecoveryAfter)


class VerificationFlow(Section):
    """``selfservice.flows.verification``."""

    enabled: bool = False
    ui_url: str = FALLBACK_UI_URLS["verification"]
    lifespan: timedelta = _HOUR
    use: Literal["code", "link"] = "code"
    notify_unknown_recipients: bool = False
    before: BeforeHooks = field(default_factory=BeforeHooks)
    after: VerificationAfter = field(default_factory=VerificationAfter)


class LogoutAfter(Section):
    """``selfservice.flows.logout.after``."""

    default_browser_return_url: str | None = None


class LogoutFlow(Section):
    """``selfservice.flows.logout``."""

    clear_browser_data: bool = False
    after: LogoutAfter = field(default_factory=LogoutAfter)


class ErrorFlow(Section):
    """``selfservice.flows.error``."""

    ui_url: str = FALLBACK_UI_URLS["error"]


class Flows(Section):
    """``selfservice.flows``."""

    login: LoginFlow = field(default_factory=LoginFlow)
    registration: RegistrationFlow = field(default_factory=RegistrationFlow)
    settings: SettingsFlow = field(default_factory=SettingsFlow)
    recovery: RecoveryFlow = field(default_factory=RecoveryFlow)
    verification: VerificationFlow = field(default_factory=VerificationFlow)
    logout: LogoutFlow = field(default_factory=LogoutFlow)
    error: ErrorFlow = field(default_factory=ErrorFlow)


class MethodConfig(Section):
    """``selfservice.methods.<name>``: on/off plus the method's own (plugin-validated) config.

    ``passwordless_enabled`` and ``mfa_enabled`` are the legacy switches of the ``code`` method;
    the loader refuses them on other built-in methods.
    """

    enabled: bool = False
    config: Mapping[str, Any] = field(default_factory=dict)
    passwordless_enabled: bool = False
    mfa_enabled: bool = False


class Selfservice(Section):
    """``selfservice``."""

    default_browser_return_url: str
    allowed_return_urls: tuple[str, ...] = ()
    flows: Flows = field(default_factory=Flows)
    methods: Mapping[str, MethodConfig] = field(default_factory=dict)


# --------------------------------------------------------------------------------------- serve


class Cors(Section):
    """``serve.public.cors``."""

    enabled: bool = False
    allowed_origins: tuple[Annotated[str, Meta(min_length=1)], ...] = ("*",)
    allowed_methods: tuple[
        Literal["POST", "GET", "PUT", "PATCH", "DELETE", "CONNECT", "HEAD", "OPTIONS", "TRACE"], ...
    ] = ("POST", "GET", "PUT", "PATCH", "DELETE")
    allowed_headers: tuple[str, ...] = (
        "Authorization",
        "Content-Type",
        "Max-Age",
        "X-Session-Token",
        "X-XSRF-TOKEN",
        "X-CSRF-TOKEN",
    )
    exposed_headers: tuple[str, ...] = ("Content-Type",)
    allow_credentials: bool = True
    options_passthrough: bool = False
    max_age: Annotated[int, Meta(ge=0)] = 0
    debug: bool = False


class Socket(Section):
    """``serve.*.socket``: permissions of a unix socket."""

    owner: str = ""
    group: str = ""
    mode: Annotated[int, Meta(ge=0, le=0o777)] = 0o755


class TlsSource(Section):
    """A PEM file given by ``path`` or inline ``base64``."""

    path: str | None = None
    base64: _SensitiveStr | None = None


class Tls(Section):
    """``serve.*.tls``; TLS is off when neither key nor cert is set."""

    key: TlsSource | None = None
    cert: TlsSource | None = None

    @property
    def enabled(self) -> bool:
        """Whether any TLS material is configured."""
        return self.key is not None or self.cert is not None


class RequestLog(Section):
    """``serve.*.request_log``."""

    disable_for_health: bool = False


class PublicServe(Section):
    """``serve.public``; ``base_url`` is always set (and ``/``-terminated) after loading."""

    base_url: str | None = None
    host: str = "0.0.0.0"
    port: _Port = 4433
    cors: Cors = field(default_factory=Cors)
    socket: Socket = field(default_factory=Socket)
    tls: Tls = field(default_factory=Tls)
    request_log: RequestLog = field(default_factory=RequestLog)


class AdminServe(Section):
    """``serve.admin``; ``base_url`` is always set (and ``/``-terminated) after loading."""

    base_url: str | None = None
    host: str = "0.0.0.0"
    port: _Port = 4434
    socket: Socket = field(default_factory=Socket)
    tls: Tls = field(default_factory=Tls)
    request_log: RequestLog = field(default_factory=RequestLog)


class Serve(Section):
    """``serve``."""

    public: PublicServe = field(default_factory=PublicServe)
    admin: AdminServe = field(default_factory=AdminServe)


# ------------------------------------------------------------------------------------- session


class SessionCookie(Section):
    """``session.cookie``; unset ``domain``/``path``/``same_site``/``secure`` take ``cookies.*``."""

    name: str = "ory_kratos_session"
    persistent: bool = True
    domain: str | None = None
    path: str | None = None
    same_site: _SameSite | None = None
    secure: bool | None = None


class TokenizerTemplate(OpenSection):
    """``session.whoami.tokenizer.templates.<name>``: how to mint a JWT from a session."""

    jwks_url: str
    claims_mapper_url: str | None = None
    ttl: timedelta = timedelta(minutes=1)
    subject_source: Literal["id", "external_id"] = "id"


class Tokenizer(OpenSection):
    """``session.whoami.tokenizer``."""

    templates: Mapping[str, TokenizerTemplate] = field(default_factory=dict)


class Whoami(Section):
    """``session.whoami``."""

    required_aal: _RequiredAal = "highest_available"
    tokenizer: Tokenizer = field(default_factory=Tokenizer)


class Session(Section):
    """``session``; ``earliest_possible_extend`` equals ``lifespan`` unless set."""

    lifespan: timedelta = timedelta(hours=24)
    earliest_possible_extend: timedelta | None = None
    cookie: SessionCookie = field(default_factory=SessionCookie)
    whoami: Whoami = field(default_factory=Whoami)


class Cookies(Section):
    """``cookies``: defaults for session and CSRF cookies; ``secure`` is ``not dev`` unless set."""

    domain: str | None = None
    path: str = "/"
    same_site: _SameSite = "Lax"
    secure: bool | None = None


# ------------------------------------------------------------------------------ secrets, crypto


class Secrets(Section):
    """``secrets``: the first entry of each list is current, the rest only verify/decrypt."""

    default: tuple[_Secret16, ...] = ()
    cookie: tuple[_Secret16, ...] = ()
    cipher: tuple[_Secret32, ...] = ()
    pagination: tuple[_Secret16, ...] = ()


class Ciphers(OpenSection):
    """``ciphers``."""

    algorithm: Literal["noop", "aes", "xchacha20-poly1305"] = "noop"


class Argon2(Section):
    """``hashers.argon2``; ``parallelism`` defaults to twice the CPU count."""

    memory: Annotated[int, BYTES, Meta(ge=1)] = 128 * 1024 * 1024
    iterations: Annotated[int, Meta(ge=1)] = 1
    parallelism: Annotated[int, Meta(ge=1)] | None = None
    salt_length: Annotated[int, Meta(ge=16)] = 16
    key_length: Annotated[int, Meta(ge=16)] = 32
    expected_duration: timedelta = timedelta(milliseconds=500)
    expected_deviation: timedelta = timedelta(milliseconds=500)
    dedicated_memory: Annotated[int, BYTES, Meta(ge=1)] = 1024 * 1024 * 1024


class Bcrypt(Section):
    """``hashers.bcrypt``; costs below 12 are raised to 12 outside dev mode, as Kratos does."""

    cost: Annotated[int, Meta(ge=4, le=31)] = 12


class Hashers(Section):
    """``hashers``."""

    algorithm: Literal["argon2", "bcrypt"] = "bcrypt"
    argon2: Argon2 = field(default_factory=Argon2)
    bcrypt: Bcrypt = field(default_factory=Bcrypt)


# ------------------------------------------------------------------------------------ identity


class SchemaRef(Section):
    """One entry of ``identity.schemas`` (``url``: ``file://``, ``http(s)://`` or ``base64://``)."""

    id: str
    url: str
    selfservice_selectable: bool = False


class Identity(Section):
    """``identity``."""

    schemas: tuple[SchemaRef, ...]
    default_schema_id: str = "default"


# ------------------------------------------------------------------------------------- courier


class Smtp(Section):
    """``courier.smtp``."""

    connection_uri: Annotated[str, Meta(pattern="^smtps?://"), SENSITIVE] | None = None
    client_cert_path: str = ""
    client_key_path: str = ""
    from_address: str = "no-reply@ory.kratos.sh"
    from_name: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    local_name: str = "localhost"


class CourierHttp(Section):
    """``courier.http`` (email delivery over HTTP)."""

    request_config: Mapping[str, Any] | None = None


class Channel(Section):
    """One entry of ``courier.channels``.

    Kratos's HTTP gateways (e.g. the ``sms`` channel) take ``type: http`` and a
    ``request_config``; a plugin channel that declares a ``config_model`` takes its settings
    under ``config`` instead (validated at start, unknown keys refused; the environment sets it
    as ``COURIER_CHANNELS_<n>_CONFIG`` with a JSON object).
    """

    id: Annotated[str, Meta(max_length=32)]
    request_config: Mapping[str, Any] | None = None
    type: Literal["http"] = "http"
    config: Mapping[str, Any] | None = None


class CourierWorker(OpenSection):
    """``courier.worker``."""

    pull_count: int = 10
    pull_wait: timedelta = timedelta(seconds=1)


class Courier(Section):
    """``courier``; ``templates`` is kept as an opaque mapping (kratos-behaviour.md section 8.2)."""

    smtp: Smtp = field(default_factory=Smtp)
    delivery_strategy: Literal["smtp", "http"] = "smtp"
    http: CourierHttp = field(default_factory=CourierHttp)
    channels: tuple[Channel, ...] = ()
    message_retries: int = 5
    worker: CourierWorker = field(default_factory=CourierWorker)
    template_override_path: str | None = None
    templates: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------- throttling (beyond Kratos, issue 15)

#: One sliding window in the ``limits`` library's notation: ``"5/minute"``, ``"20 per hour"``,
#: ``"10/10 minutes"``.
_Window = Annotated[
    str,
    Meta(
        pattern=r"^\s*[1-9][0-9]*\s*(/|per)\s*([1-9][0-9]*\s*)?(second|minute|hour|day)s?\s*$",
        description='a sliding window such as "5/minute" or "10 per 10 minutes"',
    ),
]


class ThrottleRule(Section):
    """How many attempts of one kind are allowed, per key (``security.rate_limits.<kind>``).

    Each key has a ladder of sliding windows; an attempt is refused (429 with ``Retry-After``)
    while any window of any of its keys is full, so the wait grows with the number of recent
    attempts (for example ``["5/minute", "20/hour", "50/day"]``: after 5 attempts in a minute,
    up to a minute; after 20 in an hour, up to an hour; after 50 in a day, up to a day). A key
    left out keeps the kind's default ladder (:data:`THROTTLE_DEFAULTS`); an empty list switches
    that key off.
    """

    address_and_identifier: tuple[_Window, ...] | None = None
    """Windows per client address and identifier together: the attacker's own lock, which the
    right user at another address never shares. A success clears them."""
    identifier: tuple[_Window, ...] | None = None
    """Windows per identifier (account, recipient address or identity id) from every client
    address together: bounds guessing spread over many addresses. A success clears them; keep
    them short (an hour) so that nobody can lock the right user out for long."""
    address: tuple[_Window, ...] | None = None
    """Windows per client address for every identifier together: bounds one client spraying
    many accounts. Successes count too and are not cleared (an attacker owns accounts)."""

    def resolved(self, kind: str) -> ThrottleRule:
        """This rule with every key left out filled from the kind's default ladder."""
        default = THROTTLE_DEFAULTS.get(kind, {})
        return ThrottleRule(
            **{
                key: tuple(default.get(key, ())) if getattr(self, key) is None else getattr(self, key)
                for key in ("address_and_identifier", "identifier", "address")
            }
        )


#: The default ladders of every kind (docs/security.md shows the arithmetic behind them).
THROTTLE_DEFAULTS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "password": {
        "address_and_identifier": ("5/minute", "10/10 minutes", "20/hour", "50/day"),
        "identifier": ("100/hour",),
        "address": ("60/minute", "600/hour"),
    },
    "code": {
        "address_and_identifier": ("10/10 minutes", "20/day"),
        "identifier": ("25/hour", "50/day"),
        "address": ("60/hour", "300/day"),
    },
    "totp": {
        "address_and_identifier": ("10/10 minutes", "20/day"),
        "identifier": ("25/hour", "50/day"),
        "address": ("60/hour", "300/day"),
    },
    "lookup_secret": {
        "address_and_identifier": ("10/10 minutes", "20/day"),
        "identifier": ("25/hour", "50/day"),
        "address": ("60/hour", "300/day"),
    },
    "webauthn": {
        "address_and_identifier": ("10/minute", "100/hour"),
        "identifier": ("100/hour",),
        "address": ("100/minute",),
    },
    "code_sending": {"identifier": ("5/hour", "10/day"), "address": ("30/hour", "100/day")},
    "flow_creation": {"address": ("30/minute", "300/hour")},
}


class RateLimits(Section):
    """``security.rate_limits``: throttling and lockout, on by default (not a Kratos key).

    See docs/security.md for what each kind counts and the arithmetic behind the defaults.
    """

    enabled: bool = True
    """Switch every limit off (not recommended outside tests)."""
    storage_url: _SensitiveStr = "memory://"
    """Where the counts live: ``memory://`` (this process only, the embedded default) or a
    ``redis://`` / ``rediss://`` URL, so that every server process shares one count
    (environment: ``SECURITY_RATE_LIMITS_STORAGE_URL``)."""
    key_prefix: str = "kratos-throttle"
    """Prefix of every storage key (to share one Redis between deployments)."""
    password: ThrottleRule = field(default_factory=ThrottleRule)
    """Password sign-in attempts; the identifier is the one typed in."""
    code: ThrottleRule = field(default_factory=ThrottleRule)
    """One-time code submits (login, registration, recovery, verification); the identifier is
    the address the code was sent to."""
    totp: ThrottleRule = field(default_factory=ThrottleRule)
    """TOTP code submits; the identifier is the identity id."""
    lookup_secret: ThrottleRule = field(default_factory=ThrottleRule)
    """Backup (lookup) code submits; the identifier is the identity id."""
    webauthn: ThrottleRule = field(default_factory=ThrottleRule)
    """WebAuthn and passkey assertions; the identifier is the identity id or user handle."""
    code_sending: ThrottleRule = field(default_factory=ThrottleRule)
    """Codes and links sent by the courier (mail bombing); the identifier is the recipient."""
    flow_creation: ThrottleRule = field(default_factory=ThrottleRule)
    """Self-service flows created (login, registration, recovery, verification), per client."""

    def rule(self, kind: str) -> ThrottleRule:
        """The effective rule of ``kind`` (defaults filled in).

        Raises:
            KeyError: ``kind`` is none of the kinds above.
        """
        if kind not in THROTTLE_DEFAULTS:
            raise KeyError(f"unknown throttle kind {kind!r} (known: {', '.join(THROTTLE_DEFAULTS)})")
        return getattr(self, kind).resolved(kind)


# ------------------------------------------------------------------------ security and clients


class AccountEnumeration(OpenSection):
    """``security.account_enumeration``."""

    mitigate: bool = False


class Audit(Section):
    """``security.audit``: the audit log (not a Kratos key; docs/security.md)."""

    enabled: bool = True
    """Persist every event of the catalogue in ``audit_events`` (on by default)."""
    retention: timedelta = timedelta(days=90)
    """Rows older than this are deleted (hourly, and at start)."""
    queue_size: int = 10000
    """Events buffered in memory before the background writer stores them; past it the
    oldest buffered events are dropped (counted in ``kratos_audit_dropped_total``)."""
    flush_interval: timedelta = timedelta(milliseconds=500)
    """How often the background writer stores buffered events."""


class Security(OpenSection):
    """``security``."""

    account_enumeration: AccountEnumeration = field(default_factory=AccountEnumeration)
    disallow_ref_in_identity_schemas: bool = False
    rate_limits: RateLimits = field(default_factory=RateLimits)
    """Throttling and lockout (beyond Kratos; :class:`RateLimits`)."""
    audit: Audit = field(default_factory=Audit)
    """The audit log (beyond Kratos; :class:`Audit`)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (CIDR) of reverse proxies whose ``X-Forwarded-For`` names the
    client (beyond Kratos). Default none: the peer address counts."""


class ClientsHttp(OpenSection):
    """``clients.http``."""

    disallow_private_ip_ranges: bool = False
    private_ip_exception_urls: tuple[str, ...] = ()


class ClientsSmtp(OpenSection):
    """``clients.smtp``."""

    disallow_private_ip_ranges: bool = False


_DEFAULT_HEADER_ALLOWLIST = (
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Content-Length",
    "Content-Type",
    "Origin",
    "Priority",
    "Referer",
    "Sec-Ch-Ua",
    "Sec-Ch-Ua-Mobile",
    "Sec-Ch-Ua-Platform",
    "Sec-Fetch-Dest",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
    "Sec-Fetch-User",
    "True-Client-Ip",
    "User-Agent",
)


class ClientsWebHook(OpenSection):
    """``clients.web_hook``."""

    header_allowlist: tuple[str, ...] = _DEFAULT_HEADER_ALLOWLIST


class Clients(OpenSection):
    """``clients``."""

    http: ClientsHttp = field(default_factory=ClientsHttp)
    smtp: ClientsSmtp = field(default_factory=ClientsSmtp)
    web_hook: ClientsWebHook = field(default_factory=ClientsWebHook)


# ------------------------------------------------------------------------------ log, database


_REDACTION_TEXT = (
    "Value is sensitive and has been redacted. To see the value set config key "
    '"log.leak_sensitive_values = true" or environment variable "LOG_LEAK_SENSITIVE_VALUES=true".'
)


class Log(Section):
    """``log``."""

    level: Literal["trace", "debug", "info", "warning", "error", "fatal", "panic"] = "info"
    format: Literal["json", "text"] = "text"
    leak_sensitive_values: bool = False
    redaction_text: str = _REDACTION_TEXT


class CleanupSleep(OpenSection):
    """``database.cleanup.sleep``."""

    tables: timedelta = timedelta(minutes=1)


class Cleanup(OpenSection):
    """``database.cleanup`` (used by ``kratos cleanup sql``)."""

    batch_size: Annotated[int, Meta(ge=1)] = 100
    sleep: CleanupSleep = field(default_factory=CleanupSleep)
    older_than: timedelta = timedelta(0)


class Database(Section):
    """``database``."""

    cleanup: Cleanup = field(default_factory=Cleanup)


class Plugins(Section):
    """``plugins`` (beyond Kratos): which plugins not to load, and plugin-owned sections.

    ``plugins.<name>.config`` sections are declared by plugins (``kratos_register_config``)
    and validated against their model; any other key under ``plugins`` is an error.
    """

    blocked: tuple[str, ...] = ()
    """Entry-point names (or built-in module names) of plugins not to load; added to the
    comma-separated ``KRATOS_BLOCKED_PLUGINS``."""


class FeatureFlags(Section):
    """``feature_flags``."""

    use_continue_with_transitions: bool = False
    choose_recovery_address: bool = False
    legacy_continue_with_verification_ui: bool = False
    legacy_require_verified_login_error: bool = False
    faster_session_extend: bool = False
    #: Kratos's switch (only effective in Ory Network there). Here: the per-process session
    #: cache on PostgreSQL, on unless set to ``false`` (None: not set).
    cacheable_sessions: bool | None = None
    cacheable_sessions_max_age: timedelta | None = None
    legacy_allow_insecure_origins: bool = False
    refresh_login_choose_address: bool = False
    password_profile_registration_node_group: Literal["password", "default"] = "default"
    legacy_oidc_registration_node_group: bool = False


class OAuth2Provider(Section):
    """``oauth2_provider`` (Ory Hydra integration)."""

    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    override_return_to: bool = False


class Preview(OpenSection):
    """``preview``."""

    default_read_consistency_level: Literal["strong", "eventual"] = "strong"


class Enterprise(Section):
    """``enterprise``."""

    identity_schema_fallback_url_template: str | None = None


# ---------------------------------------------------------------------------------- top level


class Config(Section):
    """The effective configuration: Kratos's keys plus where they were loaded from.

    Build it with :func:`kratos_core.config.load_config`; constructing it directly skips the
    validation and derived defaults.

    Attributes:
        files: Absolute paths of the config files, in merge order.
        source_dir: The directory relative ``file://`` URLs and paths are resolved against (the
            working directory at load time, as Kratos resolves them).
        fragments: Plugin-declared sections by dotted path (use :meth:`fragment`).
        explicit_methods: Methods whose ``enabled: true`` was set explicitly (file, environment
            or override) rather than coming from Kratos's defaults.
    """

    dsn: _SensitiveStr
    identity: Identity
    selfservice: Selfservice
    version: str | None = None
    dev: bool = False
    help: bool = False
    sqa_opt_out: bool = field(default=False, name="sqa-opt-out")
    watch_courier: bool = field(default=False, name="watch-courier")
    expose_metrics_port: Annotated[int, Meta(ge=0, le=65535)] = field(
        default=0, name="expose-metrics-port"
    )
    config: tuple[str, ...] = ()
    revision: str | None = None
    serve: Serve = field(default_factory=Serve)
    session: Session = field(default_factory=Session)
    cookies: Cookies = field(default_factory=Cookies)
    secrets: Secrets = field(default_factory=Secrets)
    ciphers: Ciphers = field(default_factory=Ciphers)
    hashers: Hashers = field(default_factory=Hashers)
    courier: Courier = field(default_factory=Courier)
    security: Security = field(default_factory=Security)
    clients: Clients = field(default_factory=Clients)
    log: Log = field(default_factory=Log)
    database: Database = field(default_factory=Database)
    feature_flags: FeatureFlags = field(default_factory=FeatureFlags)
    oauth2_provider: OAuth2Provider = field(default_factory=OAuth2Provider)
    preview: Preview = field(default_factory=Preview)
    enterprise: Enterprise = field(default_factory=Enterprise)
    tracing: Mapping[str, Any] = field(default_factory=dict)
    organizations: tuple[Mapping[str, Any], ...] = ()
    plugins: Plugins = field(default_factory=Plugins)
    # Runtime provenance, not config keys (the loader refuses them in files; see RUNTIME_FIELDS).
    files: tuple[str, ...] = ()
    source_dir: str = ""
    fragments: Mapping[str, Any] = field(default_factory=dict)
    explicit_methods: tuple[str, ...] = ()

    def fragment(self, path: str) -> Any:
        """Return the validated plugin section declared for ``path``.

        Args:
            path: The dotted path the plugin declared, e.g. ``selfservice.methods.password.config``.

        Returns:
            The plugin's Struct instance (built from its defaults when the section is absent).

        Raises:
            KeyError: If no fragment type was declared for ``path`` when loading.
        """
        try:
            return self.fragments[path]
        except KeyError:
            declared = ", ".join(sorted(self.fragments)) or "none"
            raise KeyError(
                f"no config fragment declared for {path!r} (declared: {declared})"
            ) from None

    def secrets_for(self, purpose: str) -> tuple[str, ...]:
        """Return the secrets for ``purpose``, newest first.

        ``cookie`` and ``pagination`` fall back to ``secrets.default`` when empty, as Kratos does;
        ``cipher`` never falls back (cipher keys must be exactly 32 characters).

        Args:
            purpose: ``default``, ``cookie``, ``cipher`` or ``pagination``.

        Returns:
            The secrets (possibly empty only for ``cipher``).

        Raises:
            ValueError: For an unknown purpose.
        """
        if purpose not in ("default", "cookie", "cipher", "pagination"):
            raise ValueError(f"unknown secrets purpose {purpose!r}")
        own: tuple[str, ...] = getattr(self.secrets, purpose)
        if own or purpose == "cipher":
            return own
        return self.secrets.default

    def resolve_path(self, url_or_path: str) -> Path:
        """Resolve a local ``file://`` URL or a plain path against :attr:`source_dir`.

        Kratos accepts ``file:///abs/path``, ``file://./rel/path`` and ``file://rel/path``.

        Args:
            url_or_path: The URL or path from the config.

        Returns:
            An absolute path.
        """
        text = url_or_path
        if text.startswith("file://"):
            parts = urlsplit(text)
            # "file://./x" and "file://contrib/x" put the first segment into the netloc.
            text = unquote(parts.netloc + parts.path)
        path = Path(text)
        return path if path.is_absolute() else Path(self.source_dir or ".").joinpath(path).resolve()

    def to_dict(self) -> dict[str, Any]:
        """Return the effective config as plain JSON-compatible data, with secrets redacted.

        Durations are Go strings (``"1h"``), plugin fragments appear at their paths with their
        defaults filled in. Meant for diagnostics (``kratos config show``-style output, logs).

        Returns:
            A mutable nested dict.
        """
        out = _dump(self, top=True)
        for path, value in self.fragments.items():
            _place(out, path.split("."), _dump(value))
        return _redact(out)


# ----------------------------------------------------------------------------- to_dict helpers

_REDACTED = "<redacted>"


def _dump(value: Any, *, top: bool = False) -> Any:
    if isinstance(value, msgspec.Struct):
        out = {}
        for info in msgspec.structs.fields(value):
            if top and info.name in RUNTIME_FIELDS:
                continue
            out[info.encode_name] = _dump(getattr(value, info.name))
        return out
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    return value


def _place(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def _redact(tree: dict[str, Any]) -> dict[str, Any]:
    secrets_section = tree.get("secrets", {})
    for name, values in secrets_section.items():
        secrets_section[name] = [_REDACTED for _ in values]
    return _redact_values(tree)


def _redact_values(value: Any) -> Any:
    # Opaque sections (hook auth, OIDC providers ...) can hold credentials under telling names.
    if isinstance(value, dict):
        return {
            k: _REDACTED if _is_secret_key(k) and isinstance(v, str) and v else _redact_values(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_values(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        return _mask_url_password(value)
    return value


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return "password" in lowered or "secret" in lowered or lowered in ("private_key", "base64")


def _mask_url_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", f":{_REDACTED}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
