"""UI nodes and their attributes, serialised exactly as Kratos does (kratos-behaviour.md section 2.2).

Wire rules encoded here (UIs and the official SDKs depend on them):

* ``attributes.node_type`` always repeats the node's ``type`` (it is the msgspec tag field);
* node ``messages`` is always a list and ``meta`` always an object;
* input ``disabled`` is always present; ``value`` is omitted only when ``None`` (``""`` is kept);
  ``required``, ``autocomplete``, ``label``, ``pattern``, ``onclick*``, ``onload*``,
  ``maxlength`` and ``options`` are omitted when empty.

``msgspec.json.encode(node)`` gives the wire JSON and ``msgspec.convert(data, Node)`` reads it back.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

import msgspec

from kratos_core.ui.text import TextMessage

__all__ = [
    "Group",
    "GROUPS",
    "NodeType",
    "InputType",
    "Autocomplete",
    "Trigger",
    "InputOption",
    "InputAttributes",
    "TextAttributes",
    "ImageAttributes",
    "AnchorAttributes",
    "ScriptAttributes",
    "DivAttributes",
    "Attributes",
    "Meta",
    "Node",
    "group_for_credential",
    "input_node",
    "submit_node",
    "csrf_node",
    "text_node",
    "img_node",
    "anchor_node",
    "script_node",
    "script_integrity",
    "div_node",
]

# ``deviceauthn`` is deliberately absent: the SDKs reject it, so we can never emit it.
Group = Literal[
    "default",
    "password",
    "oidc",
    "profile",
    "link",
    "code",
    "totp",
    "lookup_secret",
    "webauthn",
    "passkey",
    "identifier_first",
    "captcha",
    "saml",
]
GROUPS: frozenset[str] = frozenset(Group.__args__)  # type: ignore[attr-defined]

NodeType = Literal["text", "input", "img", "a", "script", "div"]

InputType = Literal[
    "text",
    "password",
    "number",
    "checkbox",
    "hidden",
    "email",
    "tel",
    "submit",
    "button",
    "datetime-local",
    "date",
    "url",
]

# ``username`` exists in Kratos's enum but is never set and the SDKs reject it, so it is left
# out; ``""`` means "no autocomplete" and is omitted on the wire.
Autocomplete = Literal[
    "",
    "email",
    "tel",
    "url",
    "current-password",
    "new-password",
    "one-time-code",
    "username webauthn",
]
_AUTOCOMPLETE: frozenset[str] = frozenset(Autocomplete.__args__)  # type: ignore[attr-defined]

Trigger = Literal[
    "",
    "oryWebAuthnRegistration",
    "oryWebAuthnLogin",
    "oryPasskeyLogin",
    "oryPasskeyLoginAutocompleteInit",
    "oryPasskeyRegistration",
    "oryPasskeySettingsRegistration",
]

_CREDENTIAL_GROUPS: dict[str, str] = {
    "password": "password",
    "oidc": "oidc",
    "saml": "saml",
    "totp": "totp",
    "webauthn": "webauthn",
    "lookup_secret": "lookup_secret",
    "code": "code",
    "passkey": "passkey",
    "identifier_first": "identifier_first",
}


def _false() -> bool:
    # A default_factory (rather than a plain default) keeps ``omit_defaults`` from dropping the
    # field: msgspec only treats plain defaults and empty builtin collections as omittable.
    return False


def _text_type() -> str:
    # Same trick: ``type`` is required on the wire even when it is the default ``text``.
    return "text"


class InputOption(msgspec.Struct):
    """One selectable value of an input whose schema has an ``enum``: ``{"value": v}``."""

    value: Any


class InputAttributes(msgspec.Struct, tag_field="node_type", tag="input", omit_defaults=True):
    """Attributes of an ``input`` node; ``name`` is the node's id."""

    name: str
    type: InputType = msgspec.field(default_factory=_text_type)
    value: Any = None
    required: bool = False
    autocomplete: Autocomplete = ""
    label: TextMessage | None = None
    pattern: str = ""
    disabled: bool = msgspec.field(default_factory=_false)
    onclick: str = ""
    onclick_trigger: Trigger = msgspec.field(default="", name="onclickTrigger")
    onload: str = ""
    onload_trigger: Trigger = msgspec.field(default="", name="onloadTrigger")
    maxlength: int = 0
    options: list[InputOption] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # Construction does not type-check, so reject what the SDKs would reject later.
        if self.autocomplete not in _AUTOCOMPLETE:
            raise ValueError(f"unsupported autocomplete value {self.autocomplete!r}")


