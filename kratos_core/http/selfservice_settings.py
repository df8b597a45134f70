"""Self-service routes of the settings flow (public API, kratos-behaviour.md section 1.1).

Browser init, API init, fetch by id and the submit; the submit URL also answers ``GET``, where a
refresh login sends the browser back to (section 1.7). The handlers only build the request's
:class:`~kratos_core.flows.exchange.Exchange`; :mod:`kratos_core.flows.settings` does the work.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from ..flows.exchange import Exchange
from ..flows.settings import SettingsFlows

__all__ = ["settings_public_handlers"]

_TAGS = ["frontend"]


def settings_public_handlers() -> list[Any]:
    """The settings routes (created per app)."""

    @get("/self-service/settings/browser", summary="Create a settings flow for browsers", tags=_TAGS)
    async def create_browser_settings_flow(request: Request) -> Response[Any]:
        return await SettingsFlows(Exchange(request)).init("browser")

    @get("/self-service/settings/api", summary="Create a settings flow for native apps", tags=_TAGS)
    async def create_native_settings_flow(request: Request) -> Response[Any]:
        return await SettingsFlows(Exchange(request)).init("api")

    @get("/self-service/settings/flows", summary="Get a settings flow", tags=_TAGS)
    async def get_settings_flow(request: Request) -> Response[Any]:
        return await SettingsFlows(Exchange(request)).fetch()

    @post("/self-service/settings", summary="Submit a settings flow", tags=_TAGS)
    async def update_settings_flow(request: Request) -> Response[Any]:
        return await SettingsFlows(Exchange(request)).submit()

    @get("/self-service/settings", summary="Return to a settings flow after re-authentication", tags=_TAGS)
    async def resume_settings_flow(request: Request) -> Response[Any]:
        return await SettingsFlows(Exchange(request)).resume()

    return [
        create_browser_settings_flow,
        create_native_settings_flow,
        get_settings_flow,
        update_settings_flow,
        resume_settings_flow,
    ]
