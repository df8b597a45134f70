"""The message catalogue (kratos-behaviour.md section 2.7).

UIs translate messages by ``id`` and interpolate from ``context``, so the ids and context keys
below are the wire contract; texts are American English and match Kratos's where known.

Two ways in:

* named constructors (``invalid_credentials()``, ``missing_property("email")``,
  ``flow_expired("login", expired_at)`` ...) for the messages the flows emit, and
* ``message(id, **context)`` plus the ``MESSAGES`` table, so every catalogued id is reachable
  even without a named constructor.

Texts with placeholders are rendered from the context, e.g. ``message(1010002, provider="GitHub",
provider_id="github")`` gives "Sign in with GitHub".
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from kratos_core.ui.text import MessageType, TextMessage

__all__ = [
    "MESSAGES",
    "MessageSpec",
    "FlowKind",
    "message",
    # login (1010xxx)
    "sign_in",
    "login_with_provider",
    "login_refresh",
    "login_mfa",
    "login_verify",
    "login_totp_label",
    "login_lookup_label",
    "login_webauthn",
    "login_totp",
    "login_lookup",
    "login_continue_webauthn",
    "login_webauthn_passwordless",
    "login_continue",
    "login_code_sent",
    "login_code",
    "login_link",
    "login_and_link",
    "login_confirm_with",
    "login_code_mfa",
    "login_passkey",
    "login_with_password",
    "login_code_to_address",
    "login_code_sent_mfa",
    # registration (1040xxx)
    "sign_up",
    "registration_with_provider",
    "registration_continue",
    "registration_webauthn",
    "registration_code_sent",
    "registration_code",
    "registration_passkey",
    "registration_back",
    "registration_choose_credentials",
    # settings (1050xxx)
    "settings_saved",
    "link_provider",
    "unlink_provider",
    "totp_unlink",
    "totp_qr",
    "totp_secret",
    "lookup_reveal",
    "lookup_regenerate",
    "lookup_secret",
    "lookup_codes_notice",
    "lookup_confirm",
    "webauthn_add",
    "webauthn_display_name",
    "lookup_secret_used",
    "lookup_secret_list",
    "lookup_disable",
    "totp_secret_label",
    "webauthn_remove",
    "passkey_add",
    "passkey_remove",
    "settings_managed_by_organization",
    # recovery (1060xxx)
    "recovery_successful",
    "recovery_link_sent",
    "recovery_code_sent",
    "recovery_code_sent_to",
    "recovery_ask_full_address",
    "recovery_choose_address",
    "recovery_back",
    # node labels (1070xxx)
    "label",
    "label_password",
    "trait_label",
    "label_save",
    "label_id",
    "label_submit",
    "label_verify_code",
    "label_email",
    "label_resend_code",
    "label_continue",
    "label_recovery_code",
    "label_verification_code",
    "label_registration_code",
    "label_login_code",
    "label_login_and_link",
    "label_captcha",
    "label_recovery_address",
    "label_phone_number",
    "label_email_or_phone",
    # verification (1080xxx)
    "verification_link_sent",
    "email_verified",
    "verification_code_sent",
    "verification_sms_code_sent",
    "phone_verified",
    # validation errors (4000xxx)
    "validation_generic",
    "missing_property",
    "min_length",
    "pattern_mismatch",
    "password_policy_violation",
    "invalid_credentials",
    "duplicate_credentials",
    "invalid_totp_code",
    "no_identifiers",
    "address_not_verified",
    "no_totp_device",
    "lookup_code_already_used",
    "no_webauthn_device",
    "no_lookup_codes",
    "no_security_key",
    "invalid_lookup_code",
    "max_length",
    "minimum",
    "exclusive_minimum",
    "maximum",
    "exclusive_maximum",
    "multiple_of",
    "max_items",
    "min_items",
    "unique_items",
    "wrong_type",
    "duplicate_credentials_on_oidc_link",
    "duplicate_credentials_with_hints",
    "const_mismatch",
    "const_failed",
    "password_identifier_too_similar",
    "password_too_short",
    "password_too_long",
    "password_breached",
    "no_code_user",
    "traits_mismatch",
    "account_not_found",
    "captcha_failed",
    "password_same_as_old",
    "invalid_email",
    "invalid_phone",
    "invalid_webauthn_login",
    # per-flow errors (40x0xxx) and system errors (5000xxx)
    "flow_expired",
    "flow_already_completed",
    "no_strategy",
    "invalid_login_code",
    "linked_credentials_mismatch",
    "address_unknown",
    "account_disabled",
    "invalid_registration_code",
    "one_address_at_a_time",
    "recovery_failed_state",
    "invalid_recovery_token",
    "invalid_recovery_code",
    "invalid_verification_token",
    "verification_failed_state",
    "invalid_verification_code",
    "system_error",
    "no_authentication_methods",
]

FlowKind = Literal["login", "registration", "settings", "recovery", "verification"]

#: Renders a message text from its context (for texts that need more than ``str.format``).
Renderer = Callable[[Mapping[str, Any]], str]


class MessageSpec(msgspec.Struct, frozen=True):
    """One catalogue entry.

    Attributes:
        id: Kratos's numeric id.
        type: ``info``, ``error`` or ``success``.
        template: ``str.format`` template over the context keys; ``None`` when the text is free
            (1070000) and must be passed explicitly.
        context_keys: The context keys Kratos sends with this id.
    """

    id: int
    type: MessageType
    template: str | None
    context_keys: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------


class _GoishFormatter(string.Formatter):
    """Formats context values roughly like Go's ``%v`` so texts read like Kratos's."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec:
            return super().format_field(value, format_spec)
        return _goish(value)


def _goish(value: Any) -> str:
    # Go prints whole floats without ".0" and booleans in lower case; JSON numbers decode to
    # float in some callers, so normalise to what a Kratos user would see.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


_FORMATTER = _GoishFormatter()


