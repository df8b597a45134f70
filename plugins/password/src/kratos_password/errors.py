"""Errors raised by the password plugin.

The hash-import errors are :class:`kratos_core.errors.BadRequest` subclasses because Kratos answers
an admin import of an unusable hash with HTTP 400 (kratos-behaviour.md section 5.3), so the admin
handler can let them propagate. :class:`BreachCheckUnavailable` is a 502 like Kratos's answer when
the breach API fails and ``ignore_network_errors`` is off (section 6.1).
"""

from __future__ import annotations

from kratos_core.api import BadGateway, BadRequest, TextMessage

__all__ = [
    "BreachCheckUnavailable",
    "HashBoundsError",
    "HashFormatError",
    "PasswordTooLongError",
    "PolicyViolation",
    "UnknownHashFormatError",
]


class HashFormatError(BadRequest):
    """An encoded hash that cannot be used (base class of the two import errors).

    Args:
        detail: What exactly is wrong, for logs; never part of the response body.
    """

    default_reason = "The imported password hash is invalid."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(self.default_reason)
        self.detail = detail


class UnknownHashFormatError(HashFormatError):
    """The hash matches no accepted format, or is malformed within its format."""

    default_reason = "The imported password does not match any known hash format."


class HashBoundsError(HashFormatError):
    """The hash is well-formed but its cost parameters exceed the bounds we verify."""

    default_reason = (
        "The imported password hash declares cost parameters that exceed the allowed bounds."
    )


class PasswordTooLongError(ValueError):
    """A password too long to hash: over 72 bytes for bcrypt, or over our overall cap.

    Raised instead of truncating, because bcrypt silently ignoring bytes after the 72nd is a
    known pitfall (kratos-behaviour.md section 12, pitfall 5).

    Attributes:
        max_length: The limit in bytes.
        actual_length: The password's length in UTF-8 bytes.
    """

    def __init__(self, max_length: int, actual_length: int) -> None:
        super().__init__(f"password is {actual_length} bytes long, the maximum is {max_length}")
        self.max_length = max_length
        self.actual_length = actual_length


class PolicyViolation(ValueError):
    """A password rejected by the policy; ``message`` belongs on the ``password`` node.

    Attributes:
        message: The Kratos text message (4000031..4000034).
    """

    def __init__(self, message: TextMessage) -> None:
        super().__init__(message.text)
        self.message = message


class BreachCheckUnavailable(BadGateway):
    """The breach API could not be asked and ``ignore_network_errors`` is false."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("Unable to check if the password has been leaked.")
        self.detail = detail
