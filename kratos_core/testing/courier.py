"""A courier that records messages instead of sending them (a stub broker, as Dramatiq has)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import hookimpl

__all__ = ["StubChannel", "StubCourier", "field_of"]

_CODE = re.compile(r"\b(\d{6})\b")


def field_of(message: Any, name: str) -> Any:
    """A message field, whether the message is an object or a mapping (None when absent)."""
    if isinstance(message, Mapping):
        return message.get(name)
    return getattr(message, name, None)


class StubChannel:
    """A courier channel that keeps what it is asked to send.

    Args:
        id: The channel id messages name (``email``, ``sms``).

    Attributes:
        messages: Every message passed to :meth:`send`, oldest first.
    """

    config_model = None

    def __init__(self, id: str) -> None:
        self.id = id
        self.messages: list[Any] = []

    async def send(self, message: Any) -> None:
        """Record ``message``; never fails."""
        self.messages.append(message)

    def to(self, recipient: str) -> list[Any]:
        """The messages sent to ``recipient`` (compared case-insensitively), oldest first."""
        wanted = recipient.lower()
        return [m for m in self.messages if str(field_of(m, "recipient") or "").lower() == wanted]

    def last_code(self, recipient: str) -> str:
        """The six-digit code in the newest message to ``recipient`` (verification, recovery, login).

        Raises:
            AssertionError: Nothing was sent to ``recipient``, or the message holds no code.
        """
        sent = self.to(recipient)
        assert sent, f"no message was sent to {recipient!r}; sent: {self.messages!r}"
        text = f"{field_of(sent[-1], 'body') or ''} {field_of(sent[-1], 'template_data') or ''}"
        found = _CODE.search(text)
        assert found, f"the newest message to {recipient!r} holds no six-digit code: {sent[-1]!r}"
        return found.group(1)

    def clear(self) -> None:
        """Forget the recorded messages."""
        self.messages.clear()


class StubCourier:
    """A plugin that registers recording ``email`` and ``sms`` channels.

    Pass it in an app's plugins, then read ``courier.email.messages`` (or ``courier.messages``
    for both channels). It replaces a real channel plugin: do not install both in one app, the
    channel ids would clash at start-up.

    Attributes:
        email: The ``email`` channel.
        sms: The ``sms`` channel.
    """

    def __init__(self) -> None:
        self.email = StubChannel("email")
        self.sms = StubChannel("sms")

    @property
    def messages(self) -> list[Any]:
        """Messages of both channels (email first, then SMS)."""
        return [*self.email.messages, *self.sms.messages]

    @hookimpl
    def kratos_register_courier_channels(self, register: Any) -> None:
        """Register the two recording channels."""
        register(self.email)
        register(self.sms)
