"""The password policy of ``selfservice.methods.password.config`` (kratos-behaviour.md §6.1).

Checks, in Kratos's order: minimum length, maximum length, similarity to each identifier, and
presence in known data breaches (Have I Been Pwned's k-anonymity range API). Each failure raises
:class:`PolicyViolation` carrying the Kratos text message for the ``password`` node.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

import httpx
import msgspec
from rapidfuzz.distance import Levenshtein

from kratos_core.api import TextMessage
from kratos_password.errors import BreachCheckUnavailable, PolicyViolation
from kratos_password.formats import BCRYPT_MAX_PASSWORD_BYTES
from kratos_password.hashing import MAX_PASSWORD_BYTES

__all__ = [
    "BreachCache",
    "BreachCheckUnavailable",
    "PasswordPolicyConfig",
    "PolicyViolation",
    "SIMILARITY_MAX_BYTES",
    "breach_count",
    "check_breaches",
    "check_length",
    "check_password",
    "check_similarity",
    "levenshtein",
    "longest_common_substring",
]

#: Similarity is only checked when both strings are at most this many bytes (Kratos).
SIMILARITY_MAX_BYTES = 256
#: A Levenshtein distance below this means "too similar" (Kratos).
_MIN_DISTANCE = 5
#: A longest common substring over this fraction of the password means "too similar" (Kratos).
_MAX_SUBSTRING_RATIO = 0.5
#: Kratos gives the breach API one second.
_BREACH_TIMEOUT_SECONDS = 1.0


class PasswordPolicyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``selfservice.methods.password.config``; defaults are Kratos's."""

    min_password_length: int = 8
    """Minimum length in UTF-8 bytes (Kratos counts bytes, pitfall 5)."""
    identifier_similarity_check_enabled: bool = True
    """Reject passwords too similar to one of the identity's identifiers."""
    haveibeenpwned_enabled: bool = True
    """Reject passwords found in data breaches (Have I Been Pwned range API)."""
    haveibeenpwned_host: str = "api.pwnedpasswords.com"
    """Host of the range API; may carry a scheme (``http://127.0.0.1:8080``) for mirrors/tests."""
    max_breaches: int = 0
    """A password seen in more breaches than this is rejected."""
    ignore_network_errors: bool = True
    """Accept the password when the range API cannot be reached (else answer 502)."""
    migrate_hook: dict[str, Any] | None = None
    """Password migration hook config (section 7.6); kept opaque here, used by the plugin."""


def _message(id: int, text: str, context: dict[str, Any] | None = None) -> TextMessage:
    if context is None:
        return TextMessage(id=id, text=text, type="error")
    return TextMessage(id=id, text=text, type="error", context=context)


def _too_long(maximum: int, actual: int) -> PolicyViolation:
    text = f"The password must be at most {maximum} characters long, but got {actual}."
    return PolicyViolation(_message(4000033, text, {"max_length": maximum, "actual_length": actual}))


def check_length(password: str, config: PasswordPolicyConfig, *, hasher_algorithm: str) -> None:
    """Check the length in UTF-8 bytes, as Kratos does (Go's ``len``; pitfall 5).

    Besides the configured minimum (4000032) and bcrypt's 72 bytes (4000033), every hasher gets
    our own cap of :data:`~kratos_password.hashing.MAX_PASSWORD_BYTES` (1024) bytes, reported
    with the same 4000033 message; Kratos has no such cap.

    Raises:
        PolicyViolation: Too short or too long.
    """
    actual = len(password.encode("utf-8"))
    if actual < config.min_password_length:
        minimum = config.min_password_length
        text = f"The password must be at least {minimum} characters long, but got {actual}."
        context = {"min_length": minimum, "actual_length": actual}
        raise PolicyViolation(_message(4000032, text, context))
    if hasher_algorithm == "bcrypt" and actual > BCRYPT_MAX_PASSWORD_BYTES:
        raise _too_long(BCRYPT_MAX_PASSWORD_BYTES, actual)
    if actual > MAX_PASSWORD_BYTES:
        raise _too_long(MAX_PASSWORD_BYTES, actual)