class TextAttributes(msgspec.Struct, tag_field="node_type", tag="text"):
    """Attributes of a ``text`` node."""

    id: str
    text: TextMessage


class ImageAttributes(msgspec.Struct, tag_field="node_type", tag="img"):
    """Attributes of an ``img`` node (e.g. the TOTP QR code as a ``data:`` URI)."""

    id: str
    src: str
    width: int
    height: int


class AnchorAttributes(msgspec.Struct, tag_field="node_type", tag="a"):
    """Attributes of an ``a`` (anchor) node."""

    id: str
    href: str
    title: TextMessage


class ScriptAttributes(msgspec.Struct, tag_field="node_type", tag="script"):
    """Attributes of a ``script`` node; every field is always sent."""

    id: str
    src: str
    integrity: str
    nonce: str
    async_: bool = msgspec.field(default=True, name="async")
    referrerpolicy: str = "no-referrer"
    crossorigin: str = "anonymous"
    type: str = "text/javascript"


class DivAttributes(msgspec.Struct, tag_field="node_type", tag="div", omit_defaults=True):
    """Attributes of a ``div`` node (a DOM hook for interactive widgets)."""

    id: str
    class_: str = msgspec.field(default="", name="class")
    data: dict[str, str] = msgspec.field(default_factory=dict)


Attributes = Union[  # noqa: UP007 - one readable list of the node kinds msgspec decodes
    InputAttributes,
    TextAttributes,
    ImageAttributes,
    AnchorAttributes,
    ScriptAttributes,
    DivAttributes,
]


class Meta(msgspec.Struct, omit_defaults=True):
    """A node's meta information: ``{}`` or ``{"label": {...}}``."""

    label: TextMessage | None = None


class Node(msgspec.Struct):
    """One UI node: ``{"type", "group", "attributes", "messages", "meta"}``."""

    type: NodeType
    group: Group
    attributes: Attributes
    messages: list[TextMessage] = msgspec.field(default_factory=list)
    meta: Meta = msgspec.field(default_factory=Meta)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"unknown node group {self.group!r}")
        tag = type(self.attributes).__struct_config__.tag
        if tag != self.type:
            raise ValueError(f"node type {self.type!r} does not match attributes {tag!r}")

    @property
    def name(self) -> str:
        """The node id UIs key on: ``attributes.name`` for inputs, ``attributes.id`` otherwise."""
        if isinstance(self.attributes, InputAttributes):
            return self.attributes.name
        return self.attributes.id

    @property
    def value(self) -> Any:
        """The input value (``None`` for non-input nodes)."""
        if isinstance(self.attributes, InputAttributes):
            return self.attributes.value
        return None


def group_for_credential(credential_type: str) -> str:
    """The node group of a credential type (everything unknown goes to ``default``)."""
    return _CREDENTIAL_GROUPS.get(credential_type, "default")


