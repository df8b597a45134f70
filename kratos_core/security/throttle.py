"""Throttling and lockout: one small service every credential method calls (issue 15).

A method that checks a secret (a password, a one-time code, a TOTP, a backup code, a WebAuthn
assertion) or sends one calls :meth:`Throttle.check` *before* it looks at the secret, and
:meth:`Throttle.succeed` after a right one::

    keys = throttle.keys(request, identifier)
    await throttle.check("password", keys)       # raises TooManyAttempts (429) when locked
    if not await verify(password, hashed):
        raise invalid_credentials()              # the attempt stays counted
    await throttle.succeed("password", keys)     # forget this account's failures

``check`` counts the attempt at once (atomically in Redis), so parallel requests cannot slip
through between a check and a later "failed" report, and it refuses before the secret is
looked at, so the answer during a lock is the same whether the secret was right or not.

Each kind has a :class:`~kratos_core.config.model.ThrottleRule`: ladders of sliding windows per
client address and identifier, per identifier and per client address. Counts live in the
storage ``security.rate_limits.storage_url`` names, through the ``limits`` library: in memory
for one process, in Redis for many.

On Redis, :meth:`Throttle.check` and :meth:`Throttle.succeed` are one round trip each: one Lua
script reads the identifier's epoch and walks the whole ladder of windows and keys (the same
moving-window lists, in the same key names, as ``limits``'s own script), where counting window
by window through ``limits`` took about 14 round trips and 3.5 ms of CPU per login. The walk is
atomic as a whole, which is stronger than the per-window atomicity it replaces.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from .. import metrics
from ..errors import KratosError, ServiceUnavailable
from ..identity.normalize import normalize_identifier
from .client import ClientAddressResolver

if TYPE_CHECKING:  # pragma: no cover
    from ..config.model import RateLimits

__all__ = ["Throttle", "ThrottleKeys", "TooManyAttempts", "KINDS", "open_storage"]

log = logging.getLogger("kratos.throttle")

#: The kinds of attempts there are limits for (``security.rate_limits.<kind>``).
KINDS = ("password", "code", "totp", "lookup_secret", "webauthn", "code_sending", "flow_creation")

#: The three keys every attempt counts under, in the order they are counted: an attempt
#: refused by one key is not counted under the keys after it, so refusals only ever count
#: against the refused client's own address (never against the account's ``identifier`` key,
#: which would let a locked attacker lengthen the right user's lock).
_SCOPES = ("address", "address_and_identifier", "identifier")
#: A success clears the scopes that name the account (the address alone stays counted).
_CLEARED_ON_SUCCESS = ("address_and_identifier", "identifier")


class TooManyAttempts(KratosError):
    """HTTP 429 in Kratos's error shape, with ``Retry-After`` (seconds) as a header and detail.

    Args:
        retry_after: Seconds until the next attempt is accepted (at least 1).
    """

    status_code = 429
    default_message = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            f"Too many attempts. Please try again in {self.retry_after} seconds.",
            id="rate_limit_exceeded",
            details={"retry_after": self.retry_after},
        )

    @property
    def headers(self) -> dict[str, str]:
        """What the answer carries besides the body."""
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    """Who an attempt counts for.

    Attributes:
        address: The client address (see :class:`~kratos_core.security.client.ClientAddressResolver`).
        identifier: The account, recipient or identity the attempt is about (normalised like
            stored identifiers), or None when there is none (flow creation).
    """

    address: str
    identifier: str | None = None


class _MemoryStorage(MemoryStorage):
    """``limits``'s memory storage, cleared without racing its background expiry.

    Its ``clear`` drops a key's event list while the expiry task may be reading it (a KeyError
    in that task); an emptied list is dropped by the expiry task itself.
    """

    async def clear(self, key: str) -> None:
        self.storage.pop(key, None)
        self.expirations.pop(key, None)
        if key in self.events:
            self.events[key] = []


def open_storage(url: str) -> Storage:
    """The ``limits`` storage for ``security.rate_limits.storage_url``.

    Raises:
        ValueError: The URL is neither ``memory://`` nor a Redis URL.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return _MemoryStorage()
    if scheme in ("redis", "rediss", "redis+unix"):
        # redis-py is a dependency already (the courier's broker); limits uses its asyncio client.
        return RedisStorage(f"async+{url}", implementation="redispy", wrap_exceptions=True)
    raise ValueError(f"security.rate_limits.storage_url: {scheme or url!r} is not memory:// or a redis:// URL")


