"""Courier templates: Jinja2, one set per template type and channel, overridable from config.

Templates are **Jinja2**, not Go templates: write ``{{ login_code }}`` (the JSON field names of
section 8.2) where Kratos writes ``{{ .LoginCode }}``; the CamelCase names are accepted as
aliases (``{{ LoginCode }}``) to ease moving templates over. HTML bodies are auto-escaped;
subjects, plaintext bodies and SMS bodies are not.

Where a template comes from, first match wins (as in Kratos):

1. ``courier.templates.<template>.<valid|invalid>.email.{subject, body.html, body.plaintext}``
   or ``...sms.body.plaintext``: a ``file://``, ``base64://`` or ``http(s)://`` URI;
2. ``courier.template_override_path``: ``<template>/<valid|invalid>/email.subject.<ext>``,
   ``email.body.<ext>``, ``email.body.plaintext.<ext>``, ``sms.body.<ext>`` where ``<ext>`` is
   ``gotmpl`` (Kratos's file names; the content must be Jinja2), ``jinja2``, ``j2``, ``jinja``
   or ``tmpl``; templates there may ``{% include %}`` or ``{% extends %}`` files of the same
   directory tree;
3. the built-in templates next to this module.

:meth:`Templates.validate` renders every template with sample data; the server calls it at
start-up, so a broken override stops the start instead of failing at send time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import msgspec
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..config import ConfigError
from ..config.frozen import thaw
from ..config.model import Section
from .model import SMS_TEMPLATE_TYPES, TEMPLATE_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

__all__ = ["Templates", "Rendered", "TemplatesConfig", "TemplateRenderError", "OVERRIDE_EXTENSIONS", "layout_of"]

BUILTIN_DIR = Path(__file__).parent / "templates"

#: File extensions accepted in ``courier.template_override_path``, in lookup order.
OVERRIDE_EXTENSIONS: tuple[str, ...] = ("gotmpl", "jinja2", "j2", "jinja", "tmpl")

_EMAIL_PARTS = ("email.subject", "email.body", "email.body.plaintext")
_SMS_PARTS = ("sms.body",)
_UNESCAPED_PREFIXES = ("email.subject", "email.body.plaintext", "sms.body")


class TemplateRenderError(Exception):
    """A template failed to render a message (a programming or data error at queue time)."""


class Rendered(msgspec.Struct, frozen=True):
    """A rendered message: ``subject`` and ``html_body`` are empty/None for SMS."""

    subject: str
    body: str
    html_body: str | None


# -- courier.templates: typed, so a misspelt key fails at start-up ------------------------------


class _EmailBody(Section):
    html: str | None = None
    plaintext: str | None = None


class _EmailTemplate(Section):
    subject: str | None = None
    body: _EmailBody | None = None


class _SmsBody(Section):
    plaintext: str | None = None


class _SmsTemplate(Section):
    body: _SmsBody | None = None


class _Variant(Section):
    email: _EmailTemplate | None = None
    sms: _SmsTemplate | None = None


class _Template(Section):
    valid: _Variant | None = None
    invalid: _Variant | None = None


class _ValidOnly(Section):
    valid: _Variant | None = None


class TemplatesConfig(Section):
    """``courier.templates``: per-template URIs (kratos-behaviour.md section 8.2)."""

    recovery: _Template | None = None
    recovery_code: _Template | None = None
    verification: _Template | None = None
    verification_code: _Template | None = None
    login_code: _ValidOnly | None = None
    registration_code: _ValidOnly | None = None


def layout_of(template_type: str) -> tuple[str, str]:
    """``login_code_valid`` -> ``("login_code", "valid")``; Kratos's test ``stub`` is valid."""
    if template_type == "stub":
        return "stub", "valid"
    directory, _, variant = template_type.rpartition("_")
    return directory, variant


def _parts(channel: str) -> tuple[str, ...]:
    return _EMAIL_PARTS if channel == "email" else _SMS_PARTS


