"""``return_to`` allow-listing (kratos-behaviour.md section 3.7, pitfall 18).

Kratos accepts a ``return_to`` URL when, for some allow-list entry, the scheme and host match
case-insensitively (an entry host ``*.example.org`` matches any subdomain) and the path starts with
the entry's path. The allow-list is ``selfservice.allowed_return_urls`` plus
``{public}/self-service``. Relative values inherit scheme and host of the default return URL. The
check runs at flow init and again before redirecting; a refusal is 400
``self_service_flow_return_to_forbidden``.

This module is stricter than Kratos where Kratos is exploitable or surprising: ports are compared,
path prefixes are segment-aware (``/app`` does not allow ``/application``), and anything a browser
would parse differently from us is refused outright (backslashes, control characters, userinfo,
schemeless ``//host``, dot segments, scripting schemes) instead of being interpreted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from kratos_core.errors import BadRequest

__all__ = ["RETURN_TO_FORBIDDEN_ID", "ReturnToPolicy", "return_to_forbidden"]

RETURN_TO_FORBIDDEN_ID = "self_service_flow_return_to_forbidden"

# Browsers treat "\" like "/" and silently drop tabs/newlines, so URLs containing them can mean
# something else to the browser than to us. Spaces and C1 controls have no place in a URL either.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HOST_LABELS = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*")
# Schemes that execute or embed content instead of navigating; never a valid redirect target.
_SCRIPT_SCHEMES = frozenset({"javascript", "data", "vbscript"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
# WHATWG "special" schemes: browsers parse their authority leniently (missing slashes, "\\").
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})


def return_to_forbidden(url: str) -> BadRequest:
    """Kratos's 400 for a refused ``return_to``."""
    return BadRequest(
        f'Requested return_to URL "{url}" is not allowed.',
        id=RETURN_TO_FORBIDDEN_ID,
    )


def _normalise_host(host: str) -> str | None:
    """Lower-case ASCII form of a host (IDNA for Unicode names, brackets for IPv6), else None.

    Browsers map Unicode hosts through IDNA (e.g. a full-width dot becomes "."), so we compare the
    mapped form; hosts that do not survive the mapping are refused.
    """
    if ":" in host:  # IPv6 literal (urlsplit strips the brackets)
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    return host if _HOST_LABELS.fullmatch(host) else None


def _has_dot_segment(path: str) -> bool:
    # "/app/../admin" passes a naive prefix check but the browser resolves it outside "/app";
    # browsers also treat "%2e" as ".".
    for segment in path.split("/"):
        if segment.lower().replace("%2e", ".") in (".", ".."):
            return True
    return False


def _path_within(path: str, prefix: str) -> bool:
    """Segment-aware prefix test: ``/app`` covers ``/app/x`` but not ``/application``."""
    if prefix == "/" or path == prefix:
        return True
    return path.startswith(prefix if prefix.endswith("/") else prefix + "/")


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int | None
    path: str


def _effective_port(parts: SplitResult, scheme: str) -> int | None:
    port = parts.port  # raises ValueError for junk or out-of-range ports
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def _parse_target(url: str) -> _Target | None:
    """Split an absolute candidate URL into comparable parts, or None if it is unsafe/malformed."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if not scheme or scheme in _SCRIPT_SCHEMES:
            return None
        if not parts.netloc:
            # "https:evil.com" and "https:/evil.com" have no authority for us but browsers read
            # them as "https://evil.com". Only private-use schemes of native apps
            # ("com.example.app:/cb", RFC 8252) are legitimately host-less.
            if scheme in _SPECIAL_SCHEMES:
                return None
            return _Target(scheme, "", None, parts.path or "/")
        # "user@host" lets "https://good.example@evil.com" pass a glance at the start of the URL.
        if "@" in parts.netloc or not parts.hostname:
            return None
        host = _normalise_host(parts.hostname)
        port = _effective_port(parts, scheme)
    except ValueError:
        return None
    path = parts.path or "/"
    if host is None or _has_dot_segment(path):
        return None
    return _Target(scheme, host, port, path)


@dataclass(frozen=True, slots=True)
class _Rule:
    scheme: str
    host: str  # exact host, or for wildcards the suffix that must end the host ("" = any host)
    wildcard: bool
    port: int | None
    path: str

    def allows(self, target: _Target) -> bool:
        if target.scheme != self.scheme or target.port != self.port:
            return False
        if self.wildcard:
            # The suffix starts with "." for "*.example.org", so the bare domain and look-alikes
            # such as "evil-example.org" do not match.
            if not target.host or not target.host.endswith(self.host):
                return False
        elif target.host != self.host:
            return False
        return _path_within(target.path, self.path)


def _parse_rule(entry: str, *, allow_insecure_wildcards: bool) -> _Rule | None:
    """Compile one allow-list entry; None if it is an insecure wildcard that is switched off.

    Raises:
        ValueError: If the entry is not an absolute URL with a host (host-less URLs are accepted
            for non-web schemes only).
    """
    parts = urlsplit(entry.strip())
    scheme = parts.scheme.lower()
    raw_host = parts.hostname or ""
    path = parts.path or "/"
    if not parts.netloc and scheme and scheme not in _SPECIAL_SCHEMES:
        return _Rule(scheme, "", False, None, path)  # host-less native-app scheme
    if not scheme or not raw_host or "@" in parts.netloc:
        raise ValueError(f"allowed return URL {entry!r} must be an absolute URL with a host")
    port = _effective_port(parts, scheme)
    if raw_host.startswith("*"):
        suffix = raw_host[1:]
        # Only "*.domain" is safe; "https://*" or "*example.org" (matching "evil-example.org")
        # are honoured only under feature_flags.legacy_allow_insecure_origins, as in Kratos.
        secure = suffix.startswith(".") and len(suffix) > 1
        if not secure and not allow_insecure_wildcards:
            return None
        dot, rest = (".", suffix[1:]) if suffix.startswith(".") else ("", suffix)
        host = _normalise_host(rest) if rest else ""
        if host is None:
            raise ValueError(f"allowed return URL {entry!r} has an invalid host")
        return _Rule(scheme, dot + host, True, port, path)
    host = _normalise_host(raw_host)
    if host is None:
        raise ValueError(f"allowed return URL {entry!r} has an invalid host")
    return _Rule(scheme, host, False, port, path)


def _origin(url: str) -> str | None:
    """``scheme://authority`` of an absolute URL, or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


