"""Kratos's courier ``request_config``: where to send, how to authenticate, the Jsonnet body.

The same shape serves ``courier.channels[].request_config`` (SMS) and
``courier.http.request_config`` (email with ``courier.delivery_strategy: http``)::

    url: https://sms.example.org/send
    method: POST
    headers: {Content-Type: application/json}
    body: base64://...        # Jsonnet: function(ctx) { ... }; file:// and http(s):// too
    auth: {type: basic_auth, config: {user: u, password: p}}
          # or {type: api_key, config: {name: X-API-Key, value: secret, in: header|cookie}}

The Jsonnet function gets ``ctx`` = ``{recipient, subject, body, html_body (email only),
template_type, template_data, message_type, request_headers}``; without ``body`` the request
carries :func:`default_body`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import ssl
from typing import TYPE_CHECKING, Any, Literal

import httpx
import msgspec

from kratos_core.api import ConfigError, DeliveryError, Message

if TYPE_CHECKING:  # pragma: no cover
    from kratos_core.api import Config

__all__ = ["RequestConfig", "BodyTemplate", "build_context", "default_body", "render_body", "send", "load_request_config"]

#: Kratos's HTTP courier timeout, in seconds.
DEFAULT_TIMEOUT = 10.0

_DEFAULT_BODY_FIELDS = ("to", "recovery_code", "recovery_url", "verification_url", "verification_code")


class BasicAuthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    user: str
    password: str


class ApiKeyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    value: str
    in_: Literal["header", "cookie"] = msgspec.field(default="header", name="in")


class Auth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``auth``: ``basic_auth`` (``user``, ``password``) or ``api_key`` (``name``, ``value``, ``in``)."""

    type: Literal["basic_auth", "api_key"]
    config: dict[str, Any]


class RequestConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A validated ``request_config``.

    Attributes:
        url: Where to send (``http://`` or ``https://``).
        method: The HTTP method (Kratos: POST unless set).
        headers: Extra request headers.
        body: URI of the Jsonnet body template (None: :func:`default_body`).
        auth: Credentials for the gateway.
    """

    url: str
    method: str = "POST"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    body: str | None = None
    auth: Auth | None = None


class BodyTemplate(msgspec.Struct, frozen=True):
    """A loaded Jsonnet body: its source and the name imports resolve against."""

    filename: str
    source: str


class Prepared(msgspec.Struct, frozen=True):
    """A request config ready to use: the config, its body template, its auth headers/cookies."""

    config: RequestConfig
    template: BodyTemplate | None
    headers: dict[str, str]
    cookies: dict[str, str]
    basic_auth: tuple[str, str] | None


def build_context(message: Message) -> dict[str, Any]:
    """The Jsonnet ``ctx`` for one message (Kratos's fields)."""
    ctx: dict[str, Any] = {
        "recipient": message.recipient,
        "subject": message.subject,
        "body": message.body,
        "template_type": message.template_type,
        "template_data": message.template_data,
        "message_type": "email" if message.type == "email" else "sms",
        "request_headers": {},
    }
    if message.type == "email":
        ctx["html_body"] = message.html_body or ""
    return ctx


def default_body(ctx: dict[str, Any]) -> dict[str, Any]:
    """Kratos's body when ``request_config.body`` is unset: key fields, null when absent."""
    data = ctx.get("template_data") or {}
    out: dict[str, Any] = {"recipient": ctx["recipient"], "template_type": ctx["template_type"]}
    out.update({name: data.get(name) for name in _DEFAULT_BODY_FIELDS})
    out["subject"] = ctx.get("subject")
    out["body"] = ctx.get("body")
    return out


def render_body(template: BodyTemplate | None, ctx: dict[str, Any]) -> bytes:
    """The request body: the Jsonnet function applied to ``ctx``, or the default body.

    Raises:
        ValueError: The Jsonnet template failed (syntax or runtime error).
    """
    if template is None:
        return json.dumps(default_body(ctx)).encode()
    import _jsonnet  # the "jsonnet" distribution (Google's C++ Jsonnet)

    try:
        out = _jsonnet.evaluate_snippet(template.filename, template.source, tla_codes={"ctx": json.dumps(ctx)})
    except RuntimeError as exc:
        raise ValueError(f"the Jsonnet body template failed: {exc}") from exc
    return out.encode()


def _load_template(uri: str, config: Config, key: str) -> BodyTemplate:
    try:
        if uri.startswith("base64://"):
            raw = uri[len("base64://") :]
            return BodyTemplate("body.jsonnet", base64.b64decode(raw + "=" * (-len(raw) % 4)).decode())
        if uri.startswith("file://"):
            path = config.resolve_path(uri)
            return BodyTemplate(str(path), path.read_text())
        if uri.startswith(("http://", "https://")):
            response = httpx.get(uri, timeout=DEFAULT_TIMEOUT, follow_redirects=True)
            response.raise_for_status()
            return BodyTemplate(uri, response.text)
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError, httpx.HTTPError) as exc:
        raise ConfigError(key, f"cannot read the body template: {exc}") from exc
    raise ConfigError(key, "the body must be a file://, base64:// or http(s):// URI")


def _auth_parts(auth: Auth | None, key: str) -> tuple[dict[str, str], dict[str, str], tuple[str, str] | None]:
    if auth is None:
        return {}, {}, None
    try:
        if auth.type == "basic_auth":
            basic = msgspec.convert(auth.config, BasicAuthConfig)
            return {}, {}, (basic.user, basic.password)
        api_key = msgspec.convert(auth.config, ApiKeyConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{key}.auth.config", str(exc)) from exc
    if api_key.in_ == "cookie":
        return {}, {api_key.name: api_key.value}, None
    return {api_key.name: api_key.value}, {}, None


def load_request_config(raw: Any, config: Config, key: str, *, message_type: str) -> Prepared:
    """Validate a ``request_config`` and load its body template (at start-up).

    Args:
        raw: The config mapping.
        config: The whole config (for relative ``file://`` URIs).
        key: Its config path, for errors (``courier.channels.0.request_config``).
        message_type: ``sms`` or ``email``: the body template is tried on a sample of it.

    Raises:
        ConfigError: Unknown keys, a bad URL or auth, or a body template that does not load or
            evaluate.
    """
    from kratos_core.api import thaw

    try:
        parsed = msgspec.convert(thaw(raw), RequestConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(key, str(exc)) from exc
    if not parsed.url.startswith(("http://", "https://")):
        raise ConfigError(f"{key}.url", "must be an http:// or https:// URL")
    template = _load_template(parsed.body, config, f"{key}.body") if parsed.body else None
    sample = {
        "recipient": "+15550100" if message_type == "sms" else "jane@example.org",
        "subject": "",
        "body": "Your code is 123456",
        "template_type": "login_code_valid",
        "template_data": {"login_code": "123456", "to": "jane@example.org"},
        "message_type": message_type,
        "request_headers": {},
    }
    if message_type == "email":
        sample.update(subject="Use code 123456 to log in", html_body="<p>Your code is 123456</p>")
    try:
        render_body(template, sample)
    except ValueError as exc:
        raise ConfigError(f"{key}.body", str(exc)) from exc
    headers, cookies, basic = _auth_parts(parsed.auth, key)
    return Prepared(parsed, template, headers, cookies, basic)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building the default context reads the CA bundle (tens of ms): once per process.
    return ssl.create_default_context()


async def send(prepared: Prepared, message: Message, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Send one message as one HTTP request; any 2xx answer means sent.

    Raises:
        DeliveryError: The body template failed, the gateway answered non-2xx, timed out or
            could not be reached.
    """
    try:
        # Jsonnet evaluation takes ~0.2 s of CPU (it parses its standard library each time) and
        # releases the GIL: keep it off the event loop.
        content = await asyncio.to_thread(render_body, prepared.template, build_context(message))
    except ValueError as exc:
        raise DeliveryError(str(exc)) from exc
    config = prepared.config
    headers = {"Content-Type": "application/json", **config.headers, **prepared.headers}
    try:
        client = httpx.AsyncClient(timeout=timeout, cookies=prepared.cookies or None, auth=prepared.basic_auth, verify=_tls_context())
        async with client:
            response = await client.request(config.method.upper(), config.url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"the gateway did not answer within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"the gateway could not be reached: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryError(
            f"the gateway answered HTTP {response.status_code}",
            details={"status_code": response.status_code, "response": response.text[:512]},
        )