def _uri_of(variant: _Variant | None, part: str) -> str | None:
    if variant is None:
        return None
    if part.startswith("sms."):
        return variant.sms.body.plaintext if variant.sms and variant.sms.body else None
    email = variant.email
    if email is None:
        return None
    if part == "email.subject":
        return email.subject
    body = email.body
    if body is None:
        return None
    return body.plaintext if part == "email.body.plaintext" else body.html


def _config_key(directory: str, variant: str, part: str) -> str:
    suffix = {"email.subject": "email.subject", "email.body": "email.body.html"}.get(part, part)
    if part == "sms.body":
        suffix = "sms.body.plaintext"
    return f"courier.templates.{directory}.{variant}.{suffix}"


def _autoescape(name: str | None) -> bool:
    # Escape by default (HTML bodies and their partials); text parts must stay verbatim.
    base = (name or "").rsplit("/", 1)[-1]
    return not base.startswith(_UNESCAPED_PREFIXES)


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _context(data: Mapping[str, Any]) -> dict[str, Any]:
    context = {_camel(k): v for k, v in data.items()}
    context.update(data)
    return context


def _sample_data(template_type: str) -> dict[str, Any]:
    """Data of the shape section 8.2 gives each template type, for start-up validation."""
    identity = {"id": "00000000-0000-4000-8000-000000000000", "traits": {"email": "jane@example.org"}}
    data: dict[str, Any] = {
        "to": "jane@example.org",
        "request_url": "https://example.org/self-service/login/browser",
        "request_url_domain": "example.org",
        "transient_payload": {},
        "identity": identity,
        "traits": identity["traits"],
        "expires_in_minutes": 60,
        "subject": "Subject",
        "body": "Body",
    }
    for code in ("login_code", "registration_code", "recovery_code", "verification_code"):
        data[code] = "123456"
    data["recovery_url"] = "https://example.org/self-service/recovery?flow=x&token=y"
    data["verification_url"] = "https://example.org/self-service/verification?flow=x&code=123456"
    return data


