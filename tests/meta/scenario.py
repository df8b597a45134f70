"""One scenario that goes through every flow stage, courier outcome and identity write.

The event-catalogue and hook-coverage meta-tests run it with their observer plugged in: a
registration, a refused and an accepted login, a refresh, a settings change, a verification, a
recovery, a delivered and an abandoned message, a logout and an identity deletion, on an app
that is started and stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kratos_code.plugin as code_plugin
import kratos_password.plugin as password_plugin
from kratos_core import hookimpl
from kratos_core.courier.model import DeliveryError
from kratos_core.testing import AppFactory, FlowDriver, StubCourier, clients, default_config, merge

PASSWORD = "a catalogue of events 42"
NEW_PASSWORD = "another catalogue of events 43"


class Bounce:
    """Refuses, for good, delivery to one address, so that a message is abandoned."""

    @hookimpl
    def kratos_courier_before_send(self, message: Any) -> None:
        if message.recipient == "bounce@example.org":
            raise DeliveryError("mailbox does not exist", permanent=True)


CONFIG = {
    "selfservice": {
        "methods": {
            "password": {"enabled": True, "config": {"haveibeenpwned_enabled": False}},
            "code": {"enabled": True},
        },
        "flows": {
            "registration": {"after": {"password": {"hooks": [{"hook": "session"}]}}},
            "recovery": {"enabled": True, "use": "code"},
            "verification": {"enabled": True, "use": "code"},
        },
    }
}


async def run_scenario(tmp_path: Path, courier: StubCourier, *plugins: object) -> None:
    """Build an app with password, code, ``courier`` and ``plugins``; drive the scenario; stop it."""
    factory = AppFactory(tmp_path)
    try:
        app = await factory(merge(default_config(tmp_path), CONFIG), plugins=[password_plugin, code_plugin, courier, Bounce(), *plugins])
        async with clients(app) as (public, admin):
            await drive(FlowDriver(public, admin, courier, app), courier, admin)
    finally:
        await factory.close()


async def drive(driver: FlowDriver, courier: StubCourier, admin: Any) -> None:
    """Registration, a failed and a good login, refresh, settings, verification, recovery,
    delivery, an abandoned message, logout and deletion."""
    email = "catalogue@example.org"
    await driver.register({"email": email}, password=PASSWORD)
    await driver.login(email, password="not the password", expect=400)
    token = (await driver.login(email, password=PASSWORD)).json()["session_token"]
    await driver.login(email, password=PASSWORD, session_token=token, refresh=True)

    flow = await driver.init("settings", session_token=token)
    await driver.submit("settings", flow["id"], {"method": "password", "password": NEW_PASSWORD}, session_token=token)

    await driver.verify(email)

    recovery = await driver.init("recovery")
    await driver.submit("recovery", recovery["id"], {"method": "code", "email": email})
    await driver.deliver()
    code = courier.email.last_code(email)
    await driver.submit("recovery", recovery["id"], {"method": "code", "code": code}, expect=422)

    bounce = (await driver.create_identity({"email": "bounce@example.org"})).json()
    flow = await driver.init("verification")
    await driver.submit("verification", flow["id"], {"method": "code", "email": "bounce@example.org"})
    await driver.deliver()

    await driver.logout(token)
    assert (await admin.delete(f"/admin/identities/{bounce['id']}")).status_code == 204


