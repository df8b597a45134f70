"""kratos-code: the ``code`` and ``link`` methods for kratos_core.

* :class:`~kratos_code.method.CodeMethod` (``code``): six-digit one-time codes for verification
  and recovery, and, with ``passwordless_enabled``, for sign-in and sign-up;
* :class:`~kratos_code.link.LinkMethod` (``link``): Kratos's legacy magic links for recovery and
  verification.

Storing and checking codes is the core's (:mod:`kratos_core.persistence.codes`); the hook
implementations live in :mod:`kratos_code.plugin`, registered under the ``kratos`` entry point.
"""

from __future__ import annotations

from kratos_code.config import CodeConfig, LinkConfig
from kratos_code.link import LinkMethod
from kratos_code.method import CodeMethod

__all__ = ["CodeMethod", "LinkMethod", "CodeConfig", "LinkConfig"]
