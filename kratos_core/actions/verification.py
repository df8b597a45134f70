"""The ``verification``, ``show_verification_ui`` and ``require_verified_address`` actions.

kratos-behaviour.md sections 3.8, 7.2 and 7.3:

* ``verification`` runs first after registration (and settings) whenever verification is
  enabled, and where a login's config names it: it creates a verification flow in
  ``sent_email`` for the identity's first unverified address, sends the code or link and
  remembers the flow on the origin flow (``internal_context["verification_flows"]``).
* ``show_verification_ui`` turns those flows into ``continue_with`` items
  (``{action: show_verification_ui, flow: {id, verifiable_address, url?}}``); a browser that
  posted a form is sent to the verification UI instead of the return URL.
* ``require_verified_address`` refuses a login while no address of the identity is verified:
  it starts a verification for the first address and answers 403
  ``session_verified_address_required`` (JSON) or a 303 to the verification UI (browsers).
"""

from __future__ import annotations

from typing import Any

from ..errors import InternalServerError, KratosError
from ..flows.errors import FlowRedirect, FlowValidationError
from ..flows.exchange import with_query
from ..flows.verification import start_verification
from ..identity.model import VerifiableAddress
from ..ui import messages
from ..web.negotiation import is_json_request
from .runner import LOGIN_AFTER, REGISTRATION_AFTER, SETTINGS_AFTER, ActionContext

__all__ = [
    "VerificationAction",
    "ShowVerificationUIAction",
    "RequireVerifiedAddressAction",
    "VerifiedAddressRequired",
    "VERIFICATION_FLOWS_KEY",
]

#: Where the ``verification`` action leaves the flows it created, on the origin flow.
VERIFICATION_FLOWS_KEY = "verification_flows"


def _verification_ui(ctx: ActionContext, flow_id: str) -> str:
    return with_query(ctx.app.config.selfservice.flows.verification.ui_url, flow=flow_id)


def wants_redirect(request: Any, flow: Any) -> bool:
    """Whether the answer to this request is a redirect (a browser flow, not a JSON request)."""
    headers = request.headers
    return flow.type == "browser" and not is_json_request(headers.get("accept"), headers.get("content-type"))


def _one_per_identity(ctx: ActionContext, addresses: list[VerifiableAddress]) -> list[VerifiableAddress]:
    # Kratos starts (and shows) only the first address's flow unless the legacy flag is on.
    return addresses if ctx.app.config.feature_flags.legacy_continue_with_verification_ui else addresses[:1]


class VerificationAction:
    """Send a verification code or link right after sign-up, a settings change or a login."""

    id = "verification"
    config_model = None
    stages = frozenset({REGISTRATION_AFTER, SETTINGS_AFTER, LOGIN_AFTER})

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        del config
        if ctx.stage == LOGIN_AFTER and ctx.flow.data.get("requested_aal", "aal1") != "aal1":
            return  # a second factor proves nothing about addresses
        if ctx.stage == SETTINGS_AFTER:
            pending = [a for a in ctx.identity.verifiable_addresses if a.status == "pending" and not a.verified]
        else:
            pending = [a for a in ctx.identity.verifiable_addresses if not a.verified]
        session_id = getattr(ctx.session, "id", None)
        started = ctx.flow.internal_context.setdefault(VERIFICATION_FLOWS_KEY, [])
        for address in _one_per_identity(ctx, pending):
            flow = await start_verification(
                ctx.app, ctx.request, ctx.flow, ctx.identity, address, session_id=session_id
            )
            if flow is None:
                return  # verification is off, or its method is not installed
            url = _verification_ui(ctx, str(flow.id)) if flow.is_browser else None
            started.append({"id": str(flow.id), "verifiable_address": address.value, **({"url": url} if url else {})})


class ShowVerificationUIAction:
    """Point the client at the verification flows the ``verification`` action started."""

    id = "show_verification_ui"
    config_model = None
    stages = frozenset({REGISTRATION_AFTER, SETTINGS_AFTER, LOGIN_AFTER})

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        del config
        started = ctx.flow.internal_context.get(VERIFICATION_FLOWS_KEY) or []
        for item in started:
            ctx.continue_with.append({"action": "show_verification_ui", "flow": dict(item)})
        if started and started[0].get("url") and wants_redirect(ctx.request, ctx.flow):
            # A browser that posted a form goes to the verification UI, not to return_to
            # (section 3.8); the flow's return_to is where the engines take that URL from.
            ctx.flow.return_to = started[0]["url"]


class VerifiedAddressRequired(KratosError):
    """``session_verified_address_required``: HTTP 403 whose body says 400, as Kratos sends it."""

    status_code = 403
    default_message = "The request was malformed or contained invalid parameters"

    def to_dict(self, request_id: str | None = None) -> dict[str, Any]:
        out = super().to_dict(request_id)
        out["code"], out["status"] = 400, "Bad Request"
        return out


class RequireVerifiedAddressAction:
    """Refuse a login until one of the identity's addresses is verified."""

    id = "require_verified_address"
    config_model = None
    stages = frozenset({LOGIN_AFTER})

    async def execute(self, ctx: ActionContext, config: Any) -> None:
        del config
        addresses = ctx.identity.verifiable_addresses
        if any(a.verified for a in addresses):
            return
        if not addresses:
            raise InternalServerError(
                "The require_verified_address hook is configured, but the identity has no verifiable address: "
                "check the identity schema's verification settings."
            )
        if ctx.app.config.feature_flags.legacy_require_verified_login_error:
            raise FlowValidationError.on_flow(messages.address_not_verified())
        # The login is aborted: the verification flow belongs to no session.
        flow = await start_verification(ctx.app, ctx.request, ctx.flow, ctx.identity, addresses[0])
        if flow is None:
            raise FlowValidationError.on_flow(messages.address_not_verified())
        url = _verification_ui(ctx, str(flow.id))
        if wants_redirect(ctx.request, ctx.flow):
            raise FlowRedirect(url)
        item = {
            "action": "show_verification_ui",
            "flow": {"id": str(flow.id), "verifiable_address": addresses[0].value, "url": url},
        }
        raise VerifiedAddressRequired(
            "Your account's email or phone address are not verified yet. Please check your email or phone inbox "
            "or re-request verification.",
            id="session_verified_address_required",
            message="identity does not have a verified address",
            details={"continue_with": [item]},
        )
