"""Flow drivers: sign up, sign in, verify and sign out through the public HTTP API.

They drive the API flows (``/self-service/<kind>/api``, then ``POST /self-service/<kind>?flow=``)
exactly as a native app does, so a test sees what a client sees: each helper returns the final
:class:`httpx.Response` after checking its status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from .courier import StubCourier
from .first_factor import STUB_FIRST_FACTOR

if TYPE_CHECKING:  # pragma: no cover
    from ..app import KratosApp

__all__ = ["FlowDriver", "FlowUnavailable", "UnexpectedStatus"]


class FlowUnavailable(Exception):
    """The server has no such flow: its init endpoint answered 404 (not built or disabled)."""


class UnexpectedStatus(AssertionError):
    """An answer's status was not the one the test expected; the message shows the body."""


def _check(response: httpx.Response, expect: int | None) -> httpx.Response:
    if expect is not None and response.status_code != expect:
        raise UnexpectedStatus(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}, "
            f"expected {expect}: {response.text[:2000]}"
        )
    return response


class FlowDriver:
    """Drives self-service flows over the app's clients.

    Args:
        public: A client on the public API.
        admin: A client on the admin API (for :meth:`create_identity`).
        courier: The stub courier whose messages :meth:`verify` reads codes from.
        app: The app behind the clients, whose queued courier messages :meth:`deliver` sends.
    """

    def __init__(
        self,
        public: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        courier: StubCourier | None = None,
        app: KratosApp | None = None,
    ) -> None:
        self.public = public
        self.admin = admin
        self.courier = courier
        self.app = app

    # -- the building blocks ---------------------------------------------------------------

    async def init(self, kind: str, *, session_token: str | None = None, **params: str) -> dict[str, Any]:
        """Create an API flow of ``kind`` (``login``, ``registration``, ``verification`` ...).

        Raises:
            FlowUnavailable: The init endpoint answered 404.
            UnexpectedStatus: Any other answer than 200.
        """
        headers = {"X-Session-Token": session_token} if session_token else {}
        response = await self.public.get(f"/self-service/{kind}/api", params=params, headers=headers)
        if response.status_code == 404:
            raise FlowUnavailable(f"/self-service/{kind}/api answered 404: {response.text[:500]}")
        return _check(response, 200).json()

    async def submit(
        self, kind: str, flow_id: str, body: dict[str, Any], *, session_token: str | None = None, expect: int | None = 200
    ) -> httpx.Response:
        """Submit ``body`` (JSON) to a flow; check the status is ``expect`` (None: any)."""
        headers = {"X-Session-Token": session_token} if session_token else {}
        response = await self.public.post(f"/self-service/{kind}", params={"flow": flow_id}, json=body, headers=headers)
        return _check(response, expect)

    # -- whole flows -----------------------------------------------------------------------

    async def register(
        self, traits: dict[str, Any], *, method: str = "password", expect: int | None = 200, **fields: Any
    ) -> httpx.Response:
        """Sign up with ``method`` in one submit (``password=...`` for the password method).

        The answer holds ``session_token`` and ``session`` only when the registration's
        ``after`` hooks include the ``session`` action, as in Kratos.
        """
        flow = await self.init("registration")
        return await self.submit("registration", flow["id"], {"method": method, "traits": traits, **fields}, expect=expect)

    async def login(
        self,
        identifier: str | None = None,
        *,
        method: str = "password",
        session_token: str | None = None,
        aal: str = "aal1",
        refresh: bool = False,
        expect: int | None = 200,
        **fields: Any,
    ) -> httpx.Response:
        """Sign in with ``method``; pass ``session_token`` and ``aal="aal2"`` for a second factor.

        A first factor's answer holds ``session_token``; a step-up keeps the token it was given.
        """
        params = {"aal": aal, **({"refresh": "true"} if refresh else {})}
        flow = await self.init("login", session_token=session_token, **params)
        body = {"method": method, **({"identifier": identifier} if identifier is not None else {}), **fields}
        return await self.submit("login", flow["id"], body, session_token=session_token, expect=expect)

    async def login_stub(self, identity_id: str, *, expect: int | None = 200) -> httpx.Response:
        """Sign ``identity_id`` in at aal1 with the stub first factor (no secret needed)."""
        return await self.login(method=STUB_FIRST_FACTOR, identity_id=str(identity_id), expect=expect)

    async def verify(self, address: str, *, code: str | None = None, expect: int | None = 200) -> httpx.Response:
        """Verify ``address`` with the ``code`` method: request a code, then submit it.

        Without ``code``, queued messages are delivered and the code is read from the newest
        message the stub courier recorded for ``address``.
        """
        flow = await self.init("verification")
        sent = await self.submit("verification", flow["id"], {"method": "code", "email": address}, expect=200)
        if code is None:
            code = await self._code_for(address)
        flow_id = sent.json().get("id", flow["id"])
        return await self.submit("verification", flow_id, {"method": "code", "code": code}, expect=expect)

    async def deliver(self) -> int:
        """Send every queued courier message now; the number of delivery attempts.

        Test apps run no courier worker, so messages stay queued until this runs.
        """
        if self.app is None:
            raise ValueError("build the driver with app=... to deliver queued messages")
        from ..courier.courier import courier_for

        return len(await courier_for(self.app).drain())

    async def _code_for(self, address: str) -> str:
        """The code in the newest message to ``address``, delivering queued messages first."""
        if self.courier is None:
            raise ValueError("pass code=..., or add the kratos_courier fixture to the plugins to read it")
        if self.app is not None:
            await self.deliver()
        return self.courier.email.last_code(address)

    async def logout(self, session_token: str, *, expect: int | None = 204) -> httpx.Response:
        """Sign a native app out (``DELETE /self-service/logout/api``)."""
        response = await self.public.request("DELETE", "/self-service/logout/api", json={"session_token": session_token})
        return _check(response, expect)

    async def whoami(self, session_token: str, *, expect: int | None = 200) -> httpx.Response:
        """``GET /sessions/whoami`` with a session token."""
        response = await self.public.get("/sessions/whoami", headers={"X-Session-Token": session_token})
        return _check(response, expect)

    async def create_identity(
        self, traits: dict[str, Any], *, credentials: dict[str, Any] | None = None, expect: int | None = 201, **fields: Any
    ) -> httpx.Response:
        """Create an identity through the admin API (schema ``default`` unless given)."""
        body: dict[str, Any] = {"schema_id": "default", "traits": traits, **fields}
        if credentials is not None:
            body["credentials"] = credentials
        return _check(await self.admin.post("/admin/identities", json=body), expect)
