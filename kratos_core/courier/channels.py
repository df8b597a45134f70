"""The courier channel protocol, and which registered channel delivers a message.

A channel plugin registers objects through ``kratos_register_courier_channels``. Channel ids are
the names messages and config use:

* ``email``: email messages (kratos-smtp sends them over SMTP);
* ``http``: email messages when ``courier.delivery_strategy`` is ``http`` (kratos-sms sends them
  to ``courier.http.request_config``);
* ``sms`` and any other ``courier.channels`` id: messages naming that channel (kratos-sms sends
  ``sms`` to the ``courier.channels`` entry with that id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .model import DeliveryError, Message

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

__all__ = [
    "CourierChannel",
    "ConfigurableChannel",
    "EMAIL_HTTP_CHANNEL",
    "CHANNEL_PACKAGES",
    "channel_id_for",
    "raise_missing",
]

#: The channel id of Kratos's ``courier.delivery_strategy: http`` for email.
EMAIL_HTTP_CHANNEL = "http"

#: Which package provides each channel Kratos knows, for start-up hints.
CHANNEL_PACKAGES: dict[str, str] = {"email": "kratos-smtp", EMAIL_HTTP_CHANNEL: "kratos-sms", "sms": "kratos-sms"}


@runtime_checkable
class CourierChannel(Protocol):
    """What a courier channel is.

    Attributes:
        id: The channel id (see the module docstring); duplicates fail at start-up.
    """

    id: str

    async def send(self, message: Message) -> None:
        """Deliver one message; returning means it was accepted by the next hop.

        Called by the courier worker, one attempt per call, never concurrently for the same
        message. Must finish within its own timeout (Kratos uses 10 s for SMTP and HTTP).

        Args:
            message: The rendered message (``recipient``, ``subject``, ``body``,
                ``html_body``, ``template_type``, ``template_data`` ...).

        Raises:
            DeliveryError: The attempt failed; the courier records it and retries with back-off
                (or abandons the message when ``permanent`` is set). Any other exception is
                recorded the same way, as a retryable failure.
        """
        ...


@runtime_checkable
class ConfigurableChannel(CourierChannel, Protocol):
    """A channel that reads and checks its settings at start-up."""

    def configure(self, config: Config) -> None:
        """Read the channel's settings from the validated config.

        Called once when the courier starts (server start-up or ``kratos courier watch``).

        Raises:
            ConfigError: The settings cannot work; the start fails with this message.
        """
        ...


def channel_id_for(message_channel: str, config: Config) -> str:
    """The registered channel that delivers messages naming ``message_channel``.

    Email follows ``courier.delivery_strategy`` (Kratos's only switch between SMTP and HTTP);
    every other channel is delivered by the plugin registered under its own id.
    """
    if message_channel == "email" and config.courier.delivery_strategy == "http":
        return EMAIL_HTTP_CHANNEL
    return message_channel


def raise_missing(channel_id: str) -> None:
    """Fail an attempt whose channel no installed plugin provides (Kratos: "no sms channel")."""
    package = CHANNEL_PACKAGES.get(channel_id)
    hint = f'install the "{package}" package' if package else "install the plugin that provides it"
    raise DeliveryError(f'no courier channel "{channel_id}" is installed: {hint}', details={"channel": channel_id})
