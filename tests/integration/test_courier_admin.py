"""The admin courier API: list and get messages, filters, pages, redaction, and the official SDK."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import ory_kratos_client
import pytest
from ory_kratos_client.api.courier_api import CourierApi
from ory_kratos_client.exceptions import ApiException
from ory_kratos_client.models.courier_message_status import CourierMessageStatus

from kratos_core.app import KratosApp
from kratos_core.courier import Courier, store
from tests.conftest import LiveServer, base_config, make_app
from tests.courier_helpers import FAST, Recorder

REDACTED = "<redacted-unless-dev-mode>"


async def _app(tmp_path: Path, *, dev: bool) -> KratosApp:
    app = make_app(tmp_path, base_config(tmp_path), plugins=[Recorder(fail_times=1)], dev=dev)
    await app.start(migrate=True)
    return app


@pytest.fixture(params=[True, False], ids=["dev", "prod"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[KratosApp, httpx.AsyncClient, Courier]]:
    app = await _app(tmp_path, dev=request.param)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.admin), base_url="http://127.0.0.1:4434") as client:
        yield app, client, Courier(app, options=FAST)
    await app.stop()


async def seed(courier: Courier, count: int, recipient: str = "list@example.org") -> list[uuid.UUID]:
    ids = []
    for i in range(count):
        ids.append(await courier.queue(courier.app.db, recipient=recipient, template_type="login_code_valid", template_data={"login_code": f"{i:06d}"}))
    return ids


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", ""))}


async def test_list_newest_first_with_pages(env: Any) -> None:
    app, client, courier = env
    ids = await seed(courier, 5)
    seen: list[str] = []
    response = await client.get("/admin/courier/messages", params={"page_size": 2})
    pages = 0
    while True:
        assert response.status_code == 200
        assert len(response.json()) <= 2
        seen += [m["id"] for m in response.json()]
        pages += 1
        assert links(response)["first"] == "http://127.0.0.1:4434/admin/courier/messages?page_size=2"
        if "next" not in links(response):
            break
        response = await client.get(links(response)["next"].removeprefix("http://127.0.0.1:4434"))
    assert pages == 3
    assert seen == [str(i) for i in reversed(ids)]


async def test_default_page_size_is_ten(env: Any) -> None:
    _, client, courier = env
    await seed(courier, 12)
    response = await client.get("/admin/courier/messages")
    assert len(response.json()) == 10 and "next" in links(response)


async def test_message_shape_and_redaction(env: Any) -> None:
    app, client, courier = env
    (message_id,) = await seed(courier, 1, "shape@example.org")
    (item,) = (await client.get("/admin/courier/messages")).json()
    assert set(item) == {"id", "status", "type", "channel", "recipient", "subject", "body", "template_type", "send_count", "created_at", "updated_at"}
    assert (item["id"], item["status"], item["type"], item["channel"]) == (str(message_id), "queued", "email", "email")
    assert (item["recipient"], item["template_type"], item["send_count"]) == ("shape@example.org", "login_code_valid", 0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", item["created_at"])
    if app.config.dev:
        assert item["subject"] == "Use code 000000 to log in" and "000000" in item["body"]
    else:
        assert item["subject"] == REDACTED and item["body"] == REDACTED


async def test_get_with_dispatches_newest_first(env: Any) -> None:
    app, client, courier = env
    (message_id,) = await seed(courier, 1)
    await courier.drain(include_retries=True)  # the recorder fails the first attempt
    response = await client.get(f"/admin/courier/messages/{message_id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["send_count"]) == ("sent", 2)
    success, failed = body["dispatches"]
    assert (success["status"], failed["status"]) == ("success", "failed")
    assert "error" not in success and failed["error"] == {"message": "gateway unavailable", "status_code": 503}
    assert success["message_id"] == str(message_id) and success["created_at"] >= failed["created_at"]
    assert (await client.get(f"/courier/messages/{message_id}")).json()["id"] == str(message_id)


async def test_filters(env: Any) -> None:
    _, client, courier = env
    await seed(courier, 2, "a@example.org")
    (b,) = await seed(courier, 1, "b@example.org")
    await courier.drain(include_retries=True)
    (c,) = await seed(courier, 1, "b@example.org")
    by_recipient = (await client.get("/admin/courier/messages", params={"recipient": "b@example.org"})).json()
    assert [m["id"] for m in by_recipient] == [str(c), str(b)]
    queued = (await client.get("/admin/courier/messages", params={"status": "queued"})).json()
    assert [m["id"] for m in queued] == [str(c)]
    both = await client.get("/courier/messages", params={"status": "sent", "recipient": "b@example.org", "page_size": 1})
    assert [m["id"] for m in both.json()] == [str(b)]
    assert "status=sent" in links(both)["first"] and "recipient=b%40example.org" in links(both)["first"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"status": "delivered"}, "Message status is not valid"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
async def test_bad_list_parameters_are_400(env: Any, params: dict[str, str], reason: str) -> None:
    _, client, _ = env
    response = await client.get("/admin/courier/messages", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and reason in error["reason"]
    assert error["message"] == "The request was malformed or contained invalid parameters"


async def test_get_unknown_is_404_and_malformed_is_400(env: Any) -> None:
    _, client, _ = env
    unknown = await client.get(f"/admin/courier/messages/{uuid.uuid4()}")
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "Unable to locate the resource"
    malformed = await client.get("/admin/courier/messages/not-a-uuid")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == 400


async def test_sms_is_typed_phone_and_sdk_unknown_types_are_hidden(env: Any) -> None:
    app, client, courier = env
    sms = await courier.queue(app.db, recipient="+15550100", channel="sms", template_type="login_code_valid", template_data={"login_code": "123456"})
    hidden = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    # Written by something else (Kratos's notify_previous_addresses): the SDK cannot parse it.
    await app.db.execute(
        "INSERT INTO courier_messages (id, type, channel, status, recipient, template_type, template_data, created_at, updated_at) "
        "VALUES ($1, 'email', 'email', 'queued', 'x@example.org', 'verifiable_address_changed', $2::jsonb, $3, $3)",
        hidden,
        {},
        now,
    )
    listed = (await client.get("/admin/courier/messages")).json()
    assert [(m["id"], m["type"], m["channel"]) for m in listed] == [(str(sms), "phone", "sms")]
    assert (await client.get(f"/admin/courier/messages/{hidden}")).status_code == 404


# -- the official SDK -------------------------------------------------------------------------------


def _seed_live(live: LiveServer) -> tuple[uuid.UUID, uuid.UUID]:
    async def seed_both() -> tuple[uuid.UUID, uuid.UUID]:
        courier = Courier(live.app, options=FAST)
        email = await courier.queue(live.app.db, recipient="sdk@example.org", template_type="verification_code_valid", template_data={"verification_code": "123456"})
        sms = await courier.queue(live.app.db, recipient="+15550100", channel="sms", template_type="login_code_valid", template_data={"login_code": "654321"})
        await live.app.db.execute("UPDATE courier_messages SET status = 'abandoned', send_count = 6 WHERE id = $1", sms)
        from kratos_core.courier.model import Dispatch

        message = await store.get_message(live.app.db, sms)
        failed = Dispatch(id=uuid.uuid4(), message_id=sms, status="failed", error={"message": "boom"}, created_at=message.updated_at, updated_at=message.updated_at)
        await store.record_attempt(live.app.db, message, failed, status="abandoned", next_attempt_at=None)
        return email, sms

    assert live._loop is not None
    return asyncio.run_coroutine_threadsafe(seed_both(), live._loop).result(10)


def test_every_courier_response_parses_with_the_sdk(live: LiveServer) -> None:
    email_id, sms_id = _seed_live(live)
    api = CourierApi(ory_kratos_client.ApiClient(ory_kratos_client.Configuration(host=live.admin_url)))

    listed = api.list_courier_messages_with_http_info(page_size=1)
    assert [m.id for m in listed.data] == [str(sms_id)]
    assert 'rel="next"' in {k.lower(): v for k, v in listed.headers.items()}["link"]
    (sms,) = listed.data
    assert sms.type == "phone" and sms.channel == "sms" and sms.status == CourierMessageStatus.ABANDONED

    everything = api.list_courier_messages(page_size=1000)  # Kratos allows up to 1000
    assert [m.id for m in everything] == [str(sms_id), str(email_id)]
    queued = api.list_courier_messages(status=CourierMessageStatus.QUEUED, recipient="sdk@example.org")
    assert [m.id for m in queued] == [str(email_id)] and queued[0].subject == "Use code 123456 to verify your account"

    detail = api.get_courier_message(str(sms_id))
    assert detail.template_type == "login_code_valid" and detail.send_count == 7
    assert [d.status for d in detail.dispatches] == ["failed"] and detail.dispatches[0].error == {"message": "boom"}
    assert api.get_courier_message(str(email_id)).dispatches == []

    with pytest.raises(ApiException) as err:
        api.get_courier_message(str(uuid.uuid4()))
    assert err.value.status == 404