def _rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix (what Go's ``time.Time`` marshals to for UTC)."""
    return _as_utc(moment).isoformat().replace("+00:00", "Z")


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken to be UTC: the server stores and compares everything in UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    return _as_utc(datetime.fromisoformat(str(value)))


def _go_time_string(moment: datetime) -> str:
    """Go's ``time.Time.String()`` for a UTC time (used verbatim in 1050014's text)."""
    moment = _as_utc(moment)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + " +0000 UTC"


def _minutes_between(earlier: datetime, later: datetime) -> str:
    return "%.2f" % ((later - earlier).total_seconds() / 60)


def _now(now: datetime | None) -> datetime:
    return _as_utc(now) if now is not None else datetime.now(UTC)


def _moment_context(prefix: str, moment: datetime) -> dict[str, Any]:
    return {prefix: _rfc3339(moment), f"{prefix}_unix": int(_as_utc(moment).timestamp())}


# --------------------------------------------------------------------------------------------
# Renderers for texts that are computed rather than templated
# --------------------------------------------------------------------------------------------


def _render_expired(ctx: Mapping[str, Any], kind: str) -> str:
    minutes = _minutes_between(_parse_moment(ctx["expired_at"]), datetime.now(UTC))
    return f"The {kind} flow expired {minutes} minutes ago, please try again."


def _render_recovered(ctx: Mapping[str, Any]) -> str:
    minutes = _minutes_between(datetime.now(UTC), _parse_moment(ctx["privileged_session_expires_at"]))
    return _recovered_text(minutes)


def _recovered_text(minutes: str) -> str:
    return (
        "You successfully recovered your account. Please change your password or set up an "
        "alternative login method (e.g. social sign in) within the next "
        f"{minutes} minutes."
    )


def _render_secret_used(ctx: Mapping[str, Any]) -> str:
    return f"Secret was used at {_go_time_string(_parse_moment(ctx['used_at']))}"


def _render_secret_list(ctx: Mapping[str, Any]) -> str:
    # Used codes are shown as "used" so the list keeps its positions without leaking them.
    parts = []
    for item in ctx.get("secrets") or []:
        item_id = item.id if isinstance(item, TextMessage) else item.get("id")
        text = item.text if isinstance(item, TextMessage) else item.get("text", "")
        parts.append("used" if item_id == 1050014 else text)
    return ", ".join(parts)


def _render_wrong_type(ctx: Mapping[str, Any]) -> str:
    allowed = " or ".join(str(t) for t in ctx.get("allowed_types") or [])
    return f"expected {allowed}, but got {ctx['actual_type']}"


_CREDENTIAL_WORDS = {
    "password": "your password",
    "oidc": "social sign in",
    "webauthn": "your passkey or a security key",
    "passkey": "your passkey",
    "code": "a one-time code",
}


def _render_duplicate_with_hints(ctx: Mapping[str, Any]) -> str:
    hint = ctx.get("credential_identifier_hint") or "an email, phone, or username"
    text = f"You tried signing in with {hint} which is already in use by another account."
    methods = [_CREDENTIAL_WORDS.get(c, c) for c in ctx.get("available_credential_types") or []]
    if methods:
        text += f" You can sign in using {_join_or(methods)}."
    providers = [str(p).title() for p in ctx.get("available_oidc_providers") or []]
    if providers:
        text += " You can sign in using one of the following social sign in providers: "
        text += ", ".join(providers) + "."
    return text


def _join_or(words: Sequence[str]) -> str:
    if len(words) < 3:
        return " or ".join(words)
    return ", ".join(words[:-1]) + ", or " + words[-1]


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------

_SENT_HINT = (
    "If you have not received an email, check the spelling of the address and make sure to use "
    "the address you registered with."
)
_NO_STRATEGY_HINT = "Did you fill out the form correctly?"
_ALREADY_DONE = "The request was already completed successfully and can not be retried."

# (id, template, context keys, type). Type is derived from the id range unless given.
_TABLE: list[tuple[int, str | None, tuple[str, ...], MessageType | None]] = [
    # login
    (1010001, "Sign in", (), None),
    (1010002, "Sign in with {provider}", ("provider", "provider_id"), None),
    (1010003, "Please confirm this action by verifying that it is you.", (), None),
    (1010004, "Please complete the second authentication challenge.", (), None),
    (1010005, "Verify", (), None),
    (1010006, "Authentication code", (), None),
    (1010007, "Backup recovery code", (), None),
    (1010008, "Sign in with a hardware key", (), None),
    (1010009, "Use Authenticator", (), None),
    (1010010, "Use backup recovery code", (), None),
    (1010011, "Sign in with a hardware key", (), None),
    (
        1010012,
        "Prepare your WebAuthn device (e.g. security key, biometrics scanner, ...) and press continue.",
        (),
        None,
    ),
    (1010013, "Continue", (), None),
    (
        1010014,
        "A code was sent to the address you provided. If you didn't receive it, please check the "
        "spelling of the address and try again.",
        (),
        None,
    ),
    (1010015, "Send sign in code", (), None),
    (
        1010016,
        'You tried to sign in with "{duplicate_identifier}", but that email is already used by '
        "another account. Sign in to your account with one of the options below to add your "
        'account "{duplicate_identifier}" at "{provider}" as another way to sign in.',
        (
            "duplicateIdentifier",
            "provider",
            "newLoginUrl",
            "duplicate_identifier",
            "new_login_url",
            "available_credential_types",
            "available_providers",
        ),
        None,
    ),
    (1010017, "Sign in and link", (), None),
    (1010018, "Confirm with {provider}", ("provider",), None),
    (1010019, "Request code to continue", (), None),
    (1010021, "Sign in with passkey", (), None),
    (1010022, "Sign in with password", (), None),
    (1010023, "Send code to {address}", ("address", "channel"), None),
    (
        1010025,
        "A code was sent to your address. If you didn't receive it, please try again.",
        (),
        None,
    ),
    # registration
    (1040001, "Sign up", (), None),
    (1040002, "Sign up with {provider}", ("provider", "provider_id"), None),
    (1040003, "Continue", (), None),
    (1040004, "Sign up with security key", (), None),
    (
        1040005,
        "A code has been sent to the address(es) you provided. If you have not received a "
        "message, check the spelling of the address and retry the registration.",
        (),
        None,
    ),
    (1040006, "Send sign up code", (), None),
    (1040007, "Sign up with passkey", (), None),
    (1040008, "Back", (), None),
    (1040009, "Please choose a credential to authenticate yourself with.", (), None),
    # settings
    (1050001, "Your changes have been saved!", (), "success"),
    (1050002, "Link {provider}", ("provider",), None),
    (1050003, "Unlink {provider}", ("provider",), None),
    (1050004, "Unlink TOTP Authenticator App", (), None),
    (1050005, "Authenticator app QR code", (), None),
    (1050006, "{secret}", ("secret",), None),
    (1050007, "Reveal backup recovery codes", (), None),
    (1050008, "Generate new backup recovery codes", (), None),
    (1050009, "{secret}", ("secret",), None),
    (1050010, "These are your back up recovery codes. Please keep them in a safe place!", (), None),
    (1050011, "Confirm backup recovery codes", (), None),
    (1050012, "Add security key", (), None),
    (1050013, "Name of the security key", (), None),
    (1050014, "", ("used_at", "used_at_unix"), None),
    (1050015, "", ("secrets",), None),
    (1050016, "Disable this method", (), None),
    (
        1050017,
        "This is your authenticator app secret. Use it if you can not scan the QR code.",
        (),
        None,
    ),
    (1050018, 'Remove security key "{display_name}"', ("display_name", "added_at", "added_at_unix"), None),
    (1050019, "Add passkey", (), None),
    (1050020, 'Remove passkey "{display_name}"', ("display_name", "added_at", "added_at_unix"), None),
    (
        1050023,
        "Your account is managed by your organization. Please contact your administrator to "
        "change how you sign in.",
        (),
        None,
    ),
    # recovery
    (
        1060001,
        "",
        (
            "privilegedSessionExpiresAt",
            "privileged_session_expires_at",
            "privileged_session_expires_at_unix",
        ),
        "success",
    ),
    (
        1060002,
        "An email containing a recovery link has been sent to the email address you provided. "
        + _SENT_HINT,
        (),
        None,
    ),
    (
        1060003,
        "An email containing a recovery code has been sent to the email address you provided. "
        + _SENT_HINT,
        (),
        None,
    ),
    (
        1060004,
        "A recovery code has been sent to {masked_address}. If you have not received it, check "
        "the address and try again.",
        ("masked_address",),
        None,
    ),
    (1060005, "Recover access to your account by providing your recovery address in full.", (), None),
    (1060006, "How do you want to recover your account?", (), None),
    (1060007, "Back", (), None),
    # node labels
    (1070000, None, (), None),
    (1070001, "Password", (), None),
    (1070002, "{title}", ("title", "name"), None),
    (1070003, "Save", (), None),
    (1070004, "ID", (), None),
    (1070005, "Submit", (), None),
    (1070006, "Verify code", (), None),
    (1070007, "Email", (), None),
    (1070008, "Resend code", (), None),
    (1070009, "Continue", (), None),
    (1070010, "Recovery code", (), None),
    (1070011, "Verification code", (), None),
    (1070012, "Registration code", (), None),
    (1070013, "Login code", (), None),
    (1070014, "Login and link credential", (), None),
    (1070015, "Please complete the captcha challenge to continue.", (), None),
    (1070016, "Recovery address", (), None),
    (1070017, "Phone number", (), None),
    (1070018, "Email or phone number", (), None),
    # verification
    (
        1080001,
        "An email containing a verification link has been sent to the email address you "
        "provided. " + _SENT_HINT,
        (),
        None,
    ),
    (1080002, "You successfully verified your email address.", (), "success"),
    (
        1080003,
        "An email containing a verification code has been sent to the email address you "
        "provided. " + _SENT_HINT,
        (),
        None,
    ),
    (
        1080004,
        "A text message containing a verification code has been sent to the phone number you "
        "provided. If you have not received a message, check the spelling of the phone number "
        "and make sure to use the number you registered with.",
        (),
        None,
    ),
    (1080005, "You successfully verified your phone number.", (), "success"),
    # validation errors
    (4000001, "{reason}", ("reason",), None),
    (4000002, "Property {property} is missing.", ("property",), None),
    (
        4000003,
        "length must be >= {min_length}, but got {actual_length}",
        ("min_length", "actual_length"),
        None,
    ),
    (4000004, 'does not match pattern "{pattern}"', ("pattern",), None),
    (4000005, "The password can not be used because {reason}.", ("reason",), None),
    (
        4000006,
        "The provided credentials are invalid, check for spelling mistakes in your password or "
        "username, email address, or phone number.",
        (),
        None,
    ),
    (
        4000007,
        "An account with the same identifier (email, phone, username, ...) exists already.",
        (),
        None,
    ),
    (4000008, "The provided authentication code is invalid, please try again.", (), None),
    (
        4000009,
        "Could not find any login identifiers. Did you forget to set them? This could also be "
        "caused by a server misconfiguration.",
        (),
        None,
    ),
    (4000010, "Account not active yet. Did you forget to verify your email address?", (), None),
    (4000011, "You have no TOTP device set up.", (), None),
    (4000012, "This backup recovery code has already been used.", (), None),
    (4000013, "You have no WebAuthn device set up.", (), None),
    (4000014, "You have no backup recovery codes set up.", (), None),
    (4000015, "This account does not exist or has no security key set up.", (), None),
    (4000016, "The backup recovery code is not valid.", (), None),
    (
        4000017,
        "length must be <= {max_length}, but got {actual_length}",
        ("max_length", "actual_length"),
        None,
    ),
    (4000018, "must be >= {minimum} but found {actual}", ("minimum", "actual"), None),
    (4000019, "must be > {minimum} but found {actual}", ("minimum", "actual"), None),
    (4000020, "must be <= {maximum} but found {actual}", ("maximum", "actual"), None),
    (4000021, "must be < {maximum} but found {actual}", ("maximum", "actual"), None),
    (4000022, "{actual} not multipleOf {base}", ("base", "actual"), None),
    (
        4000023,
        "maximum {max_items} items allowed, but found {actual_items} items",
        ("max_items", "actual_items"),
        None,
    ),
    (
        4000024,
        "minimum {min_items} items allowed, but found {actual_items} items",
        ("min_items", "actual_items"),
        None,
    ),
    (4000025, "items at index {index_a} and {index_b} are equal", ("index_a", "index_b"), None),
    (4000026, "", ("allowed_types", "actual_type"), None),
    (
        4000027,
        "An account with the same identifier (email, phone, username, ...) exists already. "
        "Please sign in to your existing account to link your social profile.",
        (),
        None,
    ),
    (
        4000028,
        "",
        ("available_credential_types", "available_oidc_providers", "credential_identifier_hint"),
        None,
    ),
    (4000029, "must be equal to constant {expected}", ("expected",), None),
    (4000030, "const failed", (), None),
    (4000031, "The password can not be used because it is too similar to the identifier.", (), None),
    (
        4000032,
        "The password must be at least {min_length} characters long, but got {actual_length}.",
        ("min_length", "actual_length"),
        None,
    ),
    (
        4000033,
        "The password must be at most {max_length} characters long, but got {actual_length}.",
        ("max_length", "actual_length"),
        None,
    ),
    (
        4000034,
        "The password has been found in data breaches and must no longer be used.",
        ("breaches",),
        None,
    ),
    (4000035, "This account does not exist or has not setup sign in with code.", (), None),
    (
        4000036,
        "The provided traits do not match the traits previously associated with this flow.",
        (),
        None,
    ),
    (4000037, "This account does not exist or has no login method configured.", (), None),
    (4000038, "Captcha verification failed, please try again.", (), None),
    (4000039, "The new password must be different from the old password.", (), None),
    (4000040, "Enter a valid email address", ("value",), None),
    (4000041, "Enter a valid phone number", ("value",), None),
    (4000043, "The provided web authn login is invalid, please try again.", (), None),
    # per-flow errors
    (4010001, "", ("expired_at", "expired_at_unix"), None),
    (
        4010002,
        "Could not find a strategy to log you in with. Did you fill out the form correctly?",
        (),
        None,
    ),
    (4010003, "Could not find a strategy to sign you up with. " + _NO_STRATEGY_HINT, (), None),
    (4010004, "Could not find a strategy to update your settings. " + _NO_STRATEGY_HINT, (), None),
    (4010005, "Could not find a strategy to recover your account with. " + _NO_STRATEGY_HINT, (), None),
    (4010006, "Could not find a strategy to verify your account with. " + _NO_STRATEGY_HINT, (), None),
    (4010007, _ALREADY_DONE, (), None),
    (4010008, "The login code is invalid or has already been used. Please try again.", (), None),
    (4010009, "Linked credentials do not match.", (), None),
    (
        4010010,
        "The address you entered does not match any known addresses in the current account.",
        (),
        None,
    ),
    (4010011, "This account has been disabled. Please contact support for assistance.", (), None),
    (4040001, "", ("expired_at", "expired_at_unix"), None),
    (4040002, _ALREADY_DONE, (), None),
    (
        4040003,
        "The registration code is invalid or has already been used. Please try again.",
        (),
        None,
    ),
    (4050001, "", ("expired_at", "expired_at_unix"), None),
    (
        4050002,
        "You can only change one address at a time. Please update each address separately.",
        (),
        None,
    ),
    (4060001, _ALREADY_DONE, (), None),
    (4060002, "The recovery flow reached a failure state and must be retried.", (), None),
    (
        4060004,
        "The recovery token is invalid or has already been used. Please retry the flow.",
        (),
        None,
    ),
    (4060005, "", ("expired_at", "expired_at_unix"), None),
    (4060006, "The recovery code is invalid or has already been used. Please try again.", (), None),
    (
        4070001,
        "The verification token is invalid or has already been used. Please retry the flow.",
        (),
        None,
    ),
    (4070002, _ALREADY_DONE, (), None),
    (4070003, "The verification flow reached a failure state and must be retried.", (), None),
    (4070005, "", ("expired_at", "expired_at_unix"), None),
    (
        4070006,
        "The verification code is invalid or has already been used. Please try again.",
        (),
        None,
    ),
    # system errors
    (5000001, "{reason}", ("reason",), None),
    (
        5000002,
        "No authentication methods are available. Please contact the system administrator.",
        (),
        None,
    ),
]


def _default_type(message_id: int) -> MessageType:
    return "error" if message_id >= 4000000 else "info"


#: Every catalogued id -> its spec. Computed texts have an empty template and a renderer.
MESSAGES: dict[int, MessageSpec] = {
    mid: MessageSpec(mid, mtype or _default_type(mid), template, keys)
    for mid, template, keys, mtype in _TABLE
}

_EXPIRY_IDS: dict[str, int] = {
    "login": 4010001,
    "registration": 4040001,
    "settings": 4050001,
    "recovery": 4060005,
    "verification": 4070005,
}

_RENDERERS: dict[int, Renderer] = {
    1050014: _render_secret_used,
    1050015: _render_secret_list,
    1060001: _render_recovered,
    4000026: _render_wrong_type,
    4000028: _render_duplicate_with_hints,
    **{
        mid: (lambda ctx, _kind=kind: _render_expired(ctx, _kind))
        for kind, mid in _EXPIRY_IDS.items()
    },
}


def message(message_id: int, *, text: str | None = None, **context: Any) -> TextMessage:
    """Build catalogue message ``message_id`` with the given context.

    Args:
        message_id: A catalogued id (see ``MESSAGES``).
        text: Overrides the rendered text; required for free-text ids such as 1070000.
        **context: The context keys (sent as ``context``; omitted when none are given).

    Returns:
        The message, its text rendered from the context.

    Raises:
        KeyError: The id is not catalogued or the template needs a context key not given.
        ValueError: A free-text id was requested without ``text``.
    """
    spec = MESSAGES[message_id]
    if text is None:
        text = _render(spec, context)
    ctx: dict[str, Any] | msgspec.UnsetType = dict(context) if context else msgspec.UNSET
    return TextMessage(id=message_id, text=text, type=spec.type, context=ctx)


def _render(spec: MessageSpec, context: Mapping[str, Any]) -> str:
    renderer = _RENDERERS.get(spec.id)
    if renderer is not None:
        return renderer(context)
    if spec.template is None:
        raise ValueError(f"message {spec.id} has no fixed text; pass text=...")
    return _FORMATTER.vformat(spec.template, (), context)


# --------------------------------------------------------------------------------------------
# Named constructors: login (1010xxx)
# --------------------------------------------------------------------------------------------


def sign_in() -> TextMessage:
    """1010001 "Sign in"."""
    return message(1010001)


def login_with_provider(provider: str, provider_id: str) -> TextMessage:
    """1010002 "Sign in with {provider}" (``provider`` is the display label)."""
    return message(1010002, provider=provider, provider_id=provider_id)


def login_refresh() -> TextMessage:
    """1010003: confirm it is you (refresh login)."""
    return message(1010003)


def login_mfa() -> TextMessage:
    """1010004: complete the second authentication challenge."""
    return message(1010004)


def login_verify() -> TextMessage:
    """1010005 "Verify"."""
    return message(1010005)


def login_totp_label() -> TextMessage:
    """1010006 "Authentication code" (TOTP input label)."""
    return message(1010006)


def login_lookup_label() -> TextMessage:
    """1010007 "Backup recovery code" (lookup input label)."""
    return message(1010007)


def login_webauthn() -> TextMessage:
    """1010008 "Sign in with a hardware key"."""
    return message(1010008)


def login_totp() -> TextMessage:
    """1010009 "Use Authenticator" (TOTP submit)."""
    return message(1010009)


def login_lookup() -> TextMessage:
    """1010010 "Use backup recovery code"."""
    return message(1010010)


def login_continue_webauthn() -> TextMessage:
    """1010011 "Sign in with a hardware key" (continue WebAuthn)."""
    return message(1010011)


def login_webauthn_passwordless() -> TextMessage:
    """1010012: prepare your WebAuthn device and press continue."""
    return message(1010012)


def login_continue() -> TextMessage:
    """1010013 "Continue"."""
    return message(1010013)


def login_code_sent() -> TextMessage:
    """1010014: a code was sent to the address you provided."""
    return message(1010014)


def login_code() -> TextMessage:
    """1010015 "Send sign in code"."""
    return message(1010015)


def login_link(
    duplicate_identifier: str,
    provider: str,
    new_login_url: str,
    available_credential_types: Sequence[str] = (),
    available_providers: Sequence[str] = (),
) -> TextMessage:
    """1010016: the account-linking prompt (both camelCase and snake_case keys, as Kratos sends)."""
    return message(
        1010016,
        duplicateIdentifier=duplicate_identifier,
        provider=provider,
        newLoginUrl=new_login_url,
        duplicate_identifier=duplicate_identifier,
        new_login_url=new_login_url,
        available_credential_types=list(available_credential_types),
        available_providers=list(available_providers),
    )


def login_and_link() -> TextMessage:
    """1010017 "Sign in and link"."""
    return message(1010017)


def login_confirm_with(provider: str) -> TextMessage:
    """1010018 "Confirm with {provider}"."""
    return message(1010018, provider=provider)


def login_code_mfa() -> TextMessage:
    """1010019 "Request code to continue"."""
    return message(1010019)


def login_passkey() -> TextMessage:
    """1010021 "Sign in with passkey"."""
    return message(1010021)


def login_with_password() -> TextMessage:
    """1010022 "Sign in with password"."""
    return message(1010022)


def login_code_to_address(address: str, channel: str) -> TextMessage:
    """1010023 "Send code to {address}" (``channel`` is ``email`` or ``sms``)."""
    return message(1010023, address=address, channel=channel)


def login_code_sent_mfa() -> TextMessage:
    """1010025: a code was sent to your address (refresh / aal2 code login)."""
    return message(1010025)


# --------------------------------------------------------------------------------------------
# Registration (1040xxx)
# --------------------------------------------------------------------------------------------


def sign_up() -> TextMessage:
    """1040001 "Sign up"."""
    return message(1040001)


def registration_with_provider(provider: str, provider_id: str) -> TextMessage:
    """1040002 "Sign up with {provider}"."""
    return message(1040002, provider=provider, provider_id=provider_id)


def registration_continue() -> TextMessage:
    """1040003 "Continue"."""
    return message(1040003)


def registration_webauthn() -> TextMessage:
    """1040004 "Sign up with security key"."""
    return message(1040004)


def registration_code_sent() -> TextMessage:
    """1040005: a code has been sent to the address(es) you provided."""
    return message(1040005)


def registration_code() -> TextMessage:
    """1040006 "Send sign up code"."""
    return message(1040006)


def registration_passkey() -> TextMessage:
    """1040007 "Sign up with passkey"."""
    return message(1040007)


def registration_back() -> TextMessage:
    """1040008 "Back"."""
    return message(1040008)


def registration_choose_credentials() -> TextMessage:
    """1040009: choose a credential to authenticate yourself with."""
    return message(1040009)


# --------------------------------------------------------------------------------------------
# Settings (1050xxx)
# --------------------------------------------------------------------------------------------


def settings_saved() -> TextMessage:
    """1050001 "Your changes have been saved!" (success)."""
    return message(1050001)


def link_provider(provider: str) -> TextMessage:
    """1050002 "Link {provider}"."""
    return message(1050002, provider=provider)


def unlink_provider(provider: str) -> TextMessage:
    """1050003 "Unlink {provider}"."""
    return message(1050003, provider=provider)


def totp_unlink() -> TextMessage:
    """1050004 "Unlink TOTP Authenticator App"."""
    return message(1050004)


def totp_qr() -> TextMessage:
    """1050005 "Authenticator app QR code"."""
    return message(1050005)


def totp_secret(secret: str) -> TextMessage:
    """1050006: the TOTP secret itself."""
    return message(1050006, secret=secret)


def lookup_reveal() -> TextMessage:
    """1050007 "Reveal backup recovery codes"."""
    return message(1050007)


def lookup_regenerate() -> TextMessage:
    """1050008 "Generate new backup recovery codes"."""
    return message(1050008)


def lookup_secret(secret: str) -> TextMessage:
    """1050009: one unused backup code."""
    return message(1050009, secret=secret)


def lookup_codes_notice() -> TextMessage:
    """1050010: keep your backup recovery codes in a safe place."""
    return message(1050010)


def lookup_confirm() -> TextMessage:
    """1050011 "Confirm backup recovery codes"."""
    return message(1050011)


def webauthn_add() -> TextMessage:
    """1050012 "Add security key"."""
    return message(1050012)


def webauthn_display_name() -> TextMessage:
    """1050013 "Name of the security key"."""
    return message(1050013)


def lookup_secret_used(used_at: datetime) -> TextMessage:
    """1050014 "Secret was used at {time}" (context ``used_at``, ``used_at_unix``)."""
    return message(1050014, **_moment_context("used_at", used_at))


def lookup_secret_list(codes: Sequence[tuple[str, datetime | None]]) -> TextMessage:
    """1050015: the backup codes, joined by ", ".

    Args:
        codes: ``(code, used_at)`` pairs; ``used_at`` is ``None`` for unused codes.

    Returns:
        The list message; ``context.secrets`` holds one 1050009/1050014 message object per code.
    """
    secrets = [
        (lookup_secret(code) if used_at is None else lookup_secret_used(used_at)).to_dict()
        for code, used_at in codes
    ]
    return message(1050015, secrets=secrets)


def lookup_disable() -> TextMessage:
    """1050016 "Disable this method"."""
    return message(1050016)


def totp_secret_label() -> TextMessage:
    """1050017: this is your authenticator app secret."""
    return message(1050017)


def webauthn_remove(display_name: str, added_at: datetime) -> TextMessage:
    """1050018 "Remove security key \"{name}\""."""
    return message(1050018, display_name=display_name, **_moment_context("added_at", added_at))


def passkey_add() -> TextMessage:
    """1050019 "Add passkey"."""
    return message(1050019)


def passkey_remove(display_name: str, added_at: datetime) -> TextMessage:
    """1050020 "Remove passkey \"{name}\""."""
    return message(1050020, display_name=display_name, **_moment_context("added_at", added_at))


def settings_managed_by_organization() -> TextMessage:
    """1050023: the account is managed by an organization."""
    return message(1050023)


# --------------------------------------------------------------------------------------------
# Recovery (1060xxx)
# --------------------------------------------------------------------------------------------


def recovery_successful(
    privileged_session_expires_at: datetime,
    *,
    now: datetime | None = None,
) -> TextMessage:
    """1060001 (success): change your password within the next {n} minutes.

    Args:
        privileged_session_expires_at: When the privileged session ends.
        now: The current time (for tests); defaults to the clock.
    """
    expires = _rfc3339(privileged_session_expires_at)
    minutes = _minutes_between(_now(now), _as_utc(privileged_session_expires_at))
    return message(
        1060001,
        text=_recovered_text(minutes),
        privilegedSessionExpiresAt=expires,
        privileged_session_expires_at=expires,
        privileged_session_expires_at_unix=int(_as_utc(privileged_session_expires_at).timestamp()),
    )


def recovery_link_sent() -> TextMessage:
    """1060002: a recovery link has been sent."""
    return message(1060002)


def recovery_code_sent() -> TextMessage:
    """1060003: a recovery code has been sent."""
    return message(1060003)


def recovery_code_sent_to(masked_address: str) -> TextMessage:
    """1060004: a recovery code has been sent to {masked_address} (recovery v2)."""
    return message(1060004, masked_address=masked_address)


def recovery_ask_full_address() -> TextMessage:
    """1060005: provide your recovery address in full (recovery v2)."""
    return message(1060005)


def recovery_choose_address() -> TextMessage:
    """1060006: how do you want to recover your account (recovery v2)."""
    return message(1060006)


def recovery_back() -> TextMessage:
    """1060007 "Back"."""
    return message(1060007)


# --------------------------------------------------------------------------------------------
# Node labels (1070xxx)
# --------------------------------------------------------------------------------------------


def label(text: str) -> TextMessage:
    """1070000: a free label (e.g. a masked address in recovery v2)."""
    return message(1070000, text=text)


def label_password() -> TextMessage:
    """1070001 "Password"."""
    return message(1070001)


def trait_label(title: str, name: str) -> TextMessage:
    """1070002: a trait's schema ``title`` (context ``title`` and the node ``name``)."""
    return message(1070002, title=title, name=name)


def label_save() -> TextMessage:
    """1070003 "Save"."""
    return message(1070003)


def label_id() -> TextMessage:
    """1070004 "ID"."""
    return message(1070004)


def label_submit() -> TextMessage:
    """1070005 "Submit"."""
    return message(1070005)


def label_verify_code() -> TextMessage:
    """1070006 "Verify code"."""
    return message(1070006)


def label_email() -> TextMessage:
    """1070007 "Email"."""
    return message(1070007)


def label_resend_code() -> TextMessage:
    """1070008 "Resend code"."""
    return message(1070008)


def label_continue() -> TextMessage:
    """1070009 "Continue"."""
    return message(1070009)


def label_recovery_code() -> TextMessage:
    """1070010 "Recovery code"."""
    return message(1070010)


def label_verification_code() -> TextMessage:
    """1070011 "Verification code"."""
    return message(1070011)


def label_registration_code() -> TextMessage:
    """1070012 "Registration code"."""
    return message(1070012)


def label_login_code() -> TextMessage:
    """1070013 "Login code"."""
    return message(1070013)


def label_login_and_link() -> TextMessage:
    """1070014 "Login and link credential"."""
    return message(1070014)


def label_captcha() -> TextMessage:
    """1070015: complete the captcha challenge."""
    return message(1070015)


def label_recovery_address() -> TextMessage:
    """1070016 "Recovery address"."""
    return message(1070016)


def label_phone_number() -> TextMessage:
    """1070017 "Phone number"."""
    return message(1070017)


def label_email_or_phone() -> TextMessage:
    """1070018 "Email or phone number"."""
    return message(1070018)


# --------------------------------------------------------------------------------------------
# Verification (1080xxx)
# --------------------------------------------------------------------------------------------


def verification_link_sent() -> TextMessage:
    """1080001: a verification link has been sent."""
    return message(1080001)


def email_verified() -> TextMessage:
    """1080002 (success): you verified your email address."""
    return message(1080002)


def verification_code_sent() -> TextMessage:
    """1080003: a verification code has been sent by email."""
    return message(1080003)


def verification_sms_code_sent() -> TextMessage:
    """1080004: a verification code has been sent by text message."""
    return message(1080004)


def phone_verified() -> TextMessage:
    """1080005 (success): you verified your phone number."""
    return message(1080005)


# --------------------------------------------------------------------------------------------
# Validation errors (4000xxx)
# --------------------------------------------------------------------------------------------


def validation_generic(reason: str) -> TextMessage:
    """4000001: free text (also any 400 error raised during a submit)."""
    return message(4000001, reason=reason)


def missing_property(name: str) -> TextMessage:
    """4000002 "Property {name} is missing." (context key ``property``)."""
    return message(4000002, property=name)


def min_length(min_length: int, actual_length: int) -> TextMessage:
    """4000003 "length must be >= {min}, but got {n}"."""
    return message(4000003, min_length=min_length, actual_length=actual_length)


def pattern_mismatch(pattern: str) -> TextMessage:
    """4000004 "does not match pattern ..."."""
    return message(4000004, pattern=pattern)


def password_policy_violation(reason: str) -> TextMessage:
    """4000005 "The password can not be used because {reason}."."""
    return message(4000005, reason=reason)


def invalid_credentials() -> TextMessage:
    """4000006: the provided credentials are invalid."""
    return message(4000006)


def duplicate_credentials() -> TextMessage:
    """4000007: an account with the same identifier exists already."""
    return message(4000007)


def invalid_totp_code() -> TextMessage:
    """4000008: the authentication code is invalid."""
    return message(4000008)


def no_identifiers() -> TextMessage:
    """4000009: no login identifiers found."""
    return message(4000009)


def address_not_verified() -> TextMessage:
    """4000010: account not active yet."""
    return message(4000010)


def no_totp_device() -> TextMessage:
    """4000011: no TOTP device set up."""
    return message(4000011)


def lookup_code_already_used() -> TextMessage:
    """4000012: backup code already used."""
    return message(4000012)


def no_webauthn_device() -> TextMessage:
    """4000013: no WebAuthn device set up."""
    return message(4000013)


def no_lookup_codes() -> TextMessage:
    """4000014: no backup codes set up."""
    return message(4000014)


def no_security_key() -> TextMessage:
    """4000015: account does not exist or has no security key."""
    return message(4000015)


def invalid_lookup_code() -> TextMessage:
    """4000016: the backup code is not valid."""
    return message(4000016)


def max_length(max_length: int, actual_length: int) -> TextMessage:
    """4000017 "length must be <= {max}, but got {n}"."""
    return message(4000017, max_length=max_length, actual_length=actual_length)


def minimum(minimum: float, actual: float) -> TextMessage:
    """4000018 "must be >= {min} but found {v}"."""
    return message(4000018, minimum=minimum, actual=actual)


def exclusive_minimum(minimum: float, actual: float) -> TextMessage:
    """4000019 "must be > {min} but found {v}"."""
    return message(4000019, minimum=minimum, actual=actual)


def maximum(maximum: float, actual: float) -> TextMessage:
    """4000020 "must be <= {max} but found {v}"."""
    return message(4000020, maximum=maximum, actual=actual)


def exclusive_maximum(maximum: float, actual: float) -> TextMessage:
    """4000021 "must be < {max} but found {v}"."""
    return message(4000021, maximum=maximum, actual=actual)


def multiple_of(base: float, actual: float) -> TextMessage:
    """4000022 "{v} not multipleOf {base}"."""
    return message(4000022, base=base, actual=actual)


def max_items(max_items: int, actual_items: int) -> TextMessage:
    """4000023 "maximum {n} items allowed, but found {m} items"."""
    return message(4000023, max_items=max_items, actual_items=actual_items)


def min_items(min_items: int, actual_items: int) -> TextMessage:
    """4000024 "minimum {n} items allowed, but found {m} items"."""
    return message(4000024, min_items=min_items, actual_items=actual_items)


def unique_items(index_a: int, index_b: int) -> TextMessage:
    """4000025 "items at index {a} and {b} are equal"."""
    return message(4000025, index_a=index_a, index_b=index_b)


def wrong_type(allowed_types: Sequence[str], actual_type: str) -> TextMessage:
    """4000026 "expected {a or b}, but got {t}"."""
    return message(4000026, allowed_types=list(allowed_types), actual_type=actual_type)


def duplicate_credentials_on_oidc_link() -> TextMessage:
    """4000027: duplicate identifier during OIDC sign-up."""
    return message(4000027)


def duplicate_credentials_with_hints(
    available_credential_types: Sequence[str],
    available_oidc_providers: Sequence[str],
    credential_identifier_hint: str,
) -> TextMessage:
    """4000028: duplicate identifier, with hints on how to sign in instead."""
    return message(
        4000028,
        available_credential_types=list(available_credential_types),
        available_oidc_providers=list(available_oidc_providers),
        credential_identifier_hint=credential_identifier_hint,
    )


def const_mismatch(expected: Any) -> TextMessage:
    """4000029 "must be equal to constant {v}"."""
    return message(4000029, expected=expected)


def const_failed() -> TextMessage:
    """4000030 "const failed"."""
    return message(4000030)


def password_identifier_too_similar() -> TextMessage:
    """4000031: the password is too similar to the identifier."""
    return message(4000031)


def password_too_short(min_length: int, actual_length: int) -> TextMessage:
    """4000032 "The password must be at least {min} characters long, but got {n}."."""
    return message(4000032, min_length=min_length, actual_length=actual_length)


def password_too_long(max_length: int, actual_length: int) -> TextMessage:
    """4000033 "The password must be at most {max} characters long, but got {n}."."""
    return message(4000033, max_length=max_length, actual_length=actual_length)


def password_breached(breaches: int) -> TextMessage:
    """4000034: the password was found in data breaches."""
    return message(4000034, breaches=breaches)


def no_code_user() -> TextMessage:
    """4000035: account does not exist or has no code sign-in."""
    return message(4000035)


def traits_mismatch() -> TextMessage:
    """4000036: traits differ from the ones this flow started with."""
    return message(4000036)


def account_not_found() -> TextMessage:
    """4000037: account does not exist or has no login method."""
    return message(4000037)


def captcha_failed() -> TextMessage:
    """4000038: captcha verification failed."""
    return message(4000038)


def password_same_as_old() -> TextMessage:
    """4000039: the new password must differ from the old one."""
    return message(4000039)


def invalid_email(value: Any) -> TextMessage:
    """4000040 "Enter a valid email address"."""
    return message(4000040, value=value)


def invalid_phone(value: Any) -> TextMessage:
    """4000041 "Enter a valid phone number"."""
    return message(4000041, value=value)


def invalid_webauthn_login() -> TextMessage:
    """4000043: the WebAuthn login is invalid."""
    return message(4000043)


# --------------------------------------------------------------------------------------------
# Per-flow errors (40x0xxx) and system errors (5000xxx)
# --------------------------------------------------------------------------------------------


def flow_expired(flow_kind: FlowKind, expired_at: datetime, *, now: datetime | None = None) -> TextMessage:
    """4010001 / 4040001 / 4050001 / 4060005 / 4070005: "The <kind> flow expired {n} minutes ago".

    Args:
        flow_kind: Which flow expired.
        expired_at: When it expired.
        now: The current time (for tests); defaults to the clock.

    Returns:
        The message with ``{n}`` formatted ``%.2f`` and context ``expired_at`` (RFC 3339) and
        ``expired_at_unix``.
    """
    minutes = _minutes_between(_as_utc(expired_at), _now(now))
    text = f"The {flow_kind} flow expired {minutes} minutes ago, please try again."
    return message(_EXPIRY_IDS[flow_kind], text=text, **_moment_context("expired_at", expired_at))


_ALREADY_DONE_IDS: dict[str, int] = {
    "login": 4010007,
    "registration": 4040002,
    "recovery": 4060001,
    "verification": 4070002,
}


def flow_already_completed(flow_kind: FlowKind) -> TextMessage:
    """4010007 / 4040002 / 4060001 / 4070002: the request was already completed.

    Raises:
        KeyError: For ``settings``, which has no such message.
    """
    return message(_ALREADY_DONE_IDS[flow_kind])


_NO_STRATEGY_IDS: dict[str, int] = {
    "login": 4010002,
    "registration": 4010003,
    "settings": 4010004,
    "recovery": 4010005,
    "verification": 4010006,
}


def no_strategy(flow_kind: FlowKind) -> TextMessage:
    """4010002-4010006: could not find a strategy for this flow kind."""
    return message(_NO_STRATEGY_IDS[flow_kind])


def invalid_login_code() -> TextMessage:
    """4010008: the login code is invalid or used."""
    return message(4010008)


def linked_credentials_mismatch() -> TextMessage:
    """4010009 "Linked credentials do not match."."""
    return message(4010009)


def address_unknown() -> TextMessage:
    """4010010: the address matches no known address of the account."""
    return message(4010010)


def account_disabled() -> TextMessage:
    """4010011: this account has been disabled."""
    return message(4010011)


def invalid_registration_code() -> TextMessage:
    """4040003: the registration code is invalid or used."""
    return message(4040003)


def one_address_at_a_time() -> TextMessage:
    """4050002: change one address at a time."""
    return message(4050002)


def recovery_failed_state() -> TextMessage:
    """4060002: the recovery flow reached a failure state."""
    return message(4060002)


def invalid_recovery_token() -> TextMessage:
    """4060004: the recovery token is invalid or used."""
    return message(4060004)


def invalid_recovery_code() -> TextMessage:
    """4060006: the recovery code is invalid or used."""
    return message(4060006)


def invalid_verification_token() -> TextMessage:
    """4070001: the verification token is invalid or used."""
    return message(4070001)


def verification_failed_state() -> TextMessage:
    """4070003: the verification flow reached a failure state."""
    return message(4070003)


def invalid_verification_code() -> TextMessage:
    """4070006: the verification code is invalid or used."""
    return message(4070006)


def system_error(reason: str) -> TextMessage:
    """5000001: free text (system error)."""
    return message(5000001, reason=reason)


def no_authentication_methods() -> TextMessage:
    """5000002: no authentication methods are available."""
    return message(5000002)
