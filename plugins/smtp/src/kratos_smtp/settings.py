"""``courier.smtp``: the connection URI and sender settings, parsed once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

if TYPE_CHECKING:  # pragma: no cover
    from kratos_core.api import Config

__all__ = ["SmtpSettings", "parse_connection_uri", "settings_from_config", "has_line_break"]

#: Query options of ``connection_uri`` (Kratos's names); anything else is a typo: fail at boot.
_OPTIONS = frozenset({"disable_starttls", "skip_ssl_verify", "server_name", "legacy_ssl"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SmtpSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach the SMTP server and who the mail is from.

    Attributes:
        host: Server host.
        port: Server port (default 25 for ``smtp://``, 465 for ``smtps://``).
        username: Login user (from the URI), or None for no login.
        password: Login password (from the URI).
        implicit_tls: ``smtps://`` (or ``legacy_ssl=true``): TLS from the first byte.
        starttls: Upgrade a plain connection with STARTTLS; mandatory unless
            ``disable_starttls=true`` (a server without STARTTLS fails the attempt).
        verify_certificates: False with ``skip_ssl_verify=true``.
        server_name: Name to verify the certificate against (and send as SNI) instead of host.
        from_address: ``courier.smtp.from_address``.
        from_name: ``courier.smtp.from_name``.
        headers: ``courier.smtp.headers``: extra headers on every mail.
        local_name: ``courier.smtp.local_name``: the HELO/EHLO name.
        client_cert_path: TLS client certificate (PEM), if any.
        client_key_path: Its key (PEM), if any.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = True
    verify_certificates: bool = True
    server_name: str | None = None
    from_address: str = "no-reply@ory.kratos.sh"
    from_name: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    local_name: str = "localhost"
    client_cert_path: str | None = None
    client_key_path: str | None = None


def has_line_break(value: str | None) -> bool:
    """Whether ``value`` holds a CR or LF (which would start a new SMTP header line)."""
    return value is not None and ("\r" in value or "\n" in value)


def _flag(options: Mapping[str, str], name: str) -> bool:
    raw = options.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f'option "{name}" must be true or false, got "{raw}"')


def parse_connection_uri(uri: str) -> SmtpSettings:
    """Parse ``smtp://user:pass@host:port/?options`` or ``smtps://...``.

    Raises:
        ValueError: Unknown scheme or option, missing host, bad port (the message never
            includes the password).
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(f'the scheme must be smtp:// or smtps://, got "{scheme}://"')
    if not parts.hostname:
        raise ValueError("the URI has no host")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValueError(f'unknown option "{unknown[0]}" (known: {", ".join(sorted(_OPTIONS))})')
    implicit = scheme == "smtps" or _flag(options, "legacy_ssl")
    try:
        port = parts.port or (465 if implicit else 25)
    except ValueError as exc:
        raise ValueError("the port must be a number between 1 and 65535") from exc
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit,
        starttls=not implicit and not _flag(options, "disable_starttls"),
        verify_certificates=not _flag(options, "skip_ssl_verify"),
        server_name=options.get("server_name") or None,
    )


def settings_from_config(config: Config) -> SmtpSettings | None:
    """The settings ``courier.smtp`` describes, or None when no ``connection_uri`` is set.

    Raises:
        ValueError: The URI is invalid, or a sender setting holds a line break.
    """
    smtp = config.courier.smtp
    if not smtp.connection_uri:
        return None
    base = parse_connection_uri(smtp.connection_uri)
    headers = {str(k): str(v) for k, v in dict(smtp.headers).items()}
    for label, value in (("from_address", smtp.from_address), ("from_name", smtp.from_name), ("local_name", smtp.local_name)):
        if has_line_break(value):
            raise ValueError(f"{label} must not contain line breaks")
    for name, value in headers.items():
        if has_line_break(name) or has_line_break(value) or ":" in name:
            raise ValueError(f'header "{name.strip()}" must be one line and its name must not contain ":"')
    return msgspec.structs.replace(
        base,
        from_address=smtp.from_address,
        from_name=smtp.from_name or None,
        headers=headers,
        local_name=smtp.local_name or "localhost",
        client_cert_path=config.resolve_path(smtp.client_cert_path).as_posix() if smtp.client_cert_path else None,
        client_key_path=config.resolve_path(smtp.client_key_path).as_posix() if smtp.client_key_path else None,
    )
