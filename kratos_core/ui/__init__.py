"""The self-service UI model: container, nodes, node order, trait nodes and the message catalogue.

Everything a flow renders lives here (kratos-behaviour.md section 2). Named message constructors
are in :mod:`kratos_core.ui.messages` (re-exported as ``messages``).
"""

from __future__ import annotations

from kratos_core.ui import messages
from kratos_core.ui.container import Container, Issue, IssueLike, pointer_to_name
from kratos_core.ui.messages import MESSAGES, MessageSpec, message
from kratos_core.ui.nodes import (
    GROUPS,
    AnchorAttributes,
    Attributes,
    DivAttributes,
    Group,
    ImageAttributes,
    InputAttributes,
    InputOption,
    Meta,
    Node,
    ScriptAttributes,
    TextAttributes,
    anchor_node,
    csrf_node,
    div_node,
    group_for_credential,
    img_node,
    input_node,
    script_integrity,
    script_node,
    submit_node,
    text_node,
)
from kratos_core.ui.order import sort_nodes
from kratos_core.ui.text import MessageType, TextMessage
from kratos_core.ui.traits import (
    flatten,
    identifier_label,
    trait_fields,
    trait_names,
    trait_nodes,
    unflatten,
)

__all__ = [
    "messages",
    "MESSAGES",
    "MessageSpec",
    "message",
    "MessageType",
    "TextMessage",
    "Container",
    "Issue",
    "IssueLike",
    "pointer_to_name",
    "GROUPS",
    "Group",
    "Node",
    "Meta",
    "Attributes",
    "InputAttributes",
    "InputOption",
    "TextAttributes",
    "ImageAttributes",
    "AnchorAttributes",
    "ScriptAttributes",
    "DivAttributes",
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
    "sort_nodes",
    "trait_nodes",
    "trait_fields",
    "trait_names",
    "identifier_label",
    "flatten",
    "unflatten",
]
