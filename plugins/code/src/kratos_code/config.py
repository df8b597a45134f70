"""The typed config of the two methods (``selfservice.methods.{code,link}.config``).

Unknown keys are refused at start-up; defaults are Kratos's (kratos-behaviour.md sections 1.4,
6.2, 6.3 and 9).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import msgspec

__all__ = ["CodeConfig", "LinkConfig"]


class CodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``selfservice.methods.code.config``.

    Attributes:
        lifespan: How long each code works.
        max_submissions: How many codes one flow may have checked (1-255); more are refused.
        missing_credential_fallback_enabled: Accepted for compatibility; identities without a
            ``code`` credential are not looked up by other identifiers (not implemented).
    """

    lifespan: timedelta = timedelta(hours=1)
    max_submissions: Annotated[int, msgspec.Meta(ge=1, le=255)] = 5
    missing_credential_fallback_enabled: bool = False


class LinkConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``selfservice.methods.link.config``.

    Attributes:
        lifespan: How long each recovery or verification link works.
        base_url: The base of the links sent (defaults to ``serve.public.base_url``).
    """

    lifespan: timedelta = timedelta(hours=1)
    base_url: str | None = None
