"""kratos-sms against a local HTTP gateway."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kratos_sms.plugin
import pytest
from kratos_sms import HttpChannel

from kratos_core import hookimpl
from kratos_core.config import ConfigError
from kratos_core.courier import Courier, store

PLUGINS = [kratos_sms.plugin]

JSONNET = """
function(ctx) {
  to: ctx.recipient,
  text: ctx.body,
  kind: ctx.message_type,
  code: ctx.template_data.login_code,
}
"""


def b64(text: str) -> str:
    return "base64://" + base64.b64encode(text.encode()).decode()


async def queue_sms(courier: Courier, code: str = "123456") -> Any:
    return await courier.queue(
        courier.app.db,
        recipient="+15550100",
        template_type="login_code_valid",
        template_data={"login_code": code, "request_url": "https://auth.example.org/self-service/login/api"},
        channel="sms",
    )


async def state(courier: Courier, message_id: Any) -> tuple[str, int, list[str]]:
    message = await store.get_message(courier.app.db, message_id)
    dispatches = await store.list_dispatches(courier.app.db, message_id)
    return message.status, message.send_count, [d.status for d in dispatches]


class _ShortTimeout:
    @hookimpl
    def kratos_register_courier_channels(self, register: Any) -> None:
        register(HttpChannel("sms", timeout=0.3))


# -- delivery -------------------------------------------------------------------------------------


async def test_sms_is_posted_with_the_jsonnet_body(make_courier: Any, sms_config: Any, gateway: Any) -> None:
    cfg = sms_config({"url": f"{gateway.url}/send", "method": "POST", "headers": {"X-Tenant": "t1"}, "body": b64(JSONNET)})
    courier = await make_courier(cfg, PLUGINS)
    message_id = await queue_sms(courier)
    (outcome,) = await courier.drain()
    assert outcome.status == "sent"
    assert await state(courier, message_id) == ("sent", 1, ["success"])
    (request,) = gateway.received
    assert (request.method, request.path) == ("POST", "/send")
    assert request.headers["x-tenant"] == "t1" and request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["to"] == "+15550100" and body["kind"] == "sms" and body["code"] == "123456"
    # The SMS text ends with the WebOTP line for the domain that asked for the code.
    assert body["text"].endswith("@auth.example.org #123456")


async def test_default_body_without_a_template(make_courier: Any, sms_config: Any, gateway: Any) -> None:
    courier = await make_courier(sms_config({"url": gateway.url}), PLUGINS)
    await queue_sms(courier, "654321")
    await courier.drain()
    body = gateway.received[0].json()
    assert body["recipient"] == "+15550100" and body["template_type"] == "login_code_valid"
    assert body["to"] == "+15550100" and "654321" in body["body"] and body["subject"] == ""
    assert body["recovery_code"] is None and body["verification_url"] is None


async def test_body_template_from_a_file(make_courier: Any, sms_config: Any, gateway: Any, tmp_path: Path) -> None:
    template = tmp_path / "sms.jsonnet"
    template.write_text('function(ctx) { phone: ctx.recipient, length: std.length(ctx.body) }')
    courier = await make_courier(sms_config({"url": gateway.url, "body": f"file://{template}"}), PLUGINS)
    await queue_sms(courier)
    await courier.drain()
    assert gateway.received[0].json()["phone"] == "+15550100"


@pytest.mark.parametrize(
    ("auth", "check"),
    [
        ({"type": "basic_auth", "config": {"user": "u", "password": "p"}}, lambda h: h["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()),
        ({"type": "api_key", "config": {"name": "X-API-Key", "value": "k3y", "in": "header"}}, lambda h: h["x-api-key"] == "k3y"),
        ({"type": "api_key", "config": {"name": "session", "value": "k3y", "in": "cookie"}}, lambda h: h["cookie"] == "session=k3y"),
    ],
)
async def test_gateway_auth(make_courier: Any, sms_config: Any, gateway: Any, auth: dict[str, Any], check: Any) -> None:
    courier = await make_courier(sms_config({"url": gateway.url, "auth": auth}), PLUGINS)
    await queue_sms(courier)
    await courier.drain()
    assert check(gateway.received[0].headers)


async def test_email_over_http_delivery_strategy(make_courier: Any, sms_config: Any, gateway: Any) -> None:
    body = 'function(ctx) { to: ctx.recipient, subject: ctx.subject, html: ctx.html_body, kind: ctx.message_type }'
    cfg = sms_config(delivery_strategy="http", http={"request_config": {"url": f"{gateway.url}/mail", "method": "PUT", "body": b64(body)}})
    courier = await make_courier(cfg, PLUGINS)
    message_id = await courier.queue(courier.app.db, recipient="jane@example.org", template_type="login_code_valid", template_data={"login_code": "777111"})
    await courier.drain()
    assert await state(courier, message_id) == ("sent", 1, ["success"])
    (request,) = gateway.received
    sent = request.json()
    assert request.method == "PUT" and sent["kind"] == "email" and sent["subject"] == "Use code 777111 to log in"
    assert "777111" in sent["html"] and "<html" in sent["html"]


# -- failures -------------------------------------------------------------------------------------


async def test_gateway_500_is_retried_then_abandoned(make_courier: Any, sms_config: Any, gateway: Any) -> None:
    gateway.status = 500
    courier = await make_courier(sms_config({"url": gateway.url}, message_retries=2), PLUGINS)
    message_id = await queue_sms(courier)
    outcomes = await courier.drain(include_retries=True)
    assert [o.status for o in outcomes] == ["queued", "queued", "abandoned"]
    assert await state(courier, message_id) == ("abandoned", 3, ["failed"] * 3)
    assert len(gateway.received) == 3
    latest = (await store.list_dispatches(courier.app.db, message_id))[0]
    assert latest.error["status_code"] == 500 and latest.error["message"] == "the gateway answered HTTP 500"


async def test_gateway_recovers_before_retries_run_out(make_courier: Any, sms_config: Any, gateway: Any) -> None:
    gateway.status = 503
    courier = await make_courier(sms_config({"url": gateway.url}), PLUGINS)
    message_id = await queue_sms(courier)
    await courier.drain()
    gateway.status = 202
    await courier.drain(include_retries=True)
    assert await state(courier, message_id) == ("sent", 2, ["success", "failed"])


async def test_slow_gateway_times_out(make_courier: Any, sms_config: Any, gateway: Any) -> None:
    gateway.delay = 1.5
    courier = await make_courier(sms_config({"url": gateway.url}), [_ShortTimeout()])
    message_id = await queue_sms(courier)
    await courier.drain()
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert dispatch.status == "failed" and "did not answer within 0.3 s" in dispatch.error["message"]


async def test_unreachable_gateway_is_a_failed_attempt(make_courier: Any, sms_config: Any) -> None:
    courier = await make_courier(sms_config({"url": "http://127.0.0.1:9/"}), PLUGINS)
    message_id = await queue_sms(courier)
    await courier.drain()
    status, count, dispatches = await state(courier, message_id)
    assert (status, count, dispatches) == ("queued", 1, ["failed"])


async def test_without_an_sms_channel_every_sms_fails(make_courier: Any, sms_config: Any) -> None:
    courier = await make_courier(sms_config(), PLUGINS)
    message_id = await queue_sms(courier)
    await courier.drain()
    (dispatch,) = await store.list_dispatches(courier.app.db, message_id)
    assert 'no courier.channels entry has the id "sms"' in dispatch.error["message"]


# -- start-up checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_config", "courier_section", "error"),
    [
        ({"url": "http://x.example.org", "body": b64("function(ctx) { to: ctx.recipient ")}, {}, "courier.channels.0.request_config.body"),
        ({"url": "http://x.example.org", "body": b64("function(ctx) error 'nope'")}, {}, "nope"),
        ({"url": "http://x.example.org", "verb": "POST"}, {}, "verb"),
        ({"url": "ftp://x.example.org"}, {}, "courier.channels.0.request_config.url"),
        ({"url": "http://x.example.org", "auth": {"type": "api_key", "config": {"name": "k"}}}, {}, "auth.config"),
        (None, {"delivery_strategy": "http"}, "courier.http.request_config"),
    ],
)
async def test_bad_request_config_fails_at_start(
    factory: Any, sms_config: Any, request_config: Any, courier_section: dict[str, Any], error: str
) -> None:
    app = await factory(sms_config(request_config, **courier_section), plugins=PLUGINS)
    with pytest.raises(ConfigError, match=error.replace(".", r"\.")):
        Courier(app).validate()
