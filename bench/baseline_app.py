"""The baseline for ratio (a): a bare Litestar JSON endpoint on the same server stack.

Served by the same uvicorn settings and worker count as ``kratos serve``, so the ratio
whoami/bare isolates what our code costs over the framework.
"""

from __future__ import annotations

from litestar import Litestar, Response, get
import msgspec

_BODY = msgspec.json.encode({"id": "0e3c3d5b-0000-4000-8000-000000000000", "active": True})


@get("/bare")
async def bare() -> Response[bytes]:
    return Response(content=_BODY, media_type="application/json")


app = Litestar(route_handlers=[bare], logging_config=None, openapi_config=None)
