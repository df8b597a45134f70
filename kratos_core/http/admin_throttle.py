"""Admin unlock for throttling and lockout (issue 15; beyond Kratos), on the admin port only.

* ``DELETE /admin/identities/{id}/throttle``: forget every counted attempt about the identity
  (its credential identifiers, addresses and id), from every client address; 204.
* ``DELETE /admin/throttle?identifier=...&address=...``: the same for one identifier (for
  example an email address no account has yet) and/or one client address; 204.

Neither reveals whether anything was locked.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from litestar import Request, delete

from ..errors import BadRequest, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp
    from ..identity.model import Identity

__all__ = ["throttle_admin_handlers", "identity_throttle_identifiers"]


def identity_throttle_identifiers(identity: Identity) -> list[str]:
    """Everything attempts about ``identity`` may be counted under (methods key on these)."""
    found = [str(identity.id)]
    for credential in identity.credentials.values():
        found.extend(credential.identifiers or ())
    found.extend(address.value for address in identity.verifiable_addresses)
    found.extend(address.value for address in identity.recovery_addresses)
    return found


def throttle_admin_handlers() -> list[Any]:
    """The admin unlock routes (created per app)."""

    @delete(
        "/admin/identities/{identity_id:str}/throttle",
        summary="Unlock an identity locked by too many attempts",
        tags=["identity"],
        status_code=204,
    )
    async def unlock_identity(request: Request[Any, Any, Any]) -> None:
        app: KratosApp = request.app.state["kratos"]
        try:
            identity_id = uuid.UUID(request.path_params["identity_id"])
        except ValueError:
            raise NotFound("Unable to locate the resource", message="Unable to locate the resource") from None
        identity = await app.identities.get(identity_id)
        await app.throttle.unlock(identity_throttle_identifiers(identity))

    @delete("/admin/throttle", summary="Unlock an identifier or a client address", tags=["identity"], status_code=204)
    async def unlock(request: Request[Any, Any, Any]) -> None:
        app: KratosApp = request.app.state["kratos"]
        identifier = request.query_params.get("identifier") or ""
        address = request.query_params.get("address") or ""
        if not identifier.strip() and not address.strip():
            raise BadRequest('Name the "identifier" or the "address" (query parameters) to unlock.')
        if identifier.strip():
            await app.throttle.unlock([identifier])
        if address.strip():
            await app.throttle.unlock_address(address.strip())

    return [unlock_identity, unlock]
