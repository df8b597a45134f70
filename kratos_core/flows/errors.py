"""The flow-error family: how methods, actions and plugins steer a running flow.

Plugins never write responses themselves; they raise one of these and the engine answers as
Kratos does (kratos-behaviour.md sections 3.2 and 7.2):

* :class:`FlowValidationError`: messages on fields or on the whole flow; the flow is shown
  again (400 with the flow for JSON and API callers, 303 back to the UI for browsers).
* :class:`FlowRedirect`: the browser must go somewhere (303 for browsers, 422
  ``browser_location_change_required`` for JSON and API callers).
* Any other :class:`~kratos_core.errors.KratosError` aborts the flow. A 400 becomes message
  4000001 on the flow (``identity_disabled`` becomes 4010011); every other status is answered
  as a JSON error, or by sending browsers to the error UI.

:class:`FlowExpired` is raised by the engine itself when a submit arrives too late.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import BadRequest, KratosError, UnprocessableEntity
from ..ui.container import Issue
from ..ui.text import TextMessage

if TYPE_CHECKING:  # pragma: no cover
    from ..identity.validation import ValidationIssue
    from .model import Flow

__all__ = [
    "FlowValidationError",
    "FlowRedirect",
    "FlowExpired",
    "FlowAlreadyCompleted",
    "identity_disabled",
    "session_already_available",
    "browser_location_change_required",
]


class FlowValidationError(BadRequest):
    """The submit (or a hook) found problems the user can fix: show the flow with messages.

    Args:
        issues: Field problems as ``(JSON pointer or node name, message)`` pairs; a pointer of
            ``"#/"`` or ``""`` puts the message on the flow itself.
        messages: Flow-level messages (``ui.messages``).

    Example:
        ``raise FlowValidationError.on_field("password", messages.missing_property("password"))``
    """

    def __init__(
        self,
        issues: Iterable[Issue] = (),
        *,
        messages: Iterable[TextMessage] = (),
    ) -> None:
        self.issues = list(issues)
        self.messages = list(messages)
        texts = [m.text for m in self.messages] + [i.message.text for i in self.issues]
        super().__init__("; ".join(texts) or "The request was invalid.")

    @classmethod
    def on_field(cls, name: str, message: TextMessage) -> FlowValidationError:
        """One message on the node named ``name`` (``password``, ``traits.email`` ...)."""
        pointer = "#/" + name.replace(".", "/")
        return cls([Issue(pointer=pointer, message=message)])

    @classmethod
    def on_pointer(cls, pointer: str, message: TextMessage) -> FlowValidationError:
        """One message at a JSON instance pointer: ``#/traits/email`` is the ``traits.email`` node."""
        return cls([Issue(pointer=pointer, message=message)])

    @classmethod
    def on_flow(cls, message: TextMessage) -> FlowValidationError:
        """One message on the flow itself."""
        return cls(messages=[message])

    @classmethod
    def from_traits(cls, issues: Iterable[ValidationIssue]) -> FlowValidationError:
        """The issues of a :class:`~kratos_core.identity.TraitsValidationError`."""
        return cls([Issue(pointer=i.pointer, message=i.message) for i in issues])


class FlowRedirect(Exception):
    """Send the browser to ``url`` (303 for browsers; 422 for JSON and API callers).

    Args:
        url: Where the browser has to go.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class FlowExpired(Exception):
    """A submit arrived after ``flow.expires_at``; the engine answers with a replacement flow."""

    def __init__(self, flow: Flow) -> None:
        super().__init__(f"{flow.kind} flow {flow.id} expired")
        self.flow = flow


class FlowAlreadyCompleted(Exception):
    """A parallel submit completed the flow first; this one stored nothing (issue 15).

    Raised by the flow kinds at their completion point; the engine answers exactly as for a
    submit of an already completed flow (4010007 / 4040002 on the stored flow).
    """


def identity_disabled() -> BadRequest:
    """The identity is ``inactive`` and cannot get a session (shown on the flow as 4010011)."""
    return BadRequest("This account was disabled.", id="identity_disabled")


def session_already_available() -> BadRequest:
    """The request already has a valid session (section 3.4)."""
    return BadRequest(
        "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?",
        id="session_already_available",
    )


def browser_location_change_required(url: str) -> KratosError:
    """Kratos's 422 telling JSON and API callers to send the browser to ``url``."""
    return UnprocessableEntity(
        f"In order to complete this flow please redirect the browser to: {url}",
        id="browser_location_change_required",
        message="browser location change required",
        extra={"redirect_browser_to": url},
    )