def _check_group(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(f"unknown node group {group!r}")
    return group


def _node(node_type: str, group: str, attrs: Attributes, label: TextMessage | None) -> Node:
    return Node(type=node_type, group=_check_group(group), attributes=attrs, meta=Meta(label=label))  # type: ignore[arg-type]


def _options(values: Iterable[Any] | None) -> list[InputOption]:
    return [v if isinstance(v, InputOption) else InputOption(value=v) for v in values or ()]


def input_node(
    name: str,
    type: InputType = "text",
    group: str = "default",
    *,
    value: Any = None,
    required: bool = False,
    autocomplete: str | None = None,
    label: TextMessage | None = None,
    attributes_label: TextMessage | None = None,
    pattern: str | None = None,
    disabled: bool = False,
    onclick: str | None = None,
    onclick_trigger: str | None = None,
    onload: str | None = None,
    onload_trigger: str | None = None,
    maxlength: int | None = None,
    options: Iterable[Any] | None = None,
) -> Node:
    """An ``input`` node.

    Args:
        name: The input name (the node id), e.g. ``identifier`` or ``traits.email``.
        type: The input type (``text``, ``password``, ``hidden``, ``submit`` ...).
        group: The node group.
        value: The value; ``None`` is omitted on the wire, ``""`` is kept.
        required: Whether the input is required.
        autocomplete: One of the SDK's autocomplete values (never plain ``username``).
        label: The node label (``meta.label``), what UIs show.
        attributes_label: The rarely used ``attributes.label``.
        pattern: A regular expression the value must match.
        disabled: Whether the input is disabled.
        onclick: Deprecated inline JavaScript for clicks.
        onclick_trigger: The Ory JS function to call on click.
        onload: Deprecated inline JavaScript for load.
        onload_trigger: The Ory JS function to call on load.
        maxlength: Maximum value length.
        options: Selectable values (plain values or ``InputOption``).

    Returns:
        The node.
    """
    attrs = InputAttributes(
        name=name,
        type=type,
        value=value,
        required=required,
        autocomplete=autocomplete or "",  # type: ignore[arg-type]
        label=attributes_label,
        pattern=pattern or "",
        disabled=disabled,
        onclick=onclick or "",
        onclick_trigger=onclick_trigger or "",  # type: ignore[arg-type]
        onload=onload or "",
        onload_trigger=onload_trigger or "",  # type: ignore[arg-type]
        maxlength=maxlength or 0,
        options=_options(options),
    )
    return _node("input", group, attrs, label)


def submit_node(name: str, value: Any, group: str, label: TextMessage | None = None) -> Node:
    """A submit button, e.g. ``method=password`` or ``provider=github``."""
    return input_node(name, "submit", group, value=value, label=label)


def csrf_node(value: str) -> Node:
    """The ``csrf_token`` node (default group, hidden, required) carrying a masked token."""
    return input_node("csrf_token", "hidden", "default", value=value, required=True)


def text_node(
    id: str,
    text: TextMessage,
    group: str = "default",
    label: TextMessage | None = None,
) -> Node:
    """A ``text`` node (e.g. the TOTP secret or the list of backup codes)."""
    attrs = TextAttributes(id=id, text=text)
    return _node("text", group, attrs, label)


def img_node(
    id: str,
    src: str,
    width: int,
    height: int,
    group: str = "default",
    label: TextMessage | None = None,
) -> Node:
    """An ``img`` node."""
    attrs = ImageAttributes(id=id, src=src, width=width, height=height)
    return _node("img", group, attrs, label)


def anchor_node(
    id: str,
    href: str,
    title: TextMessage,
    group: str = "default",
    label: TextMessage | None = None,
) -> Node:
    """An ``a`` node (e.g. ``continue``)."""
    attrs = AnchorAttributes(id=id, href=href, title=title)
    return _node("a", group, attrs, label)


def script_integrity(body: bytes) -> str:
    """The subresource-integrity value of a script body: ``sha512-<base64>``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode("ascii")


def script_node(
    id: str,
    src: str,
    *,
    integrity: str,
    group: str = "default",
    nonce: str | None = None,
) -> Node:
    """A ``script`` node; ``nonce`` defaults to a random UUID as in Kratos."""
    attrs = ScriptAttributes(id=id, src=src, integrity=integrity, nonce=nonce or str(uuid.uuid4()))
    return _node("script", group, attrs, None)


def div_node(
    id: str,
    group: str = "default",
    *,
    class_: str | None = None,
    data: Mapping[str, str] | None = None,
    label: TextMessage | None = None,
) -> Node:
    """A ``div`` node; ``data`` values must be strings (the SDK types them so)."""
    # The SDK types ``data`` as a string map, so values are stringified here.
    attrs = DivAttributes(id=id, class_=class_ or "", data={k: str(v) for k, v in (data or {}).items()})
    return _node("div", group, attrs, label)
