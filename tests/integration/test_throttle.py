"""Throttling and lockout over HTTP (issue 15, findings 1 and 2), with the default limits.

What an attacker gets: password guesses are refused with 429 and ``Retry-After`` after a few
attempts (the same answer when the password is right), while the right user at another address
and other accounts carry on; recovery-code guessing across new flows from ever new addresses is
bounded per account per hour and per day (printed, and asserted against the docs' arithmetic);
one address cannot be mail-bombed; an administrator can unlock; ``X-Forwarded-For`` counts only
from trusted proxies.

Days pass on a fake clock: the ``limits`` memory storage and the throttle read ``time.time``
through their modules, which the ``clock`` fixture replaces; flows and codes keep real time.
"""

from __future__ import annotations

import itertools
import time
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import limits.aio.storage.memory as limits_memory
import pytest

import kratos_code.plugin as code_plugin
import kratos_password.plugin as password_plugin
from kratos_core.security import throttle as throttle_module
from kratos_core.testing import default_config, merge

PASSWORD = "correct horse battery staple"
VICTIM = "victim@example.org"
OTHER = "bystander@example.org"
PUBLIC = "http://127.0.0.1:4433"
ADMIN = "http://127.0.0.1:4434"
HOUR, DAY = 3600, 24 * 3600