class ReturnToPolicy:
    """Validates ``return_to`` URLs against the allow-list.

    Args:
        allowed: ``selfservice.allowed_return_urls``.
        public_base_url: ``serve.public.base_url``; ``{public}/self-service`` is always allowed.
        default_return_url: ``selfservice.default_browser_return_url``; relative ``return_to``
            values inherit its scheme and host, and :meth:`resolve` falls back to it.
        allow_insecure_wildcards: ``feature_flags.legacy_allow_insecure_origins``: honour entries
            such as ``https://*``.

    Raises:
        ValueError: If an allow-list entry or the default return URL is not an absolute URL.
    """

    __slots__ = ("_rules", "_default", "_default_origin")

    def __init__(
        self,
        allowed: Sequence[str],
        public_base_url: str,
        default_return_url: str,
        *,
        allow_insecure_wildcards: bool = False,
    ) -> None:
        entries = [*allowed, public_base_url.rstrip("/") + "/self-service"]
        rules = (_parse_rule(e, allow_insecure_wildcards=allow_insecure_wildcards) for e in entries)
        self._rules: tuple[_Rule, ...] = tuple(r for r in rules if r is not None)
        origin = _origin(default_return_url)
        if origin is None:
            raise ValueError(f"default return URL {default_return_url!r} must be absolute")
        self._default = default_return_url
        self._default_origin = origin

    @property
    def default_return_url(self) -> str:
        return self._default

    def check(self, return_to: str | None, *, base: str | None = None) -> str | None:
        """Validate a ``return_to`` value.

        Args:
            return_to: The raw query/body value.
            base: URL whose scheme and host a relative ``return_to`` inherits (Kratos uses the
                flow's effective default return URL); defaults to the policy's default.

        Returns:
            The absolute URL to redirect to, or None when ``return_to`` is absent or empty.

        Raises:
            BadRequest: ``self_service_flow_return_to_forbidden`` if the URL is not allowed.
        """
        if return_to is None:
            return None
        raw = return_to.strip(" ")
        if not raw:
            return None
        absolute = self._absolutise(raw, base)
        if absolute is None:
            raise return_to_forbidden(raw)
        target = _parse_target(absolute)
        if target is None or not any(rule.allows(target) for rule in self._rules):
            raise return_to_forbidden(absolute)
        return absolute

    def is_allowed(self, return_to: str | None) -> bool:
        """Whether :meth:`check` would accept a non-empty ``return_to``."""
        try:
            return self.check(return_to) is not None
        except BadRequest:
            return False

    def resolve(self, return_to: str | None, *fallbacks: str | None, strict: bool = True) -> str:
        """Pick the URL to redirect to after a flow.

        Args:
            return_to: The flow's requested ``return_to`` (validated).
            *fallbacks: Trusted configured defaults in order of preference, e.g.
                ``after.<method>.default_browser_return_url`` then
                ``after.default_browser_return_url``; empty ones are skipped and the policy's
                default return URL is the last resort. They are configuration, so Kratos does
                not allow-list them and neither do we.
            strict: If true, a forbidden ``return_to`` raises (Kratos's behaviour); if false it
                is ignored and the fallbacks apply.

        Raises:
            BadRequest: ``self_service_flow_return_to_forbidden`` (only when ``strict``).
        """
        base = next((f for f in fallbacks if f and f.strip()), None) or self._default
        try:
            checked = self.check(return_to, base=base)
        except BadRequest:
            if strict:
                raise
            checked = None
        return checked or base

    def _absolutise(self, raw: str, base: str | None) -> str | None:
        if _UNSAFE_CHARS.search(raw):
            return None
        if _HAS_SCHEME.match(raw):
            return raw
        # Only path-absolute references are accepted as relative: "//evil.com" is a
        # network-path reference to another host, and "foo" / "?x" depend on the current page.
        if not raw.startswith("/") or raw.startswith("//"):
            return None
        origin = (_origin(base) if base else None) or self._default_origin
        return origin + raw
