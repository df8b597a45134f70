"""The forms the code and link methods render (kratos-behaviour.md section 2.4).

Recovery and verification start with an ``email`` input and a ``method`` button; once a code is
sent they show the ``code`` input, a hidden and a visible ``method=code`` and an ``email`` button
that resends. Login and registration by code keep what was entered as hidden inputs
(``identifier``, ``traits.*``) next to the code input and a ``resend=code`` button.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kratos_core.api import CODE_LENGTH, Container, Node, TextMessage, input_node, messages, submit_node, trait_nodes

__all__ = [
    "address_form",
    "code_input",
    "challenge_code_form",
    "login_code_form",
    "registration_code_form",
    "admin_code_form",
]


def address_form(ui: Container, method_id: str, *, phone_allowed: bool = False, value: str | None = None) -> None:
    """Add the ``email`` input and the ``method`` button of a new recovery/verification flow.

    Args:
        ui: The flow's form.
        method_id: ``code`` or ``link`` (also the node group).
        phone_allowed: An SMS channel is configured: the input takes email or phone (1070018).
        value: The address to pre-fill.
    """
    if phone_allowed:
        field = input_node(
            "email", "text", method_id, value=value, required=True, label=messages.label_email_or_phone()
        )
    else:
        field = input_node("email", "email", method_id, value=value, required=True, label=messages.label_email())
    ui.upsert(field)
    ui.append(submit_node("method", method_id, method_id, messages.label_continue()))


def code_input(label: TextMessage) -> Node:
    """The six-digit ``code`` input (group ``code``)."""
    return input_node(
        "code",
        "text",
        "code",
        required=True,
        autocomplete="one-time-code",
        pattern="[0-9]+",
        maxlength=CODE_LENGTH,
        label=label,
    )


def _kept(ui: Container, names: Iterable[str]) -> list[Node]:
    wanted = set(names)
    return [n for n in ui.nodes if n.name in wanted]


def _code_buttons() -> list[Node]:
    return [
        input_node("method", "hidden", "code", value="code"),
        submit_node("method", "code", "code", messages.label_continue()),
    ]


def challenge_code_form(ui: Container, *, label: TextMessage, address: str, notice: TextMessage) -> None:
    """Recovery/verification after sending: code input, buttons, resend to ``address``."""
    nodes = _kept(ui, ["csrf_token"])
    nodes.append(code_input(label))
    nodes.extend(_code_buttons())
    nodes.append(submit_node("email", address, "code", messages.label_resend_code()))
    ui.nodes = nodes
    ui.messages = [notice]


def login_code_form(ui: Container, *, identifier: str) -> None:
    """Login after sending: the identifier kept hidden, code input, buttons, resend (1010014)."""
    nodes = _kept(ui, ["csrf_token"])
    nodes.append(input_node("identifier", "hidden", "default", value=identifier, required=True))
    nodes.append(code_input(messages.label_login_code()))
    nodes.extend(_code_buttons())
    nodes.append(submit_node("resend", "code", "code", messages.label_resend_code()))
    ui.nodes = nodes
    ui.messages = [messages.login_code_sent()]


def registration_code_form(ui: Container, *, schema_raw: Mapping[str, Any], traits: Mapping[str, Any]) -> None:
    """Registration after sending: traits kept hidden, code input, buttons, resend (1040005)."""
    nodes = _kept(ui, ["csrf_token"])
    nodes.extend(trait_nodes(schema_raw, group="default", values=traits, hidden=True))
    nodes.append(code_input(messages.label_registration_code()))
    nodes.extend(_code_buttons())
    nodes.append(submit_node("resend", "code", "code", messages.label_resend_code()))
    ui.nodes = nodes
    ui.messages = [messages.registration_code_sent()]


def admin_code_form(ui: Container) -> None:
    """The form of a recovery flow an administrator created: only the code and Submit."""
    ui.nodes = [
        code_input(messages.label_recovery_code()),
        submit_node("method", "code", "code", messages.label_submit()),
    ]
    ui.messages = []
