"""One-time codes and link tokens: making, storing and checking them (``one_time_codes``).

Kratos's rules (kratos-behaviour.md sections 6.2 and 6.3, pitfall 14), all kept here so every
method that sends a secret gets them for free:

* a code is six random digits, a link token 32 random letters and digits;
* only a keyed digest is stored: HMAC-SHA-512/256 with the first ``secrets.cookie`` secret; a
  check tries every configured secret (rotation) and compares in constant time;
* each secret belongs to one flow and one kind (``verification_code``, ``recovery_link`` ...),
  expires after its lifespan and may be used once; an expired secret is simply "not found";
* sending a new secret deletes the flow's previous ones of that kind (:func:`discard`);
* a flow may have at most ``max_submissions`` codes checked: the counter is raised *before* the
  check, in its own committed statement, so parallel guesses all count.

Checking and using are two steps: :func:`check_code` / :func:`find` only read (and count), and
:func:`consume` marks the secret used with a conditional ``UPDATE`` inside the caller's
transaction, so using a secret and what it unlocks (a verified address, a session) commit
together, and of two racing requests exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import BadRequest
from ..identity.model import utcnow
from .db import Connection, Database

__all__ = [
    "CODE_LENGTH",
    "TOKEN_LENGTH",
    "KINDS",
    "OneTimeSecret",
    "CodeNotFound",
    "CodeAlreadyUsed",
    "TooManySubmissions",
    "new_code",
    "new_token",
    "digest",
    "issue",
    "discard",
    "count_attempt",
    "check_code",
    "find",
    "consume",
    "RECOVERY_KINDS",
    "invalidate_identity",
]

CODE_LENGTH = 6
TOKEN_LENGTH = 32

#: The kinds of secrets, by what they unlock.
KINDS = (
    "login_code",
    "registration_code",
    "verification_code",
    "recovery_code",
    "verification_link",
    "recovery_link",
)

#: The kinds that let someone into an account (a completed recovery ends them all).
RECOVERY_KINDS = ("recovery_code", "recovery_link")

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_COLUMNS = "id, kind, digest, flow_id, identity_id, address_via, address_value, expires_at, used_at"


class CodeNotFound(Exception):
    """No secret of this flow and kind matches (unknown, mistyped or expired)."""


class CodeAlreadyUsed(BadRequest):
    """The secret matched but was used before (Kratos's 400, shown as message 4000001)."""

    def __init__(self) -> None:
        super().__init__("The code was already used. Please request another code.")


class TooManySubmissions(BadRequest):
    """The flow had more codes checked than ``max_submissions`` allows."""

    def __init__(self) -> None:
        super().__init__("The request was submitted too often. Please request another code.")


@dataclass(frozen=True, slots=True)
class OneTimeSecret:
    """A stored code or token (never its value).

    Attributes:
        id: The row id.
        kind: One of :data:`KINDS`.
        flow_id: The flow it belongs to.
        identity_id: The identity it proves access for (None when the address is unknown).
        address_via: ``email`` or ``sms``, when it was sent to an address.
        address_value: The address it was sent to.
        expires_at: When it stops working.
    """

    id: uuid.UUID
    kind: str
    flow_id: uuid.UUID
    identity_id: uuid.UUID | None
    address_via: str | None
    address_value: str | None
    expires_at: dt.datetime


def new_code() -> str:
    """Six random decimal digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def new_token() -> str:
    """32 random letters and digits (about 190 bits), as Kratos's link tokens."""
    return "".join(secrets.choice(_ALNUM) for _ in range(TOKEN_LENGTH))


def digest(secret: str, value: str) -> str:
    """The stored form of a code or token: hex HMAC-SHA-512/256 keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), value.encode("utf-8"), "sha512_256").hexdigest()


def _record(row: dict) -> OneTimeSecret:
    return OneTimeSecret(
        id=row["id"],
        kind=row["kind"],
        flow_id=row["flow_id"],
        identity_id=row["identity_id"],
        address_via=row["address_via"],
        address_value=row["address_value"],
        expires_at=row["expires_at"],
    )


async def issue(
    conn: Connection,
    *,
    keys: Sequence[str],
    kind: str,
    flow_id: uuid.UUID,
    value: str,
    lifespan: dt.timedelta | None = None,
    expires_at: dt.datetime | None = None,
    identity_id: uuid.UUID | None = None,
    address: tuple[str, str] | None = None,
) -> OneTimeSecret:
    """Store a new code or token for a flow.

    Args:
        conn: Where to write (the caller's transaction, so the secret and the message that
            carries it are stored together).
        keys: ``secrets.cookie`` (the first one makes the digest).
        kind: One of :data:`KINDS`.
        flow_id: The flow the secret works for.
        value: The code or token itself (from :func:`new_code` / :func:`new_token`).
        lifespan: How long it works (or give ``expires_at``).
        expires_at: When it stops working (e.g. together with its flow).
        identity_id: Whose access it proves.
        address: ``(via, value)`` of the address it is sent to.
    """
    now = utcnow()
    via, address_value = address if address is not None else (None, None)
    record = OneTimeSecret(
        id=uuid.uuid4(),
        kind=kind,
        flow_id=flow_id,
        identity_id=identity_id,
        address_via=via,
        address_value=address_value,
        expires_at=expires_at if expires_at is not None else now + (lifespan or dt.timedelta(0)),
    )
    await conn.execute(
        "INSERT INTO one_time_codes (id, kind, digest, flow_id, identity_id, address_via, address_value, "
        "expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
        record.id,
        kind,
        digest(keys[0], value),
        flow_id,
        identity_id,
        via,
        address_value,
        record.expires_at,
        now,
    )
    return record


async def discard(conn: Connection, flow_id: uuid.UUID, kind: str) -> None:
    """Delete a flow's secrets of ``kind`` (a resend makes the earlier codes useless)."""
    await conn.execute("DELETE FROM one_time_codes WHERE flow_id = $1 AND kind = $2", flow_id, kind)


async def count_attempt(db: Database, flow_id: uuid.UUID) -> int:
    """Raise the flow's code-check counter by one and return the new count.

    Committed on its own, before the code is compared, so a guess counts even when the check
    fails or the request dies half-way (pitfall 14).
    """
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE selfservice_flows SET code_submit_count = code_submit_count + 1 WHERE id = $1", flow_id
        )
        count = await tx.fetchval("SELECT code_submit_count FROM selfservice_flows WHERE id = $1", flow_id)
    return int(count or 0)