class Clock:
    """``time.time`` plus an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    patched = types.SimpleNamespace(time=fake.time)
    monkeypatch.setattr(limits_memory, "time", patched)
    monkeypatch.setattr(throttle_module, "time", patched)
    return fake


class Kratos:
    """One app with the password and code plugins; clients per client address."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._open: list[httpx.AsyncClient] = []
        self.admin = self._client(app.admin, ADMIN, ("127.0.0.1", 50000))

    def _client(self, asgi: Any, base: str, peer: tuple[str, int]) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi, client=peer), base_url=base)
        self._open.append(client)
        return client

    def public(self, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        """A public-API client whose connections come from ``peer``."""
        return self._client(self.app.public, PUBLIC, (peer, 50000))

    async def close(self) -> None:
        for client in self._open:
            await client.aclose()

    async def create_identity(self, email: str) -> dict[str, Any]:
        body = {
            "schema_id": "default",
            "traits": {"email": email},
            "credentials": {"password": {"config": {"password": PASSWORD}}},
        }
        response = await self.admin.post("/admin/identities", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    async def mails(self, template_type: str, recipient: str) -> list[dict[str, Any]]:
        rows = await self.app.db.fetch(
            "SELECT template_data FROM courier_messages WHERE template_type = $1 AND recipient = $2 ORDER BY created_at",
            template_type,
            recipient,
        )
        return [row["template_data"] for row in rows]


async def build(factory: Any, tmp_path: Path, **security: Any) -> Kratos:
    config = merge(
        default_config(tmp_path),
        {
            "selfservice": {
                "methods": {"password": {"enabled": True}, "code": {"enabled": True}},
                "flows": {"recovery": {"enabled": True, "use": "code"}},
            },
            "security": security,
        },
    )
    return Kratos(await factory(config, plugins=[password_plugin, code_plugin]))


@pytest.fixture
async def kc(kratos_app_factory: Any, tmp_path: Path) -> AsyncIterator[Kratos]:
    kratos = await build(kratos_app_factory, tmp_path)
    yield kratos
    await kratos.close()


async def login(client: httpx.AsyncClient, identifier: str, password: str, **headers: str) -> httpx.Response:
    flow = await client.get("/self-service/login/api", headers=headers)
    assert flow.status_code == 200, flow.text
    body = {"method": "password", "identifier": identifier, "password": password}
    return await client.post("/self-service/login", params={"flow": flow.json()["id"]}, json=body, headers=headers)


def assert_throttled(response: httpx.Response) -> int:
    """A 429 in Kratos's error shape with ``Retry-After``; returns the seconds to wait."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == 429 and error["status"] == "Too Many Requests"
    assert error["id"] == "rate_limit_exceeded" and error["message"]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1 and error["details"]["retry_after"] == retry_after
    return retry_after


# -- passwords ---------------------------------------------------------------------------------


async def test_password_guessing_is_refused_with_429_and_the_right_password_gets_the_same(kc: Kratos) -> None:
    await kc.create_identity(VICTIM)
    await kc.create_identity(OTHER)
    attacker = kc.public("203.0.113.66")
    answers = []
    for attempt in range(1, 21):
        response = await login(attacker, VICTIM, f"wrong guess {attempt}")
        answers.append(response.status_code)
        if response.status_code == 429:
            break
    # At most 20 attempts (the default lets 5 through per minute), then refusals.
    assert answers[-1] == 429 and answers[:-1] == [400] * (len(answers) - 1) and len(answers) <= 20
    wrong = await login(attacker, VICTIM, "yet another guess")
    right = await login(attacker, VICTIM, PASSWORD)
    assert_throttled(wrong)
    assert_throttled(right)
    # The same answer whether the password was right or not.
    assert right.json() == wrong.json() and "set-cookie" not in right.headers
    assert abs(int(right.headers["retry-after"]) - int(wrong.headers["retry-after"])) <= 1
    # Another account from the same address, and the right user at their own address, carry on.
    assert (await login(attacker, OTHER, PASSWORD)).status_code == 200
    assert (await login(kc.public("198.51.100.7"), VICTIM, PASSWORD)).status_code == 200


async def test_the_password_lock_expires_and_escalates(kc: Kratos, clock: Clock) -> None:
    await kc.create_identity(VICTIM)
    attacker = kc.public("203.0.113.66")
    waits = []
    allowed = 0
    while clock.offset < 2 * HOUR:
        response = await login(attacker, VICTIM, "a wrong guess")
        if response.status_code == 429:
            wait = assert_throttled(response)
            waits.append(wait)
            clock.advance(wait)
        else:
            assert response.status_code == 400
            allowed += 1
    # 5 per minute, 10 per 10 minutes, then 20 per hour: the waits grow to most of an hour.
    assert waits[0] <= 60 and max(waits) > 30 * 60
    assert allowed <= 40  # 20 in each hour at most
    # After the lock has passed, the right password works again (locks expire).
    clock.advance(HOUR)
    assert (await login(attacker, VICTIM, PASSWORD)).status_code == 200


async def test_a_browser_form_post_is_shown_the_refusal_on_the_error_page(kc: Kratos) -> None:
    await kc.create_identity(VICTIM)
    browser = kc.public("203.0.113.66")
    for _ in range(6):
        init = await browser.get("/self-service/login/browser", headers={"Accept": "application/json"})
        flow = init.json()
        csrf = next(n for n in flow["ui"]["nodes"] if n["attributes"]["name"] == "csrf_token")["attributes"]["value"]
        form = {"method": "password", "identifier": VICTIM, "password": "wrong", "csrf_token": csrf}
        response = await browser.post("/self-service/login", params={"flow": flow["id"]}, data=form)
    assert response.status_code == 303
    assert int(response.headers["retry-after"]) >= 1
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:4455/error?id=")
    shown = await browser.get("/self-service/errors", params={"id": location.rsplit("=", 1)[1]})
    assert shown.json()["error"]["code"] == 429 and shown.json()["error"]["id"] == "rate_limit_exceeded"


# -- recovery codes: the account-takeover of finding 1 -------------------------------------------


async def test_recovery_code_guessing_across_new_flows_is_bounded_per_hour_and_day(
    kratos_app_factory: Any, tmp_path: Path, clock: Clock
) -> None:
    # The attacker is as strong as it gets: every flow from a new address (a trusted proxy
    # passes them on), so only the per-account limits stand in the way.
    kc = await build(kratos_app_factory, tmp_path, trusted_proxies=["127.0.0.1"])
    await kc.create_identity(VICTIM)
    client = kc.public("127.0.0.1")
    addresses = (f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in itertools.count(1))
    guesses_per_hour: dict[int, int] = {}
    refusals = 0
    while clock.offset < DAY:
        hour = int(clock.offset // HOUR)
        headers = {"X-Forwarded-For": next(addresses)}
        flow = await client.get("/self-service/recovery/api", headers=headers)
        assert flow.status_code == 200, flow.text
        flow_id = flow.json()["id"]
        sent = await client.post(
            "/self-service/recovery", params={"flow": flow_id}, json={"method": "code", "email": VICTIM}, headers=headers
        )
        if sent.status_code == 429:
            refusals += 1
            clock.advance(assert_throttled(sent))
            continue
        assert sent.status_code == 200, sent.text
        real = (await kc.mails("recovery_code_valid", VICTIM))[-1]["recovery_code"]
        wrong = (f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" != real)
        for _ in range(5):  # the flow's own limit
            guess = await client.post(
                "/self-service/recovery",
                params={"flow": flow_id},
                json={"method": "code", "code": next(wrong)},
                headers=headers,
            )
            if guess.status_code == 429:
                refusals += 1
                clock.advance(assert_throttled(guess))
                break
            assert guess.status_code == 200 and guess.json()["ui"]["messages"][0]["id"] == 4060006, guess.text
            guesses_per_hour[hour] = guesses_per_hour.get(hour, 0) + 1
    per_day = sum(guesses_per_hour.values())
    mails = len(await kc.mails("recovery_code_valid", VICTIM))
    print(
        f"\nrecovery-code guesses against one account: at most {max(guesses_per_hour.values())} in an hour, "
        f"{per_day} in a day ({refusals} refusals, {mails} mails to the victim); "
        f"expected time to guess a six-digit code: {1_000_000 / per_day / 365:.0f} years"
    )
    # security.rate_limits.code.identifier = 25/hour, 50/day; code_sending.identifier = 5/hour, 10/day
    assert max(guesses_per_hour.values()) <= 25
    assert per_day <= 50
    assert mails <= 10
    assert 1_000_000 / per_day / 365 > 50  # years, on average, to hit one code


async def test_code_sends_to_one_address_are_bounded_and_unknown_addresses_answer_alike(
    kratos_app_factory: Any, tmp_path: Path
) -> None:
    kc = await build(kratos_app_factory, tmp_path, trusted_proxies=["127.0.0.1"])
    await kc.create_identity(VICTIM)
    client = kc.public("127.0.0.1")

    async def send(email: str, n: int) -> list[int]:
        answers = []
        for i in range(n):
            headers = {"X-Forwarded-For": f"10.9.{n}.{i}"}
            flow = (await client.get("/self-service/recovery/api", headers=headers)).json()
            response = await client.post(
                "/self-service/recovery", params={"flow": flow["id"]}, json={"method": "code", "email": email}, headers=headers
            )
            answers.append(response.status_code)
        return answers

    assert await send(VICTIM, 20) == [200] * 5 + [429] * 15
    assert len(await kc.mails("recovery_code_valid", VICTIM)) == 5
    # An address nobody has is refused at the same point: 429 tells nothing about accounts.
    assert await send("nobody@example.org", 20) == [200] * 5 + [429] * 15


async def test_one_client_cannot_create_flows_without_end(kc: Kratos) -> None:
    client = kc.public("203.0.113.66")
    answers = [(await client.get("/self-service/recovery/api")).status_code for _ in range(35)]
    assert answers == [200] * 30 + [429] * 5
    assert_throttled(await client.get("/self-service/login/api"))
    assert (await kc.public("198.51.100.7").get("/self-service/login/api")).status_code == 200


# -- admin unlock --------------------------------------------------------------------------------


async def test_an_administrator_unlocks_an_identity(kc: Kratos) -> None:
    identity = await kc.create_identity(VICTIM)
    attacker = kc.public("203.0.113.66")
    for attempt in range(6):
        last = await login(attacker, VICTIM, f"wrong {attempt}")
    assert_throttled(last)
    assert_throttled(await login(attacker, VICTIM, PASSWORD))
    unlocked = await kc.admin.delete(f"/admin/identities/{identity['id']}/throttle")
    assert unlocked.status_code == 204, unlocked.text
    assert (await login(attacker, VICTIM, PASSWORD)).status_code == 200

    missing = await kc.admin.delete("/admin/identities/00000000-0000-0000-0000-000000000000/throttle")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404
    # The same by identifier, and a client address of its own.
    for attempt in range(6):
        last = await login(attacker, "someone@example.org", f"wrong {attempt}")
    assert_throttled(last)
    assert (await kc.admin.delete("/admin/throttle", params={"identifier": "Someone@Example.org"})).status_code == 204
    assert (await login(attacker, "someone@example.org", "wrong")).status_code == 400
    refused = await kc.admin.delete("/admin/throttle")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 400


async def test_an_administrator_unlocks_a_client_address(kc: Kratos) -> None:
    client = kc.public("203.0.113.66")
    for _ in range(31):
        last = await client.get("/self-service/login/api")
    assert_throttled(last)
    response = await kc.admin.delete("/admin/throttle", params={"address": "203.0.113.66"})
    assert response.status_code == 204
    assert (await client.get("/self-service/login/api")).status_code == 200


# -- which address counts ------------------------------------------------------------------------


async def test_x_forwarded_for_is_ignored_without_trusted_proxies(kc: Kratos) -> None:
    await kc.create_identity(VICTIM)
    attacker = kc.public("203.0.113.66")
    answers = [
        (await login(attacker, VICTIM, "wrong", **{"X-Forwarded-For": f"10.0.0.{i}"})).status_code for i in range(8)
    ]
    assert answers == [400] * 5 + [429] * 3


async def test_x_forwarded_for_counts_from_a_trusted_proxy_only(kratos_app_factory: Any, tmp_path: Path) -> None:
    kc = await build(kratos_app_factory, tmp_path, trusted_proxies=["192.0.2.0/24"])
    await kc.create_identity(VICTIM)
    proxy = kc.public("192.0.2.10")
    for _ in range(6):
        last = await login(proxy, VICTIM, "wrong", **{"X-Forwarded-For": "203.0.113.66"})
    assert_throttled(last)
    # The right user behind the same proxy, at another address, is not locked out.
    assert (await login(proxy, VICTIM, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})).status_code == 200
    # A client that is no trusted proxy cannot pick its address by the header.
    direct = kc.public("203.0.113.99")
    answers = [
        (await login(direct, VICTIM, "wrong", **{"X-Forwarded-For": f"198.51.100.{i}"})).status_code for i in range(7)
    ]
    assert answers == [400] * 5 + [429] * 2
    await kc.close()


# -- config --------------------------------------------------------------------------------------


async def test_limits_can_be_set_and_switched_off(kratos_app_factory: Any, tmp_path: Path) -> None:
    kc = await build(kratos_app_factory, tmp_path, rate_limits={"password": {"address_and_identifier": ["2/hour"]}})
    await kc.create_identity(VICTIM)
    client = kc.public("203.0.113.66")
    answers = [(await login(client, VICTIM, "wrong")).status_code for _ in range(3)]
    assert answers == [400, 400, 429]
    assert kc.app.config.security.rate_limits.rule("password").identifier == ("100/hour",)  # default kept
    await kc.close()

    off = await build(kratos_app_factory, tmp_path, rate_limits={"enabled": False})
    client = off.public("203.0.113.66")
    assert {(await login(client, VICTIM, "wrong")).status_code for _ in range(25)} == {400}
    await off.close()


@pytest.mark.parametrize(
    ("security", "wanted"),
    [
        ({"rate_limits": {"code": {"identifier": ["5/fortnight"]}}}, "rate_limits.code.identifier"),
        ({"trusted_proxies": ["not-an-address"]}, "not-an-address"),
        ({"rate_limits": {"storage_url": "mongodb://x"}}, "storage_url"),
    ],
)
async def test_bad_limits_stop_the_start(kratos_app_factory: Any, tmp_path: Path, security: Any, wanted: str) -> None:
    with pytest.raises(Exception, match=wanted):
        await build(kratos_app_factory, tmp_path, **security)


async def test_changing_ones_address_to_someone_elses_again_and_again_mails_them_a_bounded_number(
    kratos_app_factory: Any, tmp_path: Path
) -> None:
    # Settings changes send verification codes by themselves; past the limit the mail is
    # skipped (the change is stored and answered as usual), so nobody is mailed without end.
    config = merge(
        default_config(tmp_path),
        {
            "selfservice": {
                "methods": {"password": {"enabled": True}, "code": {"enabled": True}},
                "flows": {"verification": {"enabled": True, "use": "code"}},
            }
        },
    )
    kc = Kratos(await kratos_app_factory(config, plugins=[password_plugin, code_plugin]))
    await kc.create_identity("mallory@example.org")
    client = kc.public("203.0.113.66")
    token = (await login(client, "mallory@example.org", PASSWORD)).json()["session_token"]
    headers = {"X-Session-Token": token}
    for _ in range(8):
        for email in (VICTIM, "mallory@example.org"):
            flow = (await client.get("/self-service/settings/api", headers=headers)).json()
            body = {"method": "profile", "traits": {"email": email}}
            changed = await client.post("/self-service/settings", params={"flow": flow["id"]}, json=body, headers=headers)
            assert changed.status_code == 200, changed.text
    assert len(await kc.mails("verification_code_valid", VICTIM)) == 5
    await kc.close()
