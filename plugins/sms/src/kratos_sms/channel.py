"""The HTTP courier channels: ``sms`` (and other ``courier.channels`` ids) and ``http`` (email).

Each send is one HTTP request (kratos-behaviour.md section 8.3): a 2xx answer means sent;
anything else, or no answer within 10 s, is a failed attempt that the courier retries. Without
its settings (no ``courier.channels`` entry named ``sms``) every attempt fails, as in Kratos.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kratos_core.api import DeliveryError, Message

from .request import DEFAULT_TIMEOUT, Prepared, load_request_config, send

if TYPE_CHECKING:  # pragma: no cover
    from kratos_core.api import Config

__all__ = ["HttpChannel"]


class HttpChannel:
    """An HTTP courier channel.

    Args:
        id: ``http`` reads ``courier.http.request_config`` (email with
            ``courier.delivery_strategy: http``); any other id reads the ``courier.channels``
            entry with that id.
        timeout: Seconds to wait for the gateway (Kratos: 10).
    """

    def __init__(self, id: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.id = id
        self.timeout = timeout
        self.prepared: Prepared | None = None
        self._missing = f'no courier.channels entry has the id "{id}"'

    def configure(self, config: Config) -> None:
        """Load and check this channel's ``request_config`` (called once at start-up).

        Raises:
            ConfigError: The request config is invalid, or ``delivery_strategy: http`` is set
                without ``courier.http.request_config``.
        """
        if self.id == "http":
            self._configure_email(config)
            return
        for index, entry in enumerate(config.courier.channels):
            if entry.id == self.id:
                key = f"courier.channels.{index}.request_config"
                self.prepared = load_request_config(entry.request_config, config, key, message_type="sms")
                return

    def _configure_email(self, config: Config) -> None:
        from kratos_core.api import ConfigError

        raw = config.courier.http.request_config
        self._missing = "courier.http.request_config is not set"
        if raw is None:
            if config.courier.delivery_strategy == "http":
                raise ConfigError("courier.http.request_config", 'is required when courier.delivery_strategy is "http"')
            return
        self.prepared = load_request_config(raw, config, "courier.http.request_config", message_type="email")

    async def send(self, message: Message) -> None:
        """Send ``message`` as one HTTP request.

        Raises:
            DeliveryError: Not configured, or the request failed (see module docstring).
        """
        if self.prepared is None:
            raise DeliveryError(f"{self._missing}: cannot send {message.channel} messages")
        await send(self.prepared, message, timeout=self.timeout)
