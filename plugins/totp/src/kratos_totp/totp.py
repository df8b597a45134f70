"""TOTP keys: new secrets, otpauth URLs, QR codes and code checks (pyotp, segno).

Keys are Kratos's: SHA-1, 6 digits, 30-second period, 160-bit secret; a code is accepted for the
current period and one period either side (pyotp's ``valid_window=1``).
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pyotp
import segno

__all__ = ["new_key_url", "secret_of", "qr_data_uri", "matching_step", "account_name", "default_issuer"]

PERIOD = 30
DIGITS = 6
#: QR images are 256 x 256 pixels, as Kratos draws them.
QR_SIZE = 256


def default_issuer(public_base_url: str) -> str:
    """The host name of the public base URL (Kratos's default issuer)."""
    return urlsplit(public_base_url).hostname or "localhost"


def new_key_url(issuer: str, account: str) -> str:
    """A new random key as an ``otpauth://totp/...`` URL."""
    secret = pyotp.random_base32(length=32)  # 32 base32 characters = 160 bits
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD, issuer=issuer, name=account).provisioning_uri()


def _totp(url: str) -> pyotp.TOTP:
    parsed = pyotp.parse_uri(url)
    if not isinstance(parsed, pyotp.TOTP):
        raise ValueError("not a TOTP key")
    return parsed


def secret_of(url: str) -> str:
    """The base32 secret of an otpauth URL."""
    return _totp(url).secret


def qr_data_uri(url: str) -> str:
    """The otpauth URL as a QR code: a 256 x 256 PNG ``data:`` URI."""
    qr = segno.make(url, error="m")
    # segno draws whole modules: pick the largest scale that fits, then pad with the border.
    modules = qr.symbol_size(scale=1, border=0)[0]
    scale = max(1, (QR_SIZE - 8) // modules)
    border = max(0, (QR_SIZE // scale - modules) // 2)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=scale, border=border)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def matching_step(url: str, code: str, *, now: float | None = None) -> int | None:
    """The time step (period counter) whose code ``code`` is, within ±1 period; None if none.

    Returning the step lets the caller refuse a code whose step was used already (replays).
    """
    if not (isinstance(code, str) and len(code) == DIGITS and code.isascii() and code.isdigit()):
        return None
    totp = _totp(url)
    moment = time.time() if now is None else now
    current = int(moment // totp.interval)
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def account_name(schema: Mapping[str, Any], traits: Any, fallback: str) -> str:
    """The value of the trait flagged ``ory.sh/kratos.credentials.totp.account_name``.

    Args:
        schema: The identity schema document.
        traits: The identity's traits.
        fallback: What to use without such a trait (Kratos: the identity id).
    """
    path = _flagged_path(schema.get("properties", {}).get("traits", {}), ())
    value: Any = traits
    for key in path or ():
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if path and isinstance(value, str) and value else fallback


def _flagged_path(node: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    if not isinstance(node, Mapping):
        return None
    ext = node.get("ory.sh/kratos")
    if isinstance(ext, Mapping):
        totp = (ext.get("credentials") or {}).get("totp")
        if isinstance(totp, Mapping) and totp.get("account_name") is True:
            return path
    for key, child in (node.get("properties") or {}).items():
        found = _flagged_path(child, (*path, key))
        if found is not None:
            return found
    return None
