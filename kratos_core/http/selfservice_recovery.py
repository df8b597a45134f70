"""Self-service routes for recovery and verification (public API, kratos-behaviour.md section 1.1).

Per flow kind: a browser init, an API init, a fetch by id and the submit, which also answers
GET because the links in recovery and verification messages (``?flow=...&code=...`` or
``&token=...``) are opened by browsers. The handlers only pick the flow kind; the work is in
:mod:`kratos_core.flows.recovery` and :mod:`kratos_core.flows.verification`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, route
from litestar.enums import HttpMethod

from ..flows.exchange import Exchange
from ..flows.recovery import RecoveryFlows
from ..flows.verification import VerificationFlows

__all__ = ["recovery_verification_public_handlers"]

_TAGS = ["frontend"]
_SUBMIT = [HttpMethod.POST, HttpMethod.GET]


def recovery_verification_public_handlers() -> list[Any]:
    """The recovery and verification routes (created per app)."""

    @get("/self-service/recovery/browser", summary="Create a browser recovery flow", tags=_TAGS)
    async def create_browser_recovery_flow(request: Request) -> Response[Any]:
        return await RecoveryFlows(Exchange(request)).init("browser")

    @get("/self-service/recovery/api", summary="Create a recovery flow for native apps", tags=_TAGS)
    async def create_native_recovery_flow(request: Request) -> Response[Any]:
        return await RecoveryFlows(Exchange(request)).init("api")

    @get("/self-service/recovery/flows", summary="Get a recovery flow", tags=_TAGS)
    async def get_recovery_flow(request: Request) -> Response[Any]:
        return await RecoveryFlows(Exchange(request)).fetch()

    @route("/self-service/recovery", http_method=_SUBMIT, summary="Submit a recovery flow", tags=_TAGS)
    async def update_recovery_flow(request: Request) -> Response[Any]:
        return await RecoveryFlows(Exchange(request)).submit()

    @get("/self-service/verification/browser", summary="Create a browser verification flow", tags=_TAGS)
    async def create_browser_verification_flow(request: Request) -> Response[Any]:
        return await VerificationFlows(Exchange(request)).init("browser")

    @get("/self-service/verification/api", summary="Create a verification flow for native apps", tags=_TAGS)
    async def create_native_verification_flow(request: Request) -> Response[Any]:
        return await VerificationFlows(Exchange(request)).init("api")

    @get("/self-service/verification/flows", summary="Get a verification flow", tags=_TAGS)
    async def get_verification_flow(request: Request) -> Response[Any]:
        return await VerificationFlows(Exchange(request)).fetch()

    @route("/self-service/verification", http_method=_SUBMIT, summary="Submit a verification flow", tags=_TAGS)
    async def update_verification_flow(request: Request) -> Response[Any]:
        return await VerificationFlows(Exchange(request)).submit()

    return [
        create_browser_recovery_flow,
        create_native_recovery_flow,
        get_recovery_flow,
        update_recovery_flow,
        create_browser_verification_flow,
        create_native_verification_flow,
        get_verification_flow,
        update_verification_flow,
    ]
