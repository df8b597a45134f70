"""Self-service routes for login and registration, and the error store (public API).

kratos-behaviour.md section 1.1: per flow kind a browser init, an API init, a fetch by id and
the submit (login also answers the submit on GET); ``/self-service/errors`` returns the errors
browsers were sent to the error UI with. The handlers only pick the flow kind; the flows package
(:mod:`kratos_core.flows`) does the work.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, route
from litestar.enums import HttpMethod

from ..errors import InternalServerError, NotFound
from ..flows.exchange import Exchange
from ..flows.login import LoginFlows
from ..flows.model import timestamp
from ..flows.registration import RegistrationFlows
from ..identity.model import utcnow
from ..persistence import flows as store
from .responses import json_response

__all__ = ["selfservice_public_handlers", "STUB_ERROR_ID"]

#: ``GET /self-service/errors?id=stub:500`` answers a canned example (for UI development).
STUB_ERROR_ID = "stub:500"

_TAGS = ["frontend"]


def selfservice_public_handlers() -> list[Any]:
    """The login, registration and error-store routes (created per app)."""

    @get("/self-service/login/browser", summary="Create a browser login flow", tags=_TAGS)
    async def create_browser_login_flow(request: Request) -> Response[Any]:
        return await LoginFlows(Exchange(request)).init("browser")

    @get("/self-service/login/api", summary="Create a login flow for native apps", tags=_TAGS)
    async def create_native_login_flow(request: Request) -> Response[Any]:
        return await LoginFlows(Exchange(request)).init("api")

    @get("/self-service/login/flows", summary="Get a login flow", tags=_TAGS)
    async def get_login_flow(request: Request) -> Response[Any]:
        return await LoginFlows(Exchange(request)).fetch()

    @route("/self-service/login", http_method=[HttpMethod.POST, HttpMethod.GET], summary="Submit a login flow", tags=_TAGS)
    async def update_login_flow(request: Request) -> Response[Any]:
        return await LoginFlows(Exchange(request)).submit()

    @get("/self-service/registration/browser", summary="Create a browser registration flow", tags=_TAGS)
    async def create_browser_registration_flow(request: Request) -> Response[Any]:
        return await RegistrationFlows(Exchange(request)).init("browser")

    @get("/self-service/registration/api", summary="Create a registration flow for native apps", tags=_TAGS)
    async def create_native_registration_flow(request: Request) -> Response[Any]:
        return await RegistrationFlows(Exchange(request)).init("api")

    @get("/self-service/registration/flows", summary="Get a registration flow", tags=_TAGS)
    async def get_registration_flow(request: Request) -> Response[Any]:
        return await RegistrationFlows(Exchange(request)).fetch()

    @route("/self-service/registration", http_method=[HttpMethod.POST], summary="Submit a registration flow", tags=_TAGS)
    async def update_registration_flow(request: Request) -> Response[Any]:
        return await RegistrationFlows(Exchange(request)).submit()

    @get("/self-service/errors", summary="Get a self-service error", tags=_TAGS)
    async def get_flow_error(request: Request) -> Response[bytes]:
        # ``error`` is the legacy name of the parameter (section 3.5).
        raw = request.query_params.get("id") or request.query_params.get("error") or ""
        if raw == STUB_ERROR_ID:
            return json_response(_stub_error())
        return json_response(await _stored_error(request, raw))

    return [
        create_browser_login_flow,
        create_native_login_flow,
        get_login_flow,
        update_login_flow,
        create_browser_registration_flow,
        create_native_registration_flow,
        get_registration_flow,
        update_registration_flow,
        get_flow_error,
    ]


async def _stored_error(request: Request, raw: str) -> dict[str, Any]:
    not_found = NotFound("Unable to locate the resource", message="Unable to locate the resource")
    try:
        error_id = uuid.UUID(raw)
    except ValueError:
        raise not_found from None
    found = await store.get_error(request.app.state["kratos"].db, error_id)
    if found is None:
        raise not_found
    error, created_at, updated_at = found
    return {"id": str(error_id), "error": error, "created_at": timestamp(created_at), "updated_at": timestamp(updated_at)}


def _stub_error() -> dict[str, Any]:
    now = timestamp(utcnow())
    error = InternalServerError("This is a stub error.").to_dict()
    return {"id": STUB_ERROR_ID, "error": error, "created_at": now, "updated_at": now}