def _workers() -> int:
    try:
        return int(os.environ.get("KRATOS_SERVE_WORKERS") or 1)
    except ValueError:
        return 1


#: Stands for the identifier's epoch in key names until it is known (read inside the script).
_EPOCH = "@E@"

#: ``check`` on Redis: KEYS[1] is the epoch key (absent without an identifier); ARGV[1] the time,
#: then (key template, limit, expiry) per window in counting order. Counts each window in order
#: as ``limits``'s ``acquire_moving_window`` does (LPUSH the time, LTRIM to the limit, EXPIRE);
#: at the first full window it stops and returns the longest wait (seconds, as text) of that
#: window and every later full one. Returns nil when every window took the attempt.
_CHECK_LUA = """
local epoch = '0'
if #KEYS > 0 then epoch = redis.call('get', KEYS[1]) or '0' end
local now = tonumber(ARGV[1])
local n = (#ARGV - 1) / 3
local keys, limits, expiries = {}, {}, {}
for i = 1, n do
    keys[i] = (string.gsub(ARGV[3 * i - 1], '@E@', epoch))
    limits[i] = tonumber(ARGV[3 * i])
    expiries[i] = tonumber(ARGV[3 * i + 1])
end
local function full(i)
    local entry = redis.call('lindex', keys[i], limits[i] - 1)
    if entry and tonumber(entry) >= now - expiries[i] then return tonumber(entry) end
    return nil
end
for i = 1, n do
    if full(i) then
        local wait = 0
        for j = i, n do
            local oldest = full(j)
            if oldest and oldest + expiries[j] - now > wait then wait = oldest + expiries[j] - now end
        end
        return tostring(wait)
    end
    redis.call('lpush', keys[i], ARGV[1])
    redis.call('ltrim', keys[i], 0, limits[i] - 1)
    redis.call('expire', keys[i], expiries[i])
end
return nil
"""

#: ``succeed`` on Redis: KEYS[1] the epoch key; ARGV the key templates to delete.
_CLEAR_LUA = """
local epoch = redis.call('get', KEYS[1]) or '0'
for i = 1, #ARGV do redis.call('del', (string.gsub(ARGV[i], '@E@', epoch))) end
return #ARGV
"""