async def check_code(
    db: Database,
    *,
    keys: Sequence[str],
    flow_id: uuid.UUID,
    kind: str,
    value: str,
    max_submissions: int,
) -> OneTimeSecret:
    """Count one attempt, then find the flow's code matching ``value`` (not yet consumed).

    Raises:
        TooManySubmissions: The flow's counter is above ``max_submissions``.
        CodeNotFound: No live code of the flow matches.
        CodeAlreadyUsed: The code matched but was used already.
    """
    if await count_attempt(db, flow_id) > max_submissions:
        raise TooManySubmissions()
    return await find(db, keys=keys, flow_id=flow_id, kind=kind, value=value)


async def find(db: Connection, *, keys: Sequence[str], flow_id: uuid.UUID, kind: str, value: str) -> OneTimeSecret:
    """The flow's live secret of ``kind`` whose value is ``value``.

    Every stored digest is compared with the digest under every key, in constant time and
    without stopping at the first match, so the time taken says nothing about the value.

    Raises:
        CodeNotFound: Nothing matches, or the match has expired.
        CodeAlreadyUsed: The match was used already.
    """
    if not isinstance(value, str) or not value:
        raise CodeNotFound()
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM one_time_codes WHERE flow_id = $1 AND kind = $2 AND expires_at > $3",
        flow_id,
        kind,
        utcnow(),
    )
    candidates = [digest(key, value) for key in keys]
    match: dict | None = None
    for row in rows:
        hit = False
        for candidate in candidates:
            hit |= hmac.compare_digest(row["digest"], candidate)
        if hit and match is None:
            match = row
    if match is None:
        raise CodeNotFound()
    if match["used_at"] is not None:
        raise CodeAlreadyUsed()
    return _record(match)


async def consume(conn: Connection, record: OneTimeSecret) -> None:
    """Mark a secret used; exactly one of several racing requests succeeds.

    Run it in the transaction that stores what the secret unlocks.

    Raises:
        CodeAlreadyUsed: Another request used it first.
    """
    changed = await conn.execute(
        "UPDATE one_time_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL", record.id, utcnow()
    )
    if changed != 1:
        raise CodeAlreadyUsed()


async def invalidate_identity(conn: Connection, identity_id: uuid.UUID, kinds: Sequence[str]) -> int:
    """Mark every unused secret of ``kinds`` issued for an identity as used; returns how many.

    A completed recovery calls it in its transaction (issue 15): codes and links of the
    account's older recovery flows, and administrator-made ones, stop working.
    """
    marks = ", ".join(f"${i}" for i in range(3, 3 + len(kinds)))
    return await conn.execute(
        f"UPDATE one_time_codes SET used_at = $2 WHERE identity_id = $1 AND used_at IS NULL AND kind IN ({marks})",
        identity_id,
        utcnow(),
        *kinds,
    )
