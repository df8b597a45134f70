"""The UI container every self-service flow carries as ``ui`` (kratos-behaviour.md section 2.1).

Serialises to ``{"action", "method", "nodes", "messages"?}`` with flow-level ``messages``
omitted when empty. ``msgspec.json.encode(container)`` gives the wire JSON; ``to_dict`` /
``from_dict`` round-trip it for persistence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from kratos_core.ui.nodes import InputAttributes, Node, input_node
from kratos_core.ui.order import sort_nodes
from kratos_core.ui.text import TextMessage
from kratos_core.ui.traits import flatten

__all__ = ["Container", "Issue", "IssueLike", "pointer_to_name"]

# Inputs whose value is owned by the server, never by what the client submitted.
_NEVER_FILLED_TYPES = frozenset({"submit", "button"})


def _post() -> str:
    # A default_factory keeps ``omit_defaults`` from dropping ``method`` when it is "POST".
    return "POST"


def _node_list() -> list[Node]:
    # Not the builtin ``list``: msgspec would treat an empty ``nodes`` as default and omit it,
    # but the SDKs require the key.
    return []


class IssueLike(Protocol):
    """Anything with a JSON ``pointer`` and a ``message`` (e.g. a schema validation error)."""

    pointer: str
    message: TextMessage


class Issue(msgspec.Struct, frozen=True):
    """A validation issue: where (a JSON pointer like ``#/traits/email``) and what."""

    pointer: str
    message: TextMessage


def pointer_to_name(pointer: str) -> str:
    """Convert a JSON pointer to a node name: ``#/traits/email`` -> ``traits.email``.

    ``#/``, ``#``, ``/`` and ``""`` give ``""`` (the flow itself).
    """
    path = pointer[1:] if pointer.startswith("#") else pointer
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/") if p]
    return ".".join(parts)


class Container(msgspec.Struct, omit_defaults=True):
    """A form: where to submit (``action``, ``method``), its ``nodes`` and flow-level ``messages``."""

    action: str
    method: str = msgspec.field(default_factory=_post)
    nodes: list[Node] = msgspec.field(default_factory=_node_list)
    messages: list[TextMessage] = msgspec.field(default_factory=list)

    # -- lookup and mutation -----------------------------------------------------------------

    def find(self, name: str) -> Node | None:
        """The first node with this name, or ``None``."""
        return next((n for n in self.nodes if n.name == name), None)

    def find_all(self, name: str) -> list[Node]:
        """Every node with this name (several ``method`` or ``provider`` buttons may share one)."""
        return [n for n in self.nodes if n.name == name]

    def append(self, node: Node) -> None:
        """Add a node at the end, even if one with the same name exists."""
        self.nodes.append(node)

    def upsert(self, node: Node) -> None:
        """Replace the first node with the same name, else append (as Kratos does)."""
        for index, existing in enumerate(self.nodes):
            if existing.name == node.name:
                self.nodes[index] = node
                return
        self.nodes.append(node)

    def remove(self, name: str) -> None:
        """Remove every node with this name."""
        self.nodes = [n for n in self.nodes if n.name != name]

    def set_value(self, name: str, value: Any) -> bool:
        """Set the value of the first input node with this name; ``False`` if there is none."""
        for node in self.nodes:
            if node.name == name and isinstance(node.attributes, InputAttributes):
                node.attributes.value = value
                return True
        return False

    # -- messages ----------------------------------------------------------------------------

    def reset_messages(self, *, exclude: Iterable[str] = ()) -> None:
        """Clear flow-level messages and the messages of every node not named in ``exclude``."""
        keep = set(exclude)
        self.messages = []
        for node in self.nodes:
            if node.name not in keep:
                node.messages = []

    def add_message(self, message: TextMessage) -> None:
        """Add a flow-level message (``ui.messages``)."""
        self.messages.append(message)

    def add_field_message(self, name: str, message: TextMessage, *, group: str = "default") -> None:
        """Attach a message to the first node named ``name``.

        When no such node exists a text input carrying the message is appended, so the UI still
        shows the error next to something with that name.
        """
        node = self.find(name)
        if node is None:
            node = input_node(name, "text", group)
            self.nodes.append(node)
        node.messages.append(message)

    def add_issues(self, issues: Iterable[IssueLike | Mapping[str, Any]], *, group: str = "default") -> None:
        """Route validation issues: field pointers to their node, ``#/`` or ``""`` to the flow.

        Args:
            issues: Objects or mappings with ``pointer`` and ``message``.
            group: Group of nodes created for pointers that match no node.
        """
        for issue in issues:
            pointer, message = _issue_parts(issue)
            name = pointer_to_name(pointer)
            if name:
                self.add_field_message(name, message, group=group)
            else:
                self.add_message(message)

    # -- values ------------------------------------------------------------------------------

    def fill_values(self, data: Mapping[str, Any], *, exclude_types: Sequence[str] = ("password",)) -> None:
        """Write submitted values back into matching input nodes for re-rendering.

        Nested mappings are flattened (``{"traits": {"a": {"b": 1}}}`` fills ``traits.a.b``).
        Password-type inputs (``exclude_types``) are never echoed; ``csrf_token``, submit and
        button inputs and hidden ``method`` inputs keep their server-set values.

        Args:
            data: The submitted body (form or JSON).
            exclude_types: Input types whose value must never be echoed back.
        """
        flat = flatten(data)
        skipped = set(exclude_types)
        for node in self.nodes:
            if node.name in flat and _fillable(node, skipped):
                node.attributes.value = flat[node.name]  # type: ignore[union-attr]

    # -- order -------------------------------------------------------------------------------

    def sort(self, kind: str, *, trait_order: Sequence[str] = ()) -> None:
        """Sort the nodes in place for a flow kind (see ``kratos_core.ui.order``)."""
        self.nodes = sort_nodes(self.nodes, kind, trait_order=trait_order)

    # -- persistence -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The wire JSON as builtins (what the flow engine stores)."""
        return msgspec.to_builtins(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Container:
        """Load a container stored with ``to_dict`` (or received from Kratos)."""
        return msgspec.convert(data, cls)

    def to_json(self) -> bytes:
        """The wire JSON."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> Container:
        """Load a container from its wire JSON."""
        return msgspec.json.decode(data, type=cls)


def _issue_parts(issue: IssueLike | Mapping[str, Any]) -> tuple[str, TextMessage]:
    if isinstance(issue, Mapping):
        return issue.get("pointer") or "", issue["message"]
    return issue.pointer or "", issue.message


def _fillable(node: Node, skipped_types: set[str]) -> bool:
    attrs = node.attributes
    if not isinstance(attrs, InputAttributes):
        return False
    if attrs.type in skipped_types or attrs.type in _NEVER_FILLED_TYPES:
        return False
    if node.name == "csrf_token":
        return False
    return not (node.name == "method" and attrs.type == "hidden")
