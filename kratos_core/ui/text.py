"""The text message object UIs translate by id (kratos-behaviour.md section 2.6)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["TextMessage", "MessageType"]

MessageType = Literal["info", "error", "success"]


class TextMessage(msgspec.Struct, frozen=True):
    """One message: ``{"id", "text", "type", "context"?}``; ``context`` is omitted when empty.

    UIs key on ``id`` and interpolate from ``context``, so both are part of the contract.
    """

    id: int
    text: str
    type: MessageType = "info"
    context: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET

    def to_dict(self) -> dict[str, Any]:
        """The wire JSON object as builtins."""
        out: dict[str, Any] = {"id": self.id, "text": self.text, "type": self.type}
        if self.context:
            out["context"] = dict(self.context)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextMessage:
        """Read a message back from its wire JSON object (validates the id, text and type)."""
        return msgspec.convert(data, cls)
