"""``selfservice.methods.totp.config``."""

from __future__ import annotations

import msgspec

__all__ = ["TotpConfig"]


class TotpConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The TOTP method's config (Kratos's keys).

    Attributes:
        issuer: The issuer authenticator apps show next to the account; default: the host name
            of ``serve.public.base_url``.
    """

    issuer: str | None = None