def levenshtein(a: str, b: str) -> int:
    """Edit distance between ``a`` and ``b`` (insertions, deletions, substitutions; rapidfuzz's C++)."""
    return Levenshtein.distance(a, b)


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest contiguous run of characters that ``a`` and ``b`` share."""
    # No junk heuristics: with autojunk, characters frequent in strings of 200+ would be skipped.
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def check_similarity(password: str, identifier: str) -> None:
    """Reject a password too similar to ``identifier`` (4000031).

    Kratos compares lower-cased strings, only when both are at most 256 bytes: too similar if the
    Levenshtein distance is below 5 or the longest common substring covers more than half of
    the password. Distances and lengths are in characters (identical to Kratos for ASCII).

    Raises:
        PolicyViolation: Too similar.
    """
    if not identifier or not password:
        return
    if max(len(password.encode()), len(identifier.encode())) > SIMILARITY_MAX_BYTES:
        return
    pw, ident = password.lower(), identifier.lower()
    ratio = longest_common_substring(ident, pw) / len(pw)
    if levenshtein(ident, pw) < _MIN_DISTANCE or ratio > _MAX_SUBSTRING_RATIO:
        text = "The password can not be used because it is too similar to the identifier."
        raise PolicyViolation(_message(4000031, text))


class BreachCache:
    """An in-process TTL cache of breach-API ranges: prefix -> {suffix: count}.

    Kratos caches results for an hour and keeps every suffix of a fetched range, so checking
    another password with the same prefix costs no request. Each server process keeps its own
    cache; that is acceptable because it only holds public data and a miss costs one request.
    Least recently used ranges are evicted beyond ``max_entries`` (a range holds around a
    thousand suffixes, roughly 100 KiB).

    Args:
        max_entries: Ranges kept at most.
        ttl_seconds: Lifetime of a range.
        clock: Monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        max_entries: int = 512,
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Mapping[str, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, prefix: str) -> Mapping[str, int] | None:
        """The cached range for ``prefix``, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(prefix)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[prefix]
                return None
            self._entries.move_to_end(prefix)
            return entry[1]

    def put(self, prefix: str, counts: Mapping[str, int]) -> None:
        """Store a fetched range."""
        with self._lock:
            self._entries[prefix] = (self._clock() + self.ttl_seconds, counts)
            self._entries.move_to_end(prefix)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _parse_range(body: str) -> dict[str, int]:
    """Parse ``SUFFIX:COUNT`` lines; commas in counts are allowed, a missing count means 1.

    An unparseable count is also taken as 1: the suffix is listed, so it was breached.
    Padding lines (count 0, sent for ``Add-Padding``) are dropped to keep the cache small.
    """
    counts: dict[str, int] = {}
    for line in body.splitlines():
        suffix, _, raw = line.strip().partition(":")
        if not suffix:
            continue
        digits = raw.replace(",", "").strip()
        count = int(digits) if digits.isascii() and digits.isdigit() else 1
        if count > 0:
            counts[suffix.strip().upper()] = count
    return counts


def _range_url(host: str, prefix: str) -> str:
    base = host if "://" in host else f"https://{host}"
    return f"{base.rstrip('/')}/range/{prefix}"


async def _fetch_range(http: httpx.AsyncClient, host: str, prefix: str) -> dict[str, int]:
    # Add-Padding makes every response a similar size, so the prefix cannot be inferred from
    # traffic volume; padding entries have count 0 and are ignored.
    headers = {"Add-Padding": "true", "User-Agent": "kratos-password"}
    try:
        response = await http.get(
            _range_url(host, prefix), headers=headers, timeout=_BREACH_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise BreachCheckUnavailable(f"breach API request failed: {exc!r}") from exc
    if response.status_code != 200:
        raise BreachCheckUnavailable(f"breach API answered {response.status_code}")
    return _parse_range(response.text)


async def breach_count(
    password: str, *, host: str, http: httpx.AsyncClient, cache: BreachCache | None
) -> int:
    """How many breaches the password appears in, asking only for its SHA-1 prefix.

    Only the first 5 hex characters of the SHA-1 leave the process (k-anonymity).

    Raises:
        BreachCheckUnavailable: The API could not be reached or did not answer 200.
    """
    digest = hashlib.sha1(password.encode("utf-8")).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    counts = cache.get(prefix) if cache is not None else None
    if counts is None:
        counts = await _fetch_range(http, host, prefix)
        if cache is not None:
            cache.put(prefix, counts)
    return counts.get(suffix, 0)


async def check_breaches(
    password: str,
    config: PasswordPolicyConfig,
    *,
    http: httpx.AsyncClient,
    cache: BreachCache | None,
) -> None:
    """Reject a password seen in more than ``max_breaches`` breaches (4000034).

    Raises:
        PolicyViolation: Breached.
        BreachCheckUnavailable: The API failed and ``ignore_network_errors`` is false.
    """
    try:
        count = await breach_count(
            password, host=config.haveibeenpwned_host, http=http, cache=cache
        )
    except BreachCheckUnavailable:
        if config.ignore_network_errors:
            return
        raise
    if count > config.max_breaches:
        text = "The password has been found in data breaches and must no longer be used."
        raise PolicyViolation(_message(4000034, text, {"breaches": count}))


async def check_password(
    password: str,
    identifiers: Sequence[str],
    config: PasswordPolicyConfig,
    *,
    hasher_algorithm: str,
    http: httpx.AsyncClient | None,
    cache: BreachCache | None,
) -> None:
    """Run the whole policy for a new password.

    Args:
        password: The new password.
        identifiers: Every identifier of the identity's password credential (Kratos checks the
            policy against each).
        config: The policy configuration.
        hasher_algorithm: ``hashers.algorithm`` (``"bcrypt"`` adds the 72-byte limit).
        http: Client for the breach API (only used when ``haveibeenpwned_enabled``).
        cache: Breach range cache, or None for no caching.

    Raises:
        PolicyViolation: The first failed check, with its text message.
        BreachCheckUnavailable: See :func:`check_breaches`.
    """
    check_length(password, config, hasher_algorithm=hasher_algorithm)
    if config.identifier_similarity_check_enabled:
        for identifier in identifiers:
            check_similarity(password, identifier)
    if config.haveibeenpwned_enabled:
        if http is None:
            raise ValueError("haveibeenpwned_enabled needs an HTTP client")
        await check_breaches(password, config, http=http, cache=cache)
