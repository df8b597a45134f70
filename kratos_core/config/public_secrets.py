"""Secrets everyone knows: refused outside ``--dev`` (issue 15, item 8).

Kratos's quickstart configs and documentation, and this project's own development config,
publish example values for ``secrets.*``. A server that signs cookies and code digests with
one of them can be impersonated by anyone who read the same page, so outside ``--dev`` such a
value stops the start with an error naming the key (never the value); under ``--dev`` it is
only logged, loudly.

The list is ours (written from the published examples), plus a few shapes that only a
placeholder has (``CHANGE-ME``, ``NOT-SECURE`` ...).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from kratos_core.config.errors import ConfigError

__all__ = ["PUBLIC_EXAMPLE_SECRETS", "is_public_secret", "check_public_secrets"]

logger = logging.getLogger("kratos_core.config")

#: Example secrets published in Kratos's quickstarts, guides and our own ``config/kratos.yml``.
PUBLIC_EXAMPLE_SECRETS: frozenset[str] = frozenset(
    {
        # Kratos quickstart configs (contrib/quickstart/kratos/*/kratos.yml) and guides.
        "PLEASE-CHANGE-ME-I-AM-VERY-INSECURE",
        "32-LONG-SECRET-NOT-SECURE-AT-ALL",
        "PLEASE-CHANGE-ME-IN-PRODUCTION",
        "youReallyNeedToChangeThis",
        # This repository's development config (config/kratos.yml).
        "DEV-ONLY-cookie-secret-do-not-use-in-production",
        "DEV-ONLY-32-char-cipher-secret!!",
    }
)

# Placeholders announce themselves; a real random secret does not contain these words.
_PLACEHOLDER = re.compile(r"change[-_ ]?me|not[-_ ]?secure|very[-_ ]?insecure|do[-_ ]?not[-_ ]?use", re.IGNORECASE)


def is_public_secret(value: str) -> bool:
    """Whether ``value`` is a published example secret or reads like a placeholder."""
    return value in PUBLIC_EXAMPLE_SECRETS or _PLACEHOLDER.search(value) is not None


def _configured(secrets: object) -> Iterator[tuple[str, str]]:
    for purpose in ("default", "cookie", "cipher", "pagination"):
        for index, value in enumerate(getattr(secrets, purpose, ()) or ()):
            yield f"secrets.{purpose}.{index}", value


def check_public_secrets(secrets: object, *, dev: bool) -> None:
    """Refuse (or, under ``--dev``, loudly warn about) well-known example secrets.

    Raises:
        ConfigError: Outside dev mode, for the first public secret (its key, not its value).
    """
    for path, value in _configured(secrets):
        if not is_public_secret(value):
            continue
        if not dev:
            raise ConfigError(
                path,
                "this is a publicly known example secret (from Kratos's quickstart or this project's "
                "development config); anyone could forge cookies and codes with it. Set a random "
                "secret of your own, e.g. from `openssl rand -hex 32` (only --dev accepts it)",
            )
        logger.warning(
            "INSECURE: %s is a publicly known example secret; accepted only because of --dev. "
            "Never run like this where others can reach the server.",
            path,
        )
