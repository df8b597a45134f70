"""Routes both APIs share: health, version, identity schemas, and the port hops.

Kratos answers ``/admin/*`` on the public port with a 307 to the admin URL (and self-service
routes on the admin port with a 307 to the public URL) so a client pointed at the wrong port
still lands right (kratos-behaviour.md section 1.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, route
from litestar.enums import HttpMethod
from litestar.response import Redirect

from .. import __version__
from ..errors import NotFound
from .responses import json_response

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["shared_handlers", "public_to_admin_redirects", "admin_to_public_redirects"]

_ALL_METHODS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]


def kratos(request: Request) -> KratosApp:
    return request.app.state["kratos"]


def shared_handlers(api: str) -> list[Any]:
    """Health, version and schema handlers for one API (``public`` or ``admin``).

    The admin API also answers under the ``/admin`` prefix (Kratos's admin router does both);
    on the public API that prefix belongs to the port hop instead.
    """

    def paths(path: str) -> list[str]:
        return [path, "/admin" + path] if api == "admin" else [path]

    @get(paths("/health/alive"), summary="Process is up", tags=["health"])
    async def health_alive() -> Response[bytes]:
        return json_response({"status": "ok"})

    @get(paths("/health/ready"), summary="Database answers and migrations are applied", tags=["health"])
    async def health_ready(request: Request) -> Response[bytes]:
        from ..persistence.migrate import pending_migrations

        app = kratos(request)
        errors: dict[str, str] = {}
        try:
            await app.db.ping()
            if await pending_migrations(app.db):
                errors["migrations"] = "migrations have not yet been fully applied"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            # The public port never shows internals (Kratos obfuscates them there too).
            errors["database"] = str(exc) if api == "admin" else (
                "error may contain sensitive information and was obfuscated"
            )
        if errors:
            return json_response({"errors": errors}, status_code=503)
        return json_response({"status": "ok"})

    # /version belongs to the admin API only (Kratos does not serve it on the public port).
    @get(paths("/version"), summary="Server version", tags=["metadata"])
    async def version() -> Response[bytes]:
        return json_response({"version": f"v{__version__}"})

    @get(paths("/schemas"), summary="List identity schemas", tags=["identity"])
    async def list_schemas(request: Request) -> Response[bytes]:
        items = [{"id": s.id, "schema": s.raw} for s in kratos(request).schemas.all()]
        page, per_page = _page_params(request)
        chunk = items[page * per_page : (page + 1) * per_page]
        return json_response(chunk, headers={"X-Total-Count": str(len(items))})

    @get(paths("/schemas/{schema_id:str}"), summary="Get an identity schema", tags=["identity"])
    async def get_schema(request: Request) -> Response[bytes]:
        schema_id = request.path_params["schema_id"]
        try:
            schema = kratos(request).schemas.resolve(schema_id)
        except (KeyError, NotFound) as exc:
            raise NotFound("Identity schema not found.", message="The requested resource could not be found") from exc
        return json_response(schema.raw)

    @get("/.well-known/change-password", summary="Where to change a password", tags=["frontend"], include_in_schema=False)
    async def change_password(request: Request) -> Redirect:
        # RFC 8615 / W3C "well-known URL for changing passwords": password managers open it.
        return Redirect(path=kratos(request).config.selfservice.flows.settings.ui_url, status_code=303)

    if api == "public":
        return [health_alive, health_ready, list_schemas, get_schema, change_password]
    return [health_alive, health_ready, version, list_schemas, get_schema]


def _page_params(request: Request) -> tuple[int, int]:
    def as_int(name: str, default: int) -> int:
        try:
            return max(int(request.query_params.get(name, default)), 0)
        except (TypeError, ValueError):
            return default

    return as_int("page", 0), min(max(as_int("per_page", 250), 1), 1000)


def _redirect(base_url: str, request: Request) -> Redirect:
    target = base_url.rstrip("/") + request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(path=target, status_code=307)


# Kratos hops only the identity and recovery admin routes (x/redir/port_redirect.go); any other
# /admin path on the public port is a plain 404, as there.
@route(
    ["/admin/identities", "/admin/identities/{rest:path}", "/identities", "/identities/{rest:path}", "/recovery/code", "/recovery/link"],
    http_method=_ALL_METHODS,
    include_in_schema=False,
)
async def public_to_admin(request: Request) -> Redirect:
    return _redirect(kratos(request).admin_base_url, request)


@route(["/self-service/{rest:path}", "/sessions", "/sessions/{rest:path}"], http_method=_ALL_METHODS,
       include_in_schema=False)
async def admin_to_public(request: Request) -> Redirect:
    return _redirect(kratos(request).public_base_url, request)


def public_to_admin_redirects() -> list[Any]:
    return [public_to_admin]


def admin_to_public_redirects() -> list[Any]:
    return [admin_to_public]