def _digest(*parts: str) -> str:
    # Identifiers are personal data: storage keys carry a digest, never the address itself.
    return hashlib.blake2b("\x00".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Throttle:
    """Counts attempts per kind and key and refuses them past their limits.

    Args:
        config: ``security.rate_limits``.
        trusted_proxies: ``security.trusted_proxies`` (who may name the client address).
        storage: A ``limits`` async storage; built from ``config.storage_url`` when None.
    """

    def __init__(self, config: RateLimits, trusted_proxies: Iterable[str] = (), storage: Storage | None = None) -> None:
        self.config = config
        self.enabled = config.enabled
        self.client_address = ClientAddressResolver(trusted_proxies)
        self.storage = storage if storage is not None else open_storage(config.storage_url)
        if self.enabled and isinstance(self.storage, MemoryStorage) and _workers() > 1:
            log.warning(
                "security.rate_limits.storage_url is memory:// but %d server workers run: each counts on its "
                "own, so every limit is %d times as high; set it to a redis:// URL",
                _workers(),
                _workers(),
            )
        self.limiter = MovingWindowRateLimiter(self.storage)
        bridge = getattr(self.storage, "bridge", None) if isinstance(self.storage, RedisStorage) else None
        #: Redis only: the storage's client and ``limits``'s key naming, for the one-trip scripts.
        self._bridge = bridge
        self._check_script = bridge.storage.register_script(_CHECK_LUA) if bridge is not None else None
        self._clear_script = bridge.storage.register_script(_CLEAR_LUA) if bridge is not None else None
        self._ladders: dict[tuple[str, str], tuple[RateLimitItem, ...]] = {}
        for kind in KINDS:
            rule = config.rule(kind)
            for scope in _SCOPES:
                self._ladders[(kind, scope)] = tuple(
                    item for text in getattr(rule, scope) for item in parse_many(text)
                )
        longest = max((item.get_expiry() for ladder in self._ladders.values() for item in ladder), default=0)
        #: How long an unlock must be remembered: longer than any window it makes forgotten.
        self._epoch_lifetime = longest + 3600

    # -- keys ------------------------------------------------------------------------------

    def keys(self, request: Any, identifier: str | None = None) -> ThrottleKeys:
        """The keys of an attempt by ``request`` about ``identifier`` (normalised here)."""
        normalised = normalize_identifier(identifier) if isinstance(identifier, str) and identifier.strip() else None
        return ThrottleKeys(address=self.client_address(request), identifier=normalised)

    def _epoch_key(self, identifier: str) -> str:
        # An admin unlock moves the identifier to a new epoch: its old windows are never read
        # again (they cannot be listed, since address-and-identifier keys name every address).
        return f"{self.config.key_prefix}:epoch:{_digest(identifier)}"

    async def _epoch(self, identifier: str) -> int:
        return int(await self.storage.get(self._epoch_key(identifier)) or 0)

    def _templates(self, kind: str, keys: ThrottleKeys) -> list[tuple[str, RateLimitItem, str]]:
        """``(scope, window, key)`` in counting order; keys naming the identifier end in its
        epoch, written :data:`_EPOCH` until it is known."""
        if kind not in KINDS:
            raise KeyError(f"unknown throttle kind {kind!r} (known: {', '.join(KINDS)})")
        names = {
            "address_and_identifier": f"{_digest(keys.address, keys.identifier)}:{_EPOCH}" if keys.identifier else None,
            "identifier": f"{_digest(keys.identifier)}:{_EPOCH}" if keys.identifier else None,
            "address": _digest(keys.address),
        }
        plan: list[tuple[str, RateLimitItem, str]] = []
        for scope in _SCOPES:
            name = names[scope]
            if name is None:
                continue
            key = f"{self.config.key_prefix}:{kind}:{scope}:{name}"
            plan.extend((scope, item, key) for item in self._ladders[(kind, scope)])
        return plan

    async def _plan(self, kind: str, keys: ThrottleKeys) -> list[tuple[str, RateLimitItem, str]]:
        plan = self._templates(kind, keys)
        if keys.identifier is None:
            return plan
        epoch = str(await self._epoch(keys.identifier))
        return [(scope, item, key.replace(_EPOCH, epoch)) for scope, item, key in plan]

    # -- the API methods call --------------------------------------------------------------

    async def check(self, kind: str, keys: ThrottleKeys) -> None:
        """Count one attempt of ``kind``, or refuse it while a window of its keys is full.

        Call it before looking at the secret. A refused attempt counts only against the
        client address's own windows, so a locked attacker who keeps trying does not lengthen
        the right user's lock.

        Args:
            kind: One of :data:`KINDS`.
            keys: From :meth:`keys`.

        Raises:
            TooManyAttempts: A window is full; ``retry_after`` says for how long.
            KeyError: ``kind`` is unknown (a programming error).
        """
        if not self.enabled:
            return
        try:
            await self._count(kind, keys)
        except (StorageError, RedisError, OSError):
            # Fail closed: without counts, guessing would be unlimited again.
            log.error("the throttle storage is unreachable; refusing %s attempts", kind)
            raise ServiceUnavailable("Attempts cannot be counted right now; please try again later.") from None

    async def _count(self, kind: str, keys: ThrottleKeys) -> None:
        if self._check_script is not None:
            await self._count_in_one_trip(kind, keys)
            return
        plan = await self._plan(kind, keys)
        # Each hit is atomic (a Lua script in Redis), so parallel attempts cannot overshoot.
        for position, (_, item, key) in enumerate(plan):
            if await self.limiter.hit(item, key):
                continue
            # Refused: the wait is the longest of this window and any later one that is full.
            later = [(i, k) for _, i, k in plan[position + 1 :] if not await self.limiter.test(i, k)]
            retry_after = await self._retry_after([(item, key), *later])
            log.info("throttled a %s attempt (retry after %d s)", kind, retry_after)
            metrics.RATE_LIMIT_REFUSALS.labels(kind).inc()
            raise TooManyAttempts(retry_after)

    async def _count_in_one_trip(self, kind: str, keys: ThrottleKeys) -> None:
        assert self._check_script is not None and self._bridge is not None
        plan = self._templates(kind, keys)
        if not plan:
            return
        args: list[Any] = [repr(time.time())]
        for _, item, key in plan:
            args.extend((self._bridge.prefixed_key(item.key_for(key)), item.amount, item.get_expiry()))
        epoch_keys = [self._bridge.prefixed_key(self._epoch_key(keys.identifier))] if keys.identifier is not None else []
        wait = await self._check_script(keys=epoch_keys, args=args)
        if wait is None:
            return
        retry_after = max(1, math.ceil(float(wait)))
        log.info("throttled a %s attempt (retry after %d s)", kind, retry_after)
        metrics.RATE_LIMIT_REFUSALS.labels(kind).inc()
        raise TooManyAttempts(retry_after)

    async def succeed(self, kind: str, keys: ThrottleKeys) -> None:
        """The attempt was right: forget the account's counted attempts of ``kind``.

        The client address's own windows stay (an attacker can own accounts).
        """
        if not self.enabled or keys.identifier is None:
            return
        if self._clear_script is not None and self._bridge is not None:
            cleared = [
                self._bridge.prefixed_key(item.key_for(key))
                for scope, item, key in self._templates(kind, keys)
                if scope in _CLEARED_ON_SUCCESS
            ]
            if cleared:
                try:
                    await self._clear_script(keys=[self._bridge.prefixed_key(self._epoch_key(keys.identifier))], args=cleared)
                except (RedisError, OSError) as exc:
                    raise StorageError(exc) from exc
            return
        plan = await self._plan(kind, keys)
        await asyncio.gather(*(self.limiter.clear(item, key) for scope, item, key in plan if scope in _CLEARED_ON_SUCCESS))

    async def unlock(self, identifiers: Iterable[str]) -> None:
        """Forget every count about these identifiers, from every address (admin unlock)."""
        for identifier in dict.fromkeys(normalize_identifier(i) for i in identifiers if i and i.strip()):
            await self.storage.incr(self._epoch_key(identifier), self._epoch_lifetime)

    async def unlock_address(self, address: str) -> None:
        """Forget the windows of one client address (every kind, address scope only)."""
        keys = ThrottleKeys(address=address)
        for kind in KINDS:
            for _, item, key in await self._plan(kind, keys):
                await self.limiter.clear(item, key)

    async def locked(self, kind: str, keys: ThrottleKeys) -> int:
        """Seconds until an attempt of ``kind`` by ``keys`` would be accepted (0: now)."""
        if not self.enabled:
            return 0
        plan = await self._plan(kind, keys)
        full = [(item, key) for _, item, key in plan if not await self.limiter.test(item, key)]
        return await self._retry_after(full) if full else 0

    async def _retry_after(self, full: list[tuple[RateLimitItem, str]]) -> int:
        now = time.time()
        waits = [(await self.limiter.get_window_stats(item, key)).reset_time - now for item, key in full]
        return max(1, math.ceil(max(waits)))

    async def close(self) -> None:
        """Release the storage's connections (Redis)."""
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        closer = getattr(client, "aclose", None)
        if closer is not None:
            try:
                await closer()
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.debug("closing the throttle storage failed", exc_info=True)
