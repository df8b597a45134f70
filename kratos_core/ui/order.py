"""Node order per flow kind (kratos-behaviour.md section 2.5).

The sort is stable and keyed on, in turn:

1. the group's position in the flow kind's group order (``default`` and ``password`` share the
   ``default`` position, so ``csrf_token``, ``identifier`` and ``password`` stay together; groups
   not listed go after the listed ones);
2. the node's key position: the index of the last key in the flow's key order that prefixes the
   node name (``csrf_token`` first, then the identity schema's trait keys, then flow-specific
   names), unmatched names after all keys, and nodes named ``method`` (the submit buttons) last;
3. the node's value as a string, so ties such as several ``provider`` buttons are deterministic.

Recovery and verification keep insertion order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from kratos_core.ui.nodes import Node

__all__ = [
    "SortKind",
    "LOGIN_GROUPS",
    "REGISTRATION_GROUPS",
    "SETTINGS_GROUPS",
    "LOGIN_KEYS",
    "SETTINGS_APPENDED_KEYS",
    "sort_nodes",
]

SortKind = Literal["login", "registration", "settings", "recovery", "verification"]

LOGIN_GROUPS: tuple[str, ...] = (
    "oidc",
    "default",
    "webauthn",
    "passkey",
    "code",
    "password",
    "totp",
    "lookup_secret",
)
REGISTRATION_GROUPS: tuple[str, ...] = (
    "oidc",
    "saml",
    "default",
    "webauthn",
    "passkey",
    "code",
    "password",
    "captcha",
    "profile",
)
SETTINGS_GROUPS: tuple[str, ...] = (
    "default",
    "profile",
    "password",
    "oidc",
    "lookup_secret",
    "webauthn",
    "passkey",
    "totp",
)

LOGIN_KEYS: tuple[str, ...] = ("csrf_token", "identifier", "password")
SETTINGS_APPENDED_KEYS: tuple[str, ...] = (
    "lookup_secret_reveal",
    "lookup_secret_regenerate",
    "lookup_secret_codes",
    "lookup_secret_confirm",
    "webauthn_remove",
    "webauthn_register_displayname",
    "webauthn_register",
    "passkey_remove",
    "passkey_register",
    "totp_qr",
    "totp_secret_key",
    "totp_unlink",
    "totp_code",
)

_UNSORTED = frozenset({"recovery", "verification"})


def sort_nodes(nodes: Iterable[Node], kind: str, *, trait_order: Sequence[str] = ()) -> list[Node]:
    """Return ``nodes`` in the order Kratos renders them for a flow kind.

    Args:
        nodes: The nodes to sort (not modified).
        kind: ``login``, ``registration``, ``settings``, ``recovery`` or ``verification``.
        trait_order: The identity schema's trait names in schema key order, dotted, with or
            without the ``traits.`` prefix (see ``kratos_core.ui.traits.trait_names``).

    Returns:
        A new, sorted list.

    Raises:
        ValueError: Unknown ``kind``.
    """
    nodes = list(nodes)
    if kind in _UNSORTED:
        return nodes
    groups, keys = _plan(kind, _trait_keys(trait_order))
    return sorted(nodes, key=lambda node: _sort_key(node, groups, keys))


def _plan(kind: str, traits: list[str]) -> tuple[Sequence[str], list[str]]:
    if kind == "login":
        return LOGIN_GROUPS, list(LOGIN_KEYS)
    if kind == "registration":
        return REGISTRATION_GROUPS, ["csrf_token", *traits]
    if kind == "settings":
        return SETTINGS_GROUPS, ["csrf_token", *traits, *SETTINGS_APPENDED_KEYS]
    raise ValueError(f"unknown flow kind {kind!r}")


def _trait_keys(trait_order: Sequence[str]) -> list[str]:
    return [name if name.startswith("traits.") else f"traits.{name}" for name in trait_order]


def _sort_key(node: Node, groups: Sequence[str], keys: list[str]) -> tuple[int, int, str]:
    return (_group_position(node.group, groups), _key_position(node.name, keys), _value_text(node.value))


def _group_position(group: str, groups: Sequence[str]) -> int:
    # Password nodes belong with the identifier they authenticate, so they share default's slot.
    if group == "password" and "default" in groups:
        group = "default"
    try:
        return groups.index(group)
    except ValueError:
        return len(groups)


def _key_position(name: str, keys: list[str]) -> int:
    if name == "method":
        return len(keys) + 1
    position = len(keys)
    for index, key in enumerate(keys):
        if _prefixes(key, name):
            position = index
    return position


def _prefixes(key: str, name: str) -> bool:
    # Trait keys match whole path segments only, so ``traits.email`` does not claim
    # ``traits.emails``; flow keys match plain prefixes, so ``webauthn_register`` also places
    # ``webauthn_register_trigger`` (as in Kratos).
    if key.startswith("traits."):
        return name == key or name.startswith(key + ".")
    return name.startswith(key)


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), default=str)
