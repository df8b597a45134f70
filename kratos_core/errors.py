"""Errors in Kratos's wire shape.

Every error the server answers with is a :class:`KratosError`. Its JSON body is
``{"error": {"id"?, "code", "status", "reason"?, "message", "details"?, "request"?}}`` plus, for a
few special errors, sibling keys such as ``redirect_browser_to`` or ``use_flow_id``
(kratos-behaviour.md section 3.4). Handlers raise these; the HTTP layer renders them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "KratosError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Gone",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "UnprocessableEntity",
    "InternalServerError",
    "BadGateway",
    "ServiceUnavailable",
    "GatewayTimeout",
]


class KratosError(Exception):
    """An error with an HTTP status and Kratos's error body.

    Args:
        reason: The human explanation (``error.reason``).
        id: The stable error id (``error.id``), e.g. ``session_inactive``.
        message: The short message (``error.message``); defaults per status code.
        details: Extra structured data (``error.details``).
        extra: Top-level keys next to ``error`` (``redirect_browser_to``, ``use_flow_id`` ...).
    """

    status_code: int = 500
    default_message: str = "An internal server error occurred, please contact the system administrator"

    def __init__(
        self,
        reason: str | None = None,
        *,
        id: str | None = None,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        if status_code is not None:
            self.status_code = status_code
        self.reason = reason
        self.id = id
        self.message = message or self.default_message
        self.details = details or {}
        self.extra = extra or {}
        super().__init__(reason or self.message)

    @property
    def status(self) -> str:
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:  # pragma: no cover - only for made-up codes
            return "Unknown"

    def to_dict(self, request_id: str | None = None) -> dict[str, Any]:
        """The ``error`` object itself (without the envelope)."""
        err: dict[str, Any] = {}
        if self.id:
            err["id"] = self.id
        err["code"] = self.status_code
        err["status"] = self.status
        if request_id:
            err["request"] = request_id
        if self.reason:
            err["reason"] = self.reason
        if self.details:
            err["details"] = self.details
        err["message"] = self.message
        return err

    def to_body(self, request_id: str | None = None) -> dict[str, Any]:
        """The whole JSON body: ``{"error": {...}}`` plus any top-level extras."""
        body: dict[str, Any] = {"error": self.to_dict(request_id)}
        body.update(self.extra)
        return body


class BadRequest(KratosError):
    """400: malformed input; during a flow submit it is shown as a message on the flow."""

    status_code = 400
    default_message = "The request was malformed or contained invalid parameters"


class Unauthorized(KratosError):
    """401: no valid session (or token) where one is needed."""

    status_code = 401
    default_message = "The request could not be authorized"


class Forbidden(KratosError):
    """403: the session may not do this (e.g. ``session_aal2_required``, a privileged session needed)."""

    status_code = 403
    default_message = "The requested action was forbidden"


class NotFound(KratosError):
    """404: no such resource (an unknown id, a disabled endpoint)."""

    status_code = 404
    default_message = "The requested resource could not be found"


class Conflict(KratosError):
    """409: a unique identifier or address is taken by another identity."""

    status_code = 409
    default_message = "The resource could not be created due to a conflict"


class Gone(KratosError):
    """410: the resource expired (e.g. ``self_service_flow_expired``)."""

    status_code = 410
    default_message = "The requested resource is no longer available because it has expired or is otherwise invalid."


class PayloadTooLarge(KratosError):
    status_code = 413
    default_message = "The request body is too large"


class UnsupportedMediaType(KratosError):
    status_code = 415
    default_message = "The request's content type is not supported"


class UnprocessableEntity(KratosError):
    status_code = 422
    default_message = "The request could not be processed"


class InternalServerError(KratosError):
    """500: an unexpected failure; its details are logged, never shown."""

    status_code = 500


class BadGateway(KratosError):
    """502: an upstream service (a webhook, an HTTP gateway, a breach check) failed."""

    status_code = 502
    default_message = "A third-party upstream service responded improperly."


class ServiceUnavailable(KratosError):
    status_code = 503
    default_message = "The service is currently unavailable"


class GatewayTimeout(KratosError):
    status_code = 504
    default_message = "A third-party upstream service could not be reached."
