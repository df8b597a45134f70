"""Security services beyond Kratos: throttling and lockout, and which client address counts.

Plugin authors use :class:`Throttle` (reached as ``ctx.services.throttle``) around every secret they
check or send; see docs/security.md and the plugin guide.
"""

from .client import ClientAddressResolver
from .throttle import KINDS, Throttle, ThrottleKeys, TooManyAttempts

__all__ = ["Throttle", "ThrottleKeys", "TooManyAttempts", "KINDS", "ClientAddressResolver"]
