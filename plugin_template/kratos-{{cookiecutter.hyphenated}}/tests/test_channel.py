"""The ``{{ cookiecutter.underscored }}`` channel: what it delivers, where, and its registration."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from kratos_core.api import Message
from kratos_core.api import PluginError
from kratos_core.testing import merge

import kratos_{{ cookiecutter.underscored }}.plugin as plugin
from kratos_{{ cookiecutter.underscored }}.channel import {{ cookiecutter.class_name }}Channel, rot13
from kratos_{{ cookiecutter.underscored }}.config import {{ cookiecutter.class_name }}Config


def message(recipient: str, subject: str, body: str) -> Message:
    """A queued email message, as the courier hands it to channels."""
    now = dt.datetime.now(dt.UTC)
    return Message(
        id=uuid.uuid4(), type="email", channel="{{ cookiecutter.underscored }}", status="queued",
        recipient=recipient, subject=subject, body=body, html_body=None, template_type="stub",
        template_data={}, send_count=0, created_at=now, updated_at=now,
    )


def test_rot13_is_its_own_inverse() -> None:
    assert rot13("Hello, World 42") == "Uryyb, Jbeyq 42"
    assert rot13(rot13("Your code is 123456")) == "Your code is 123456"


async def test_send_keeps_the_rot13_body() -> None:
    channel = {{ cookiecutter.class_name }}Channel()
    await channel.send(message("jane@example.org", "Welcome", "Your code is 123456"))
    assert list(channel.sent) == [{"recipient": "jane@example.org", "subject": "Welcome", "body": "Lbhe pbqr vf 123456"}]


async def test_send_appends_to_the_outbox_file(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    channel = {{ cookiecutter.class_name }}Channel({{ cookiecutter.class_name }}Config(outbox=str(outbox)))
    await channel.send(message("a@example.org", "One", "abc"))
    await channel.send(message("b@example.org", "Two", "xyz"))
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [line["body"] for line in lines] == ["nop", "klm"]


async def test_the_outbox_keeps_only_the_newest(tmp_path: Path) -> None:
    channel = {{ cookiecutter.class_name }}Channel({{ cookiecutter.class_name }}Config(keep=2))
    for body in ("a", "b", "c"):
        await channel.send(message("x@example.org", "s", body))
    assert [m["body"] for m in channel.sent] == ["o", "p"]


async def test_the_app_registers_the_channel(kratos_app: Any) -> None:
    channel = kratos_app.plugins.channels.get("{{ cookiecutter.underscored }}")
    assert isinstance(channel, {{ cookiecutter.class_name }}Channel)
    await channel.send(message("jane@example.org", "Hi", "Hi"))
    assert channel.sent[-1]["body"] == "Uv"


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"out_box": "x"}, {{ cookiecutter.class_name }}Config)


async def test_the_courier_channels_entry_configures_the_channel(kratos_app_factory: Any, kratos_config: dict[str, Any]) -> None:
    entry = {"courier": {"channels": [{"id": "{{ cookiecutter.underscored }}", "config": {"keep": 2}}]}}
    app = await kratos_app_factory(merge(kratos_config, entry), plugins=[plugin])
    assert app.plugins.channel_configs["{{ cookiecutter.underscored }}"] == {{ cookiecutter.class_name }}Config(keep=2)
    typo = {"courier": {"channels": [{"id": "{{ cookiecutter.underscored }}", "config": {"kept": 2}}]}}
    with pytest.raises(PluginError, match=r"courier\.channels\.0\.config .*kept"):
        await kratos_app_factory(merge(kratos_config, typo), plugins=[plugin])