class Templates:
    """The courier's templates for one config.

    Args:
        config: The validated config (``courier.templates``, ``courier.template_override_path``,
            ``source_dir`` for relative ``file://`` URIs).

    Raises:
        ConfigError: ``courier.templates`` is malformed, a URI cannot be read, or the override
            path is not a directory.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._override_dir = self._resolve_override_dir(config)
        self._sources = self._load_uris(config)
        loaders: list[jinja2.BaseLoader] = [jinja2.DictLoader(self._sources)]
        if self._override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(self._override_dir))
        loaders.append(jinja2.FileSystemLoader(BUILTIN_DIR))
        # Sandboxed: templates may come from remote URIs; they get JSON data, never objects.
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=_autoescape,
            undefined=jinja2.ChainableUndefined,
        )

    # -- where templates come from --------------------------------------------------------------

    @staticmethod
    def _resolve_override_dir(config: Config) -> Path | None:
        raw = config.courier.template_override_path
        if not raw:
            return None
        path = config.resolve_path(raw)
        if not path.is_dir():
            raise ConfigError("courier.template_override_path", f'"{path}" is not a directory')
        return path

    def _load_uris(self, config: Config) -> dict[str, str]:
        try:
            typed = msgspec.convert(thaw(config.courier.templates), TemplatesConfig)
        except msgspec.ValidationError as exc:
            raise ConfigError("courier.templates", str(exc)) from exc
        sources: dict[str, str] = {}
        for template_type in TEMPLATE_TYPES:
            directory, variant = layout_of(template_type)
            section = getattr(typed, directory, None)
            chosen = getattr(section, variant, None) if section is not None else None
            for part in (*_EMAIL_PARTS, *_SMS_PARTS):
                uri = _uri_of(chosen, part)
                if uri:
                    key = _config_key(directory, variant, part)
                    sources[f"uri/{directory}/{variant}/{part}.uri"] = _read_uri(config, uri, key)
        return sources

    def _name(self, directory: str, variant: str, part: str) -> str:
        uri_name = f"uri/{directory}/{variant}/{part}.uri"
        if uri_name in self._sources:
            return uri_name
        if self._override_dir is not None:
            for ext in OVERRIDE_EXTENSIONS:
                candidate = f"{directory}/{variant}/{part}.{ext}"
                if (self._override_dir / candidate).is_file():
                    return candidate
        return f"{directory}/{variant}/{part}.jinja2"

    # -- rendering ------------------------------------------------------------------------------

    def has(self, template_type: str, channel: str) -> bool:
        """Whether ``template_type`` exists for ``channel`` (``email`` or an SMS channel)."""
        if template_type not in TEMPLATE_TYPES:
            return False
        return channel == "email" or template_type in SMS_TEMPLATE_TYPES

    def render(self, template_type: str, channel: str, data: Mapping[str, Any]) -> Rendered:
        """Render one message.

        Args:
            template_type: One of :data:`~kratos_core.courier.model.TEMPLATE_TYPES`.
            channel: ``email`` renders subject, HTML and plaintext; anything else the SMS body.
            data: The template data (JSON field names).

        Raises:
            TemplateRenderError: The template failed on this data.
        """
        if not self.has(template_type, channel):
            raise TemplateRenderError(f'there is no "{template_type}" template for the {channel} channel')
        directory, variant = layout_of(template_type)
        context = _context(data)
        texts = {part: self._render_part(directory, variant, part, context) for part in _parts(channel)}
        if channel != "email":
            return Rendered(subject="", body=texts["sms.body"].strip(), html_body=None)
        return Rendered(
            subject=texts["email.subject"].strip(),
            body=texts["email.body.plaintext"],
            html_body=texts["email.body"],
        )

    def _render_part(self, directory: str, variant: str, part: str, context: dict[str, Any]) -> str:
        name = self._name(directory, variant, part)
        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateError as exc:
            raise TemplateRenderError(f"template {name}: {_describe(exc)}") from exc

    def validate(self) -> None:
        """Render every template with sample data.

        Only overrides can break (the built-in templates are tested with the package), so
        without any this costs nothing; with an override directory everything is rendered,
        since the directory may also replace partials the built-in templates use.

        Raises:
            ConfigError: A template (override or URI) does not parse or render, naming it.
        """
        if self._override_dir is None and not self._sources:
            return
        for template_type in TEMPLATE_TYPES:
            directory, variant = layout_of(template_type)
            context = _context(_sample_data(template_type))
            channels = ("email", "sms") if template_type in SMS_TEMPLATE_TYPES else ("email",)
            for channel in channels:
                for part in _parts(channel):
                    if self._override_dir is None and not self._name(directory, variant, part).startswith("uri/"):
                        continue
                    try:
                        self._render_part(directory, variant, part, context)
                    except TemplateRenderError as exc:
                        raise ConfigError(self._origin(directory, variant, part), str(exc)) from exc

    def _origin(self, directory: str, variant: str, part: str) -> str:
        name = self._name(directory, variant, part)
        if name.startswith("uri/"):
            return _config_key(directory, variant, part)
        return "courier.template_override_path"


def _describe(exc: jinja2.TemplateError) -> str:
    text = exc.message or type(exc).__name__
    if isinstance(exc, jinja2.TemplateSyntaxError):
        text = f"line {exc.lineno}: {text}"
        source = exc.source or ""
        if "{{ ." in source or "{{." in source:
            text += " (templates are Jinja2: write {{ login_code }}, not Go's {{ .LoginCode }})"
    return text


def _read_uri(config: Config, uri: str, key: str) -> str:
    """The text a template URI names (read once, at start-up)."""
    try:
        if uri.startswith("base64://"):
            raw = uri[len("base64://") :]
            return base64.b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if uri.startswith("file://"):
            return config.resolve_path(uri).read_text()
        if uri.startswith(("http://", "https://")):
            import httpx

            response = httpx.get(uri, timeout=10, follow_redirects=True)
            response.raise_for_status()
            return response.text
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise ConfigError(key, f"cannot read {uri.split('://', 1)[0]}:// template: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - httpx errors: the remote template is unreachable
        raise ConfigError(key, f"cannot fetch template: {exc}") from exc
    raise ConfigError(key, "use a file://, base64:// or http(s):// URI")
