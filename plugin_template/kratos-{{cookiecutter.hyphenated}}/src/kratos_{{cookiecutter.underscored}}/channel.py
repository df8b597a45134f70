"""The ``{{ cookiecutter.underscored }}`` courier channel: rot13s each message body into an outbox.

A stand-in for a real gateway that shows the shape of one: an ``id`` messages name, typed
settings, and an async ``send(message)`` the courier worker awaits once per delivery attempt
(raise ``DeliveryError`` to have the attempt recorded and retried).
"""

from __future__ import annotations

import codecs
import json
from collections import deque
from pathlib import Path

from kratos_core.api import Message

from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config

__all__ = ["{{ cookiecutter.class_name }}Channel", "rot13"]


def rot13(text: str) -> str:
    """``text`` with every ASCII letter moved 13 places (applying it twice gives ``text`` back)."""
    return codecs.encode(text, "rot13")


class {{ cookiecutter.class_name }}Channel:
    """The channel object registered with the plugin host.

    Args:
        settings: The channel's settings (the defaults when None).

    Attributes:
        sent: The newest sent messages as ``{"recipient", "subject", "body"}`` dicts, body rot13'd.
    """

    id = "{{ cookiecutter.underscored }}"
    #: Validates the ``config`` of the ``courier.channels`` entry with this id, at start-up.
    config_model = {{ cookiecutter.class_name }}Config

    def __init__(self, settings: {{ cookiecutter.class_name }}Config | None = None) -> None:
        self.settings = settings or {{ cookiecutter.class_name }}Config()
        self.sent: deque[dict[str, str]] = deque(maxlen=self.settings.keep or None)

    def configure(self, settings: {{ cookiecutter.class_name }}Config, config: object = None) -> None:
        """Take the validated settings (called once before the first delivery).

        Args:
            settings: The entry's ``config`` as :class:`{{ cookiecutter.class_name }}Config`.
            config: The whole server config (unused here).
        """
        del config
        self.settings = settings
        self.sent = deque(self.sent, maxlen=settings.keep or None)

    async def send(self, message: Message) -> None:
        """Deliver one message: rot13 its body, keep it, and append it to the outbox file."""
        record = {"recipient": message.recipient, "subject": message.subject, "body": rot13(message.body)}
        if self.settings.keep:
            self.sent.append(record)
        if self.settings.outbox:
            with Path(self.settings.outbox).open("a", encoding="utf-8") as outbox:
                outbox.write(json.dumps(record) + "\n")
